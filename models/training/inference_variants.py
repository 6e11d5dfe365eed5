"""Accuracy of the shipped slice weights under each inference configuration (which windows, with or without the
horizontal flip), on the never-trained-on data of evaluate.py, so the speed / accuracy trade of the deployed
configuration is measured rather than assumed (issue 14 items 5 and 8). One JSON line per configuration.
Usage: /usr/bin/python3 inference_variants.py [--weights ../weights/slice-mlung-sys-vX.pt]   (~5 minutes, 2 cores)
Network passes per slice = windows x (2 with the flip, else 1); the worker's cost is proportional to them."""
import argparse
import glob
import json
import os

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from data import build_split, cached_arrays
from evaluate import at_threshold, evidence_for, pick_threshold, seg_scores
from model import SegSliceNet
from preprocess import ALL_WINDOWS

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIGS = [((0, 1, 2), True), ((0, 1, 2), False), ((0, 2), True), ((0, 2), False), ((1,), True), ((1,), False)]


@torch.no_grad()
def passes(net, hu):
    """Outputs of every (window, flip) pass: key 'lp|cp|im' + window index + flip (0/1), maps flipped back."""
    out = {}
    for wi, w in enumerate(ALL_WINDOWS):
        for fl in (0, 1):
            acc = {"lp": [], "cp": [], "im": []}
            for i in range(0, len(hu), 24):
                x = torch.from_numpy(np.ascontiguousarray(hu[i:i + 24]))
                v = ((x - (w["center"] - w["width"] / 2)) / w["width"]).clamp(0, 1) * 2 - 1
                v = v.unsqueeze(1).expand(-1, 3, -1, -1).contiguous()
                o = net(v.flip(3) if fl else v)
                m = torch.sigmoid(o["infection_logits"])
                acc["lp"].append(torch.softmax(o["lesion_logits"], 1)[:, 1].numpy())
                acc["cp"].append(torch.softmax(o["class_logits"], 1)[:, 1].numpy())
                acc["im"].append((m.flip(2) if fl else m).numpy())
            for k, a in acc.items():
                out[f"{k}{wi}{fl}"] = np.concatenate(a)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default=sorted(glob.glob(os.path.join(HERE, "../weights/slice-*.pt")))[-1])
    a = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("LT_THREADS", "2")))
    items = build_split()
    hu, _, _, _, _ = cached_arrays(items)
    net = SegSliceNet()
    net.load_state_dict(torch.load(a.weights, map_location="cpu"))
    net.eval()
    sel = lambda f: np.array([i for i, it in enumerate(items) if f(it)])  # noqa: E731
    ev = sel(lambda it: it["split"] != "train" or it["source"] == "semiseg")
    P = passes(net, hu[ev])
    pos = {int(i): j for j, i in enumerate(ev)}
    get = lambda arr, idx: arr[[pos[int(i)] for i in idx]]  # noqa: E731
    va = sel(lambda it: it["source"] == "ucsd" and it["split"] == "val")
    te = sel(lambda it: it["source"] == "ucsd" and it["split"] == "test")
    real = sel(lambda it: it["split"] == "holdout")
    ss = sel(lambda it: it["source"] == "semiseg")
    yv, yt = np.array([items[i]["label"] for i in va]), np.array([items[i]["label"] for i in te])
    yr = np.array([items[i]["lesion"] for i in real])
    for wins, flip in CONFIGS:
        mean = lambda k: np.mean([P[f"{k}{w}{f}"] for w in wins for f in ((0, 1) if flip else (0,))], 0)  # noqa: E731
        lp, cp, im = mean("lp"), mean("cp"), mean("im")
        t = pick_threshold(yv, get(cp, va))
        area = np.array([e["infectedPixels"] * e["pixelMm2"] for e in evidence_for(items, real, get(im, real))])
        print(json.dumps({"windows": [ALL_WINDOWS[w]["center"] for w in wins], "flip": flip, "passesPerSlice": len(wins) * (2 if flip else 1),
                          "ucsdTestAuc": round(roc_auc_score(yt, get(cp, te)), 4),
                          "ucsdTestSensitivityAtValThreshold": round(at_threshold(yt, get(cp, te), t)["sensitivity"], 4),
                          "realCtAuc": {"lesionProb": round(roc_auc_score(yr, get(lp, real)), 4),
                                        "covidProb": round(roc_auc_score(yr, get(cp, real)), 4),
                                        "infectedArea": round(roc_auc_score(yr, area), 4)},
                          "semisegDiceShippedDecoder": seg_scores(items, ss, get(im, ss))[0]["dice"]}), flush=True)


if __name__ == "__main__":
    main()
