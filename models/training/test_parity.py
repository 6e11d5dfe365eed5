"""Regenerate the golden vectors from the committed weights and compare with models/golden/.
Usage (from anywhere): /usr/bin/python3 models/training/test_parity.py   -> exit 0 when all match.
Needs no data set (inputs are synthetic)."""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import golden  # noqa: E402
from model import SegSliceNet, SegSliceNetExport, VolumeEvidence  # noqa: E402

MODELS = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
ATOL = 1e-4


def read(folder, name):
    hdr = json.load(open(os.path.join(folder, name + ".json")))
    buf = open(os.path.join(folder, hdr["file"]), "rb").read()
    arr = {k: np.frombuffer(buf[a["byteOffset"]:a["byteOffset"] + a["byteLength"]], dtype=np.dtype(a["dtype"]).newbyteorder("<"))
           .reshape(a["shape"]) for k, a in hdr["arrays"].items()}
    return hdr, arr


def main():
    torch.set_num_threads(2)
    man = json.load(open(os.path.join(MODELS, "manifest.json")))
    w = os.path.join(MODELS, "weights")
    net = SegSliceNet()
    net.load_state_dict(torch.load(os.path.join(w, f"slice-{man['name']}-v{man['version']}.pt")))
    sx = SegSliceNetExport(net.eval()).eval()
    fixtures = golden.all_fixtures(sx, VolumeEvidence().eval())
    tmp = os.path.join("/tmp", "lt_golden_regen")
    golden.write(fixtures, tmp)
    worst, ok = 0.0, True
    for hdr, _ in fixtures:
        h0, a0 = read(os.path.join(MODELS, "golden"), hdr["name"])
        h1, a1 = read(tmp, hdr["name"])
        if h0.get("box") != h1.get("box"):
            print(f"{hdr['name']}: box {h0.get('box')} != {h1.get('box')}")
            ok = False
        for k in a0:
            d = float(np.abs(a0[k].astype(np.float64) - a1[k].astype(np.float64)).max()) if a0[k].size else 0.0
            worst = max(worst, d)
            if d > ATOL:
                print(f"{hdr['name']}.{k}: max abs diff {d:.3g} > {ATOL}")
                ok = False
    print(("OK" if ok else "FAIL") + f" worst abs diff {worst:.3g} over {len(fixtures)} fixtures")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
