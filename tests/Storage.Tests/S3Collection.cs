using TorchFerry.TestSupport;

namespace TorchFerry.Storage.Tests;

/// <summary>Tests against the S3 server (and PyTorch) run one at a time, sharing one server and one oracle.</summary>
[CollectionDefinition(Name)]
public sealed class S3Collection : ICollectionFixture<S3Fixture>, ICollectionFixture<TorchFixtures>
{
    public const string Name = "s3";
}
