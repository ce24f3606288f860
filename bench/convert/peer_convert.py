"""What users do today: load the whole file with map_location='cpu', save it again.

    peer_convert.py SRC DST
"""
import sys

import torch

torch.save(torch.load(sys.argv[1], map_location="cpu"), sys.argv[2])
