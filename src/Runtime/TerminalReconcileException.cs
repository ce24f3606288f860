namespace TorchFerry.Runtime;

/// <summary>
/// A reconcile failure that retrying cannot fix (a forbidden URI, an object the API server refuses):
/// the controller forgets the key instead of backing off, counts it as <c>result="terminal"</c> and
/// logs it once. The next change to the object brings it back. Like controller-runtime's
/// <c>reconcile.TerminalError</c>.
/// </summary>
public sealed class TerminalReconcileException : Exception
{
    public TerminalReconcileException(string message)
        : base(message)
    {
    }

    public TerminalReconcileException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public TerminalReconcileException()
    {
    }
}
