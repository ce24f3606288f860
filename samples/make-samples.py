"""Makes samples/checkpoint-cuda.pt: a flytekit-style PyTorchCheckpoint saved as a GPU task would
save it (every storage recorded on cuda:0), on a machine without a GPU.

    /usr/bin/python3 samples/make-samples.py
"""
import os

import torch
from torch import nn

# Torch's own cuda tagger returns a fresh 'cuda:N' string per storage; this does the same.
torch.serialization.register_package(0, lambda obj: ("cuda:0 ")[:-1], lambda obj, location: None)

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
model(torch.randn(8, 16)).sum().backward()
optimizer.step()
checkpoint = {"module_state_dict": model.state_dict(), "optimizer_state_dict": optimizer.state_dict()}
checkpoint.update({"epochs": 10, "learning_rate": 1e-3, "batch_size": 8})
torch.save(checkpoint, os.path.join(os.path.dirname(os.path.abspath(__file__)), "checkpoint-cuda.pt"))
