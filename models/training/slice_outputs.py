"""Window-averaged slice outputs for every item (cached next to the checkpoint, outside the repo)."""
import os

import numpy as np
import torch

from data import build_split, cached_arrays
from model import SliceNet
from preprocess import CFG
from train_slice import augment, to_input


def load_slice(ckpt, device="cpu"):
    """The trained slice network, with the location prototype of fit_location.py when the run has one."""
    ck = torch.load(ckpt, map_location="cpu")
    a = ck["args"]
    net = SliceNet(use_lesion=not a["no_lesion"], use_coords=not a["no_coords"])
    sd = dict(ck["state_dict"])
    loc = os.path.join(os.path.dirname(ckpt), "location.pt")
    sd["location_proto"] = torch.load(loc)["proto"] if os.path.exists(loc) else torch.zeros(384)
    net.load_state_dict(sd)
    return net.to(device).eval(), ck


@torch.no_grad()
def run(net, hu, device="cpu", centers=None, aug_gen=None, bs=64, extra=()):
    """Mean over windows of lesion_prob, class_probs, lesion_types, features, lesion_map (and the extra maps named)."""
    centers = centers or [w["center"] for w in CFG["windows"]]
    acc = {k: [] for k in ("lesion_prob", "class_probs", "lesion_types", "features", "lesion_map") + tuple(extra)}
    for i in range(0, len(hu), bs):
        x = torch.from_numpy(np.ascontiguousarray(hu[i:i + bs]))
        if aug_gen is not None:
            x = augment(x, aug_gen)
        x = x.to(device)
        s = {k: 0 for k in acc}
        for c in centers:
            o = net(to_input(x, torch.full((len(x),), float(c), device=device)))
            s["lesion_prob"] += torch.softmax(o["lesion_logits"], 1)[:, 1]
            s["class_probs"] += torch.softmax(o["class_logits"], 1)
            s["lesion_types"] += torch.sigmoid(o["type_logits"])
            s["features"] += o["features"]
            for k in ("lesion_map",) + tuple(extra):
                s[k] += o[k]
        for k in acc:
            acc[k].append((s[k] / len(centers)).cpu().numpy())
    return {k: np.concatenate(v) for k, v in acc.items()}


def all_outputs(ckpt, n_aug=1):
    """Cached: plain outputs for all non-train items (zeros for train rows) + n_aug augmented (random-window) views of the train items."""
    path = os.path.join(os.path.dirname(ckpt), "outputs.npz")
    if os.path.exists(path) and os.path.getmtime(path) > os.path.getmtime(ckpt):
        return dict(np.load(path))
    items = build_split()
    hu = cached_arrays(items)
    net, _ = load_slice(ckpt)
    tr = np.array([i for i, it in enumerate(items) if it["split"] == "train"])
    ev = np.array([i for i, it in enumerate(items) if it["split"] != "train"])
    o = run(net, hu[ev])  # plain outputs of train items are never used (MIL trains on augmented views)
    out = {k: np.zeros((len(items),) + v.shape[1:], v.dtype) for k, v in o.items()}
    for k in out:
        out[k][ev] = o[k]
    g = torch.Generator().manual_seed(1)
    rng = np.random.RandomState(1)
    lo, hi = CFG["trainCenterRange"]
    for a in range(n_aug):
        o = run(net, hu[tr], centers=[float(rng.uniform(lo, hi))], aug_gen=g)
        for k in ("lesion_prob", "class_probs", "features"):
            out[f"aug{a}_{k}"] = o[k]
    out["train_idx"] = tr
    np.savez(path, **out)
    return out
