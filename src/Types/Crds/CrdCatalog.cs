namespace TorchFerry.Crds;

/// <summary>How each TorchFerry resource is published: names, columns, extra rules.</summary>
public static class CrdCatalog
{
    /// <summary>Every CRD TorchFerry installs.</summary>
    public static IReadOnlyList<CrdDescription> All { get; } =
    [
        new(
            typeof(TensorArtifact),
            Plural: TensorArtifact.Plural,
            ShortNames: ["tfa"],
            Description: "A torch.Tensor or nn.Module written by a Flyte task (blob formats PyTorchTensor, PyTorchModule), or any torch.save archive in a FlyteFile (TorchFile) or FlyteDirectory (TorchDirectory), and its converted variants.",
            Columns: ArtifactColumns,
            SpecRules:
            [
                new("self.source.format in ['PyTorchTensor', 'PyTorchModule', 'TorchFile', 'TorchDirectory']", "a TensorArtifact holds PyTorchTensor, PyTorchModule, TorchFile or TorchDirectory; use a CheckpointArtifact for PyTorchCheckpoint"),
                new("(self.source.format == 'TorchDirectory') == self.source.uri.endsWith('/')", "a TorchDirectory's URI ends with '/', and only a TorchDirectory's does"),
            ]),
        new(
            typeof(CheckpointArtifact),
            Plural: CheckpointArtifact.Plural,
            ShortNames: ["tfc"],
            Description: "A flytekit PyTorchCheckpoint written by a Flyte task and its converted variants.",
            Columns: ArtifactColumns,
            SpecRules: [new("self.source.format == 'PyTorchCheckpoint'", "a CheckpointArtifact holds a PyTorchCheckpoint")]),
        new(
            typeof(DeviceProfile),
            Plural: DeviceProfile.Plural,
            ShortNames: ["tfdp"],
            Description: "Device requirements (GPUs, MIG slices, tolerations, shared memory, input device) for the Flyte task pods it selects.",
            Columns:
            [
                new("Device", "string", ".spec.device.type"),
                new("Count", "integer", ".spec.device.count"),
                new("Inputs", "string", ".spec.inputsDevice"),
                new("Priority", "integer", ".spec.priority"),
                new("Age", "date", ".metadata.creationTimestamp"),
            ],
            SpecRules: []),
    ];

    private static PrinterColumn[] ArtifactColumns =>
    [
        new("Phase", "string", ".status.phase"),
        new("Format", "string", ".spec.source.format"),
        new("Targets", "string", ".spec.targetDevices"),
        new("Size", "integer", ".status.source.size"),
        new("Source", "string", ".spec.source.uri", Priority: 1),
        new("Age", "date", ".metadata.creationTimestamp"),
    ];
}

/// <summary>One CRD: its resource type and how it is published.</summary>
public sealed record CrdDescription(Type Resource, string Plural, IReadOnlyList<string> ShortNames, string Description, IReadOnlyList<PrinterColumn> Columns, IReadOnlyList<CelRuleAttribute> SpecRules)
{
    public string Kind => Resource.Name;

    public string Singular => Kind.ToLowerInvariant();

    public string Name => $"{Plural}.{TensorArtifact.Group}";

    /// <summary>The file this CRD is committed as in config/crd (and charts/torchferry/crds).</summary>
    public string FileName => $"{TensorArtifact.Group}_{Plural}.yaml";
}

/// <summary>A column of <c>kubectl get</c>.</summary>
public sealed record PrinterColumn(string Name, string Type, string JsonPath, int Priority = 0);
