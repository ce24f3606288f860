using Xunit;

namespace TorchFerry.TestSupport;

/// <summary>Waits for something asynchronous to become true, failing the test with context after a timeout.</summary>
public static class Poll
{
    /// <summary>The first non-null answer of <paramref name="probe"/>.</summary>
    public static Task<T> UntilAsync<T>(Func<T?> probe, TimeSpan timeout, TimeSpan interval, Func<string>? context = null)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(probe);
        return UntilAsync(() => Task.FromResult(probe()), timeout, interval, context);
    }

    /// <summary>The first non-null answer of <paramref name="probe"/>, which may ask over the network.</summary>
    public static async Task<T> UntilAsync<T>(Func<Task<T?>> probe, TimeSpan timeout, TimeSpan interval, Func<string>? context = null)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(probe);
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (await probe() is { } found)
            {
                return found;
            }

            if (DateTime.UtcNow >= deadline)
            {
                Assert.Fail($"not reached within {timeout.TotalSeconds:0} s{(context is null ? string.Empty : "; " + context())}");
            }

            await Task.Delay(interval);
        }
    }

    /// <summary>Returns once <paramref name="condition"/> holds.</summary>
    public static Task UntilAsync(Func<bool> condition, TimeSpan timeout, TimeSpan interval, Func<string>? context = null)
    {
        ArgumentNullException.ThrowIfNull(condition);
        return UntilAsync(() => condition() ? string.Empty : null, timeout, interval, context);
    }
}
