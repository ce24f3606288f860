"""User classes pickled into fixtures by module and name, as a user's own nn.Module would be."""
import dataclasses
from typing import NamedTuple

import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 4)
        self.fc2 = nn.Linear(4, 3)
        self.register_buffer("running", torch.arange(3, dtype=torch.float64))
        self.register_buffer("step", torch.tensor(7))

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


class TiedNet(nn.Module):
    """An autoencoder-style module whose decoder shares the encoder's weight."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(5, 5, bias=False)
        self.decoder = nn.Linear(5, 5, bias=False)
        self.decoder.weight = self.encoder.weight


class Hyper(NamedTuple):
    epochs: int
    learning_rate: float
    name: str


@dataclasses.dataclass
class HyperData:
    batch_size: int
    dropout: float
    layers: list


@dataclasses.dataclass
class Settings:
    """Float-free hyperparameters kept as an object, not as a dict."""
    batch_size: int
    layers: list
    name: str
    shuffle: bool


class Schedule(NamedTuple):
    steps: int
    mode: str


class AttrDict(dict):
    """A dict subclass, as Lightning's AttributeDict."""


class TagList(list):
    """A list subclass."""


class Empty:
    """An object with no attributes."""


class Pair(NamedTuple):
    """A NamedTuple of tensors: pickled as its class and its arguments."""
    left: torch.Tensor
    right: torch.Tensor


class Holder:
    """A plain object whose attributes hold tensors: pickled as its class and its __dict__."""

    def __init__(self, weight):
        self.weight = weight
        self.history = [weight * 2]
        self.note = "kept"


class Masked(nn.Module):
    """A module with tensors in plain attributes, outside _parameters and _buffers."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)
        self.mask = torch.ones(2)
        self.extras = [torch.zeros(1)]


class Wrapper(nn.Module):
    """A module that holds a parameter or another Wrapper, for nesting."""


class Box:
    """A plain object holding one value, for nesting."""

    def __init__(self, content):
        self.content = content
