namespace TorchFerry.Webhook.Mutation;

/// <summary>What the webhook injects with.</summary>
/// <param name="PrepareInputsImage">The image whose entry point is <c>torchferry</c>, run as the prepare-inputs init container.</param>
/// <param name="PrepareInputsTimeoutSeconds">How long the init container waits for variants before passing the original inputs on.</param>
internal sealed record MutationOptions(string PrepareInputsImage, int PrepareInputsTimeoutSeconds = MutationOptions.DefaultTimeoutSeconds)
{
    public const int DefaultTimeoutSeconds = 300;
}
