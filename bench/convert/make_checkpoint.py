"""Writes a flytekit-style checkpoint of about SIZE_MIB MiB, saved as a GPU task saves it (cuda:0).

    make_checkpoint.py PATH SIZE_MIB
"""
import sys

import torch

torch.serialization.register_package(0, lambda obj: ("cuda:0 ")[:-1], lambda obj, location: None)

path, size_mib = sys.argv[1], int(sys.argv[2])
torch.manual_seed(0)
layer_mib = 64
module, exp_avg = {}, {}
for i in range(size_mib // layer_mib // 2):
    # 64 MiB weights plus an Adam moment of the same size per layer.
    module["layers.%d.weight" % i] = torch.randn(4096, 4096)
    exp_avg[i] = {"step": torch.tensor(10.0), "exp_avg": torch.randn(4096, 4096)}
checkpoint = {
    "module_state_dict": module,
    "optimizer_state_dict": {"state": exp_avg, "param_groups": [{"lr": 1e-3, "params": list(exp_avg)}]},
    "epochs": 10,
}
torch.save(checkpoint, path)
