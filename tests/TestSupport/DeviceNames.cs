using Xunit;

namespace TorchFerry.TestSupport;

/// <summary>Device names every edge must agree on (README: the device rule), for theories in every test project.</summary>
public static class DeviceNames
{
    /// <summary>Names that are devices.</summary>
    public static TheoryData<string> Accepted => new("cpu", "cuda", "cuda:0", "cuda:7", "cuda:10", "cuda:99");

    /// <summary>Names each edge refuses: a typo, a device TorchFerry does not deliver to, an index out of range, empty, the wrong case.</summary>
    public static TheoryData<string> Refused => new("gpu0", "mps", "cuda:99999", "", "CUDA:0");

    /// <summary>More refused names, for the rule itself.</summary>
    public static TheoryData<string> AlsoRefused => new("gpu", "cuda:100", "Cpu", "cuda:", "cuda:01", " cpu", "cpu ", "cuda:-1", "cuda:0,cpu");
}
