namespace TorchFerry.Webhook.Mutation;

/// <summary>What the webhook injects with.</summary>
/// <param name="PrepareInputsImage">The image whose entry point is <c>torchferry</c>, run as the prepare-inputs init container.</param>
internal sealed record MutationOptions(string PrepareInputsImage);
