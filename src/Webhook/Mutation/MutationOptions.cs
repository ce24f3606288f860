namespace TorchFerry.Webhook.Mutation;

/// <summary>What the webhook injects with.</summary>
/// <param name="PrepareInputsImage">The image whose entry point is <c>torchferry</c>, run as the prepare-inputs init container.</param>
/// <param name="PrepareInputsTimeoutSeconds">How long the init container may take before passing the original inputs on.</param>
/// <param name="PrepareInputsOperatorWaitSeconds">How long it waits for the operator's variants before converting itself.</param>
internal sealed record MutationOptions(string PrepareInputsImage, int PrepareInputsTimeoutSeconds = MutationOptions.DefaultTimeoutSeconds, int PrepareInputsOperatorWaitSeconds = MutationOptions.DefaultOperatorWaitSeconds)
{
    /// <summary>How GPUs are asked for (propeller's settings).</summary>
    public GpuSettings Gpu { get; init; } = GpuSettings.Default;

    /// <summary>
    /// Where the operator lays variants (its <c>--variant-prefix</c>), handed to prepare-inputs so both
    /// look in the same place.
    /// </summary>
    public Storage.VariantLayout Variants { get; init; } = Storage.VariantLayout.Beside;

    /// <summary>The init container's CPU and memory.</summary>
    public InitResources PrepareInputsResources { get; init; } = InitResources.Default;

    public const int DefaultTimeoutSeconds = 300;

    public const int DefaultOperatorWaitSeconds = 10;
}
