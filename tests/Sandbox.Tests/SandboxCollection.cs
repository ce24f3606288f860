namespace TorchFerry.Sandbox.Tests;

/// <summary>Sandbox tests run one at a time: each runs real processes under load on a 2-core machine.</summary>
[CollectionDefinition(Name)]
public sealed class SandboxCollection
{
    public const string Name = "sandbox";
}
