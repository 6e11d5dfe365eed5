"""Fit the location prototype of the output lesion map on the COVID-SemiSeg infection masks.

The network's own lesion map (distance of each stage-3 position to the lesion classifier's prototype) does not
localise on these masks (pointing game 0.00), although the stage-3 features do carry the location: a per-position
logistic model over the normalised features finds it. Its weight vector, normalised, is the location prototype:
the output map is the same prototype-distance map, min-max normalised, with that prototype (the logistic bias and
scale cancel in the normalisation). The network's attention and every other output are unchanged.
Scored by 5-fold cross-validation over the 50 images (folds by index), then fitted on all of them.
Usage: /usr/bin/python3 fit_location.py --run /tmp/lt_runs/clean   (writes <run>/location.pt, results/location.json)"""
import argparse
import json
import os

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression

from evaluate import score_maps, semiseg
from preprocess import CFG
from slice_outputs import load_slice, run
from train_slice import to_input

FOLDS, C = 5, 0.1


@torch.no_grad()
def position_features(net, hu):
    """Window-averaged normalised stage-3 features, one row per map position: [N, H*W, C], and the grid (H, W)."""
    acc = 0
    for c in [w["center"] for w in CFG["windows"]]:
        x = F.relu6(net.conv1_bn(net.conv1(to_input(torch.from_numpy(hu), torch.full((len(hu),), float(c))))))
        for b in net.stage3:
            x = b(x)
        acc = acc + F.normalize(x, dim=1)
    f = (acc / len(CFG["windows"])).numpy()
    n, ch, h, w = f.shape
    return f.transpose(0, 2, 3, 1).reshape(n, h * w, ch), (h, w)


def fit(x, y):
    """Unit location prototype from positions x [M, C] and labels y [M] (infection covers most of the cell)."""
    clf = LogisticRegression(C=C, max_iter=2000, class_weight="balanced").fit(x, y)
    w = torch.from_numpy(clf.coef_[0]).float()
    return w / w.norm()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    a = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("LT_THREADS", "2")))
    net, _ = load_slice(os.path.join(a.run, "best.pt"))
    net.location_proto.zero_()  # start from the classifier's map whatever an earlier fit left
    hu, boxes, masks, _ = semiseg()
    x, (h, w) = position_features(net, hu)
    cells = np.stack([F.adaptive_avg_pool2d(torch.from_numpy(m[b[0]:b[1], b[2]:b[3]].astype(np.float32))[None, None], (h, w))[0, 0].numpy()
                      for m, b in zip(masks, boxes)]).reshape(len(hu), -1) > 0.5
    folds = np.arange(len(hu)) % FOLDS
    maps = np.zeros((len(hu), h, w), np.float32)
    for f in range(FOLDS):
        tr = folds != f
        net.location_proto.copy_(fit(x[tr].reshape(-1, x.shape[2]), cells[tr].reshape(-1)))
        maps[~tr] = run(net, hu[~tr])["lesion_map"]  # the real forward path, window-averaged as in service
    hits, share = score_maps(maps, boxes, masks)
    cv = {"folds": FOLDS, "by": "image index modulo 5", "pointingGame": round(float(np.mean(hits)), 4),
          "energyInMask": round(float(np.mean(share)), 4), "n": len(hu), "C": C}
    proto = fit(x.reshape(-1, x.shape[2]), cells.reshape(-1))
    torch.save({"proto": proto, "crossValidated": cv}, os.path.join(a.run, "location.pt"))
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "location.json")
    with open(out, "w") as fh:
        json.dump({"crossValidated": cv, "cosineWithLesionPrototype": round(float(proto @ F.normalize(net.lesion_proto, dim=1)[1]), 4)}, fh, indent=1)
    print(json.dumps(cv))


if __name__ == "__main__":
    main()
