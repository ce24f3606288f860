"""Checks a converted file loads on the CPU without map_location and equals the peer's output.

    verify.py OURS PEERS
"""
import sys

import torch


def tensors(value, path=""):
    if isinstance(value, torch.Tensor):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from tensors(item, "%s.%s" % (path, key))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from tensors(item, "%s.%d" % (path, i))


ours = dict(tensors(torch.load(sys.argv[1])))
peers = dict(tensors(torch.load(sys.argv[2])))
assert ours.keys() == peers.keys(), "different tensors"
for key in ours:
    assert ours[key].device.type == "cpu", key
    assert torch.equal(ours[key], peers[key]), key
print("verified %d tensors" % len(ours))
