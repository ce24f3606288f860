"""Every dtype name and legacy storage class this torch defines, with the canonical dtype and its element size.

Prints {"dtypes": {name: [canonical, size]}, "storages": {class: [canonical, size]}, "cuda": [class, ...]}.
"""
import json

import torch
from torch._utils import _element_size


def described(dtype):
    return [str(dtype)[len("torch."):], _element_size(dtype)]


dtypes = {name: described(value) for name, value in vars(torch).items() if isinstance(value, torch.dtype)}
# torch.Storage is an old alias of FloatStorage that torch.save never writes.
storage_classes = [name for name in dir(torch) if name.endswith("Storage") and name not in ("Storage", "TypedStorage", "UntypedStorage", "_UntypedStorage", "_TypedStorage")]
storages = {name: described(getattr(torch, name).dtype) for name in storage_classes}
cuda = [name for name in dir(torch.cuda) if name.endswith("Storage") and name in storages]
print(json.dumps({"version": torch.__version__, "dtypes": dtypes, "storages": storages, "cuda": cuda}))
