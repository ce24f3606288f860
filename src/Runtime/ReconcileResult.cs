namespace TorchFerry.Runtime;

/// <summary>What a reconcile asks for next.</summary>
/// <param name="RequeueAfter">Reconcile again after this long (null: only on the next change).</param>
internal readonly record struct ReconcileResult(TimeSpan? RequeueAfter = null)
{
    public static ReconcileResult Done => default;
}
