"""PyTorch side of bench/inference-throughput: the same slice network (models/training/model.py SegSliceNet with the
exported weights) on the same preprocessed tensors, same thread count, same batch size. Prints one JSON line.
Usage: /usr/bin/python3 bench/inference_pytorch.py --weights W.pt --tensor T.f32 --n N --threads 2 --batch 16"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models", "training"))
from model import SegSliceNet, SegSliceNetExport  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--tensor", required=True, help="float32 [n*windows,3,224,224], little-endian")
    ap.add_argument("--n", type=int, required=True, help="number of network inputs in the tensor file")
    ap.add_argument("--windows", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=1, help="timed passes; the fastest is reported (shared machines)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    sd = torch.load(a.weights, map_location="cpu")
    if isinstance(sd, dict) and "state_dict" in sd:
        sd = sd["state_dict"]
    net = SegSliceNet()
    net.load_state_dict(sd)
    model = SegSliceNetExport(net.eval()).eval()
    x = torch.from_numpy(np.fromfile(a.tensor, dtype="<f4").reshape(a.n, 3, 224, 224))
    with torch.no_grad():
        model(x[: a.batch])  # warm-up
        times = []
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            for i in range(0, a.n, a.batch):
                model(x[i:i + a.batch])
            times.append(time.perf_counter() - t0)
        dt = min(times)
    slices = a.n / a.windows
    print(json.dumps({"torch": torch.__version__, "threads": a.threads, "inputs": a.n, "seconds": dt, "allSeconds": times, "slicesPerSecond": slices / dt}))


if __name__ == "__main__":
    main()
