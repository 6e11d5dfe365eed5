"""Train the MLung-Sys slice network.  Usage (from models/training):
    /usr/bin/python3 train_slice.py --out /tmp/lt_runs/main --epochs 18
Ablations: --no-lesion (no lesion head / attention), --no-coords, --no-types (no LA-DNN labels)."""
import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from data import build_split, cached_arrays
from model import SliceNet
from preprocess import CFG

PRETRAINED = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          "../../../shared/data/pretrained/mobilenet_v1_0.75_224_imagenet.pt")


def to_input(hu, centers):
    """hu [B,S,S] tensor, centers [B] -> network input [B,3,S,S] (same formula as preprocess.window)."""
    w = 1200.0
    v = ((hu - (centers.view(-1, 1, 1) - w / 2)) / w).clamp(0, 1) * 2 - 1
    return v.unsqueeze(1).expand(-1, 3, -1, -1).contiguous()


def augment(hu, g):
    """Random h-flip and mild scale/translate (air-filled border), on pseudo-HU before windowing."""
    b = hu.shape[0]
    flip = torch.rand(b, generator=g) < 0.5
    hu = torch.where(flip.view(-1, 1, 1), hu.flip(2), hu)
    s = 1 + (torch.rand(b, generator=g) - 0.5) * 0.2
    t = (torch.rand(b, 2, generator=g) - 0.5) * 0.12
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = s
    theta[:, 1, 1] = s
    theta[:, :, 2] = t
    grid = F.affine_grid(theta, (b, 1) + hu.shape[1:], align_corners=False)
    return F.grid_sample(hu.unsqueeze(1) + 1000, grid, align_corners=False).squeeze(1) - 1000


@torch.no_grad()
def predict(net, hu, device, centers=None, bs=64):
    """Window-averaged probabilities for cached HU crops."""
    net.eval()
    centers = centers or [w["center"] for w in CFG["windows"]]
    out = []
    for i in range(0, len(hu), bs):
        x = torch.from_numpy(hu[i:i + bs]).to(device)
        p = 0
        for c in centers:
            o = net(to_input(x, torch.full((len(x),), float(c), device=device)))
            p = p + torch.softmax(o["class_logits"], 1)[:, 1]
        out.append((p / len(centers)).cpu())
    return torch.cat(out).numpy()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=18)
    ap.add_argument("--bs", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-lesion", action="store_true")
    ap.add_argument("--no-coords", action="store_true")
    ap.add_argument("--no-types", action="store_true")
    ap.add_argument("--no-luna", action="store_true")
    ap.add_argument("--init", default=None, help="start from this checkpoint instead of ImageNet (stage 2)")
    ap.add_argument("--stop-after", type=int, default=None, help="stop after this many epochs of the schedule")
    ap.add_argument("--pct-start", type=float, default=0.1)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        torch.set_num_threads(int(os.environ.get("LT_THREADS", "2")))
    os.makedirs(a.out, exist_ok=True)
    items = build_split()
    hu = cached_arrays(items)
    tr = [i for i, it in enumerate(items) if it["split"] == "train" and not (a.no_luna and it["source"] == "luna")]
    va = [i for i, it in enumerate(items) if it["split"] == "val"]
    y = torch.tensor([it["label"] for it in items])
    types = torch.tensor([it["types"] or [0.0] * 5 for it in items])
    tmask = torch.tensor([it["types"] is not None for it in items], dtype=torch.float32)
    hu_t = torch.from_numpy(hu)

    net = SliceNet(use_lesion=not a.no_lesion, use_coords=not a.no_coords)
    net.load_backbone(PRETRAINED)
    if a.init:
        sd = torch.load(a.init, map_location="cpu")["state_dict"]
        sd.setdefault("location_proto", torch.zeros(384))  # checkpoints from before 1.2.0 lack it
        net.load_state_dict(sd)
    net.to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=1e-4)
    steps = a.epochs * ((len(tr) + a.bs - 1) // a.bs)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=steps, pct_start=a.pct_start)
    g = torch.Generator().manual_seed(a.seed)
    lo, hi = CFG["trainCenterRange"]
    best, log = -1, []
    for ep in range(a.stop_after or a.epochs):
        net.train()
        t0, tot = time.time(), 0.0
        perm = torch.tensor(tr)[torch.randperm(len(tr), generator=g)]
        for k in range(0, len(perm), a.bs):
            idx = perm[k:k + a.bs]
            if len(idx) < 2:
                continue
            xb = augment(hu_t[idx], g)
            cen = lo + torch.rand(len(idx), generator=g) * (hi - lo)
            x = to_input(xb, cen).to(device)
            o = net(x)
            yb = y[idx].to(device)
            loss = F.cross_entropy(o["class_logits"], yb)
            if not a.no_lesion:
                loss = loss + F.cross_entropy(o["lesion_logits"], yb)  # weak label: lesion == covid
            if not a.no_types:
                m = tmask[idx].to(device)
                bce = F.binary_cross_entropy_with_logits(o["type_logits"], types[idx].to(device), reduction="none").mean(1)
                loss = loss + 0.5 * (bce * m).sum() / m.sum().clamp(min=1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item() * len(idx)
        pv = predict(net, hu[va], device)
        auc_v = roc_auc_score(y[va].numpy(), pv)
        rec = dict(epoch=ep + 1, loss=tot / len(tr), val_auc=auc_v, sec=time.time() - t0)
        log.append(rec)
        print(json.dumps(rec), flush=True)
        if auc_v >= best:
            best = auc_v
            torch.save({"state_dict": net.state_dict(), "epoch": ep + 1, "val_auc": auc_v, "args": vars(a)},
                       os.path.join(a.out, "best.pt"))
        torch.save({"state_dict": net.state_dict(), "epoch": ep + 1, "args": vars(a)}, os.path.join(a.out, "last.pt"))
        with open(os.path.join(a.out, "log.json"), "w") as f:
            json.dump(log, f, indent=1)


if __name__ == "__main__":
    main()
