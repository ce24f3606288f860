using TorchFerry.TestSupport.Cluster;

// The train → predict story on this machine (scripts/demo.sh): prints the timeline as it happens and
// exits 0 only if every step of TorchFerry's part happened (StoryCheck), 1 otherwise.
var timeline = new Timeline { Written = Console.WriteLine };
Console.WriteLine("TorchFerry sandbox: a Flyte workflow train (GPU) → predict (CPU) on s3rver, through the real webhook and operator");
using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(5));
await using var box = await ClusterInABox.StartAsync(new SandboxOptions(), timeline, cancel.Token);
var outcomes = await box.RunTrainPredictAsync(cancellationToken: cancel.Token);
var problems = StoryCheck.Problems(box, outcomes);
Console.WriteLine();
if (problems.Count == 0)
{
    Console.WriteLine("demo: OK — predict loaded train's cuda:0 checkpoint on the CPU with a plain torch.load, from the variant TorchFerry made");
    return 0;
}

foreach (var problem in problems)
{
    Console.Error.WriteLine("demo: FAILED: " + problem);
}

return 1;
