using TorchFerry.TestSupport;

namespace TorchFerry.Operator.Tests;

/// <summary>Tests that need the S3 server as well as PyTorch.</summary>
[CollectionDefinition(Name)]
public sealed class S3Collection : ICollectionFixture<S3Fixture>, ICollectionFixture<TorchFixtures>
{
    public const string Name = "s3";
}
