using TorchFerry.TestSupport;

namespace TorchFerry.Format.Tests;

/// <summary>Tests that talk to PyTorch share one oracle process.</summary>
[CollectionDefinition(Name)]
public sealed class TorchCollection : ICollectionFixture<TorchFixtures>
{
    public const string Name = "torch";
}
