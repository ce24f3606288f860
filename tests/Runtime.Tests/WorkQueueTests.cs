using Microsoft.Extensions.Time.Testing;

namespace TorchFerry.Runtime.Tests;

public sealed class WorkQueueTests
{
    private readonly FakeTimeProvider time = new();

    [Fact]
    public async Task Add_SameKeyTwiceWhileWaiting_IsHandedOutOnce()
    {
        using var queue = WorkQueue<string>.CreateDefault(time);

        queue.Add("ns/a");
        queue.Add("ns/a");
        queue.Add("ns/b");

        Assert.Equal(2, queue.Count);
        Assert.Equal("ns/a", await queue.TakeAsync(default));
        Assert.Equal("ns/b", await queue.TakeAsync(default));
    }

    [Fact]
    public async Task Add_KeyBeingProcessed_IsNotHandedToASecondWorkerButProcessedAgainAfterDone()
    {
        using var queue = WorkQueue<string>.CreateDefault(time);
        queue.Add("ns/a");
        var first = await queue.TakeAsync(default);

        queue.Add("ns/a");
        var second = queue.TakeAsync(CancellationToken.None);
        await Task.Delay(50);
        Assert.False(second.IsCompleted, "a key being processed must not go to another worker");

        queue.Done(first!);
        Assert.Equal("ns/a", await second.WaitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task AddAfter_WaitsOnTheInjectedClock_AndTheEarlierDelayWins()
    {
        using var queue = WorkQueue<string>.CreateDefault(time);

        queue.AddAfter("ns/a", TimeSpan.FromSeconds(30));
        queue.AddAfter("ns/a", TimeSpan.FromSeconds(10));
        var take = queue.TakeAsync(CancellationToken.None);
        time.Advance(TimeSpan.FromSeconds(9));
        await Task.Delay(20);
        Assert.False(take.IsCompleted);

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal("ns/a", await take.WaitAsync(TimeSpan.FromSeconds(5)));
        queue.Done("ns/a");
        time.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(0, queue.Count);
    }

    [Fact]
    public void ExponentialBackoff_DoublesFrom5MillisecondsAndCapsAt1000Seconds()
    {
        var limiter = ExponentialFailureRateLimiter<string>.Default();

        var delays = Enumerable.Range(0, 30).Select(_ => limiter.When("k")).ToList();

        Assert.Equal(TimeSpan.FromMilliseconds(5), delays[0]);
        Assert.Equal(TimeSpan.FromMilliseconds(10), delays[1]);
        Assert.Equal(TimeSpan.FromMilliseconds(5 * 1024), delays[10]);
        Assert.Equal(TimeSpan.FromSeconds(1000), delays[^1]);
        Assert.Equal(30, limiter.Retries("k"));
        limiter.Forget("k");
        Assert.Equal(TimeSpan.FromMilliseconds(5), limiter.When("k"));
    }

    [Fact]
    public void TokenBucket_AllowsTheBurstThenPacesAtTheRate()
    {
        var bucket = new TokenBucketRateLimiter<string>(10, 100, time);

        var burst = Enumerable.Range(0, 100).Select(i => bucket.When($"k{i}")).ToList();
        var next = bucket.When("k100");
        time.Advance(TimeSpan.FromSeconds(1));
        var afterASecond = bucket.When("k101");

        Assert.All(burst, d => Assert.Equal(TimeSpan.Zero, d));
        Assert.Equal(TimeSpan.FromMilliseconds(100), next);
        Assert.Equal(TimeSpan.Zero, afterASecond);
    }

    [Fact]
    public async Task AddRateLimited_BacksOffPerKey_AndForgetResetsIt()
    {
        using var queue = WorkQueue<string>.CreateDefault(time);

        queue.AddRateLimited("ns/a");
        queue.AddRateLimited("ns/a"); // the pending 5 ms retry wins over the new 10 ms one
        var take = queue.TakeAsync(CancellationToken.None);
        time.Advance(TimeSpan.FromMilliseconds(5));
        Assert.Equal("ns/a", await take.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(2, queue.Retries("ns/a"));

        queue.Forget("ns/a");
        Assert.Equal(0, queue.Retries("ns/a"));
    }

    [Fact]
    public async Task ShutDown_ReleasesWaitingWorkers()
    {
        var queue = WorkQueue<string>.CreateDefault(time);
        var workers = Enumerable.Range(0, 3).Select(_ => queue.TakeAsync(CancellationToken.None)).ToList();

        queue.ShutDown();

        foreach (var worker in workers)
        {
            Assert.Null(await worker.WaitAsync(TimeSpan.FromSeconds(5)));
        }

        queue.Add("ignored");
        Assert.Equal(0, queue.Count);
        queue.Dispose();
    }
}
