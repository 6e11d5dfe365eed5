"""Train the models-2.0 slice network (classifier + infection decoder) on real CT and figure crops.
Usage (from models/training):  /usr/bin/python3 train_slice.py --out /tmp/lt_runs/v2 --epochs 12
Starts from the 1.2.0 weights (models/weights) unless --init imagenet. Every epoch draws a fixed number of slices per
source (balanced, so that "looks like a real full slice" is no cue), augments (flip, the 90-degree rotation the Inf-Net
and COVID-SemiSeg slices carry, scale/shift, grey-to-HU slope/offset jitter, random window centre) and optimises:
class CE + lesion CE + LA-DNN type BCE (where labelled) + infection BCE/soft-Dice at 56x56 (pseudo masks at half
weight; clean real slices as all-zero targets). No checkpoint selection: the last epoch is the model."""
import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from data import build_split, cached_arrays
from model import SegSliceNet
from preprocess import CFG

HERE = os.path.dirname(os.path.abspath(__file__))
PRETRAINED = os.path.join(HERE, "../../../shared/data/pretrained/mobilenet_v1_0.75_224_imagenet.pt")
INIT_1_2 = os.path.join(HERE, "../weights/slice-mlung-sys-v1.2.0.pt")
QUOTA = {"ucsd": 400, "infnet": 300, "luna": 200, "thorax": 60}
MAP = 56


def to_input(hu, centers):
    """hu [B,S,S] tensor, centers [B] -> network input [B,3,S,S] (same formula as preprocess.window)."""
    w = 1200.0
    v = ((hu - (centers.view(-1, 1, 1) - w / 2)) / w).clamp(0, 1) * 2 - 1
    return v.unsqueeze(1).expand(-1, 3, -1, -1).contiguous()


def augment(hu, seg, rotated, g):
    """Flip, rotation by 90 degrees (towards the other orientation), mild scale/shift (air / unknown outside),
    intensity jitter. hu [B,S,S] HU, seg [B,S,S] float in [0,1] or -1 unknown."""
    b = hu.shape[0]
    flip = torch.rand(b, generator=g) < 0.5
    hu = torch.where(flip.view(-1, 1, 1), hu.flip(2), hu)
    seg = torch.where(flip.view(-1, 1, 1), seg.flip(2), seg)
    rot = torch.rand(b, generator=g) < torch.where(rotated, 0.5, 0.15)
    for i in torch.nonzero(rot).flatten().tolist():
        k = 1 if rotated[i] else -1  # spine on the left -> bottom, or the other way
        hu[i] = torch.rot90(hu[i], k, (0, 1))
        seg[i] = torch.rot90(seg[i], k, (0, 1))
    s = 1 + (torch.rand(b, generator=g) - 0.5) * 0.2
    t = (torch.rand(b, 2, generator=g) - 0.5) * 0.12
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = s
    theta[:, 1, 1] = s
    theta[:, :, 2] = t
    grid = F.affine_grid(theta, (b, 1) + hu.shape[1:], align_corners=False)
    hu = F.grid_sample(hu.unsqueeze(1) + 1000, grid, align_corners=False).squeeze(1) - 1000
    known = seg >= 0
    segk = F.grid_sample(torch.where(known, seg, torch.zeros_like(seg)).unsqueeze(1), grid, align_corners=False).squeeze(1)
    seg = torch.where(known, segk, seg)
    k = 1 + (torch.rand(b, generator=g) - 0.5) * 0.3
    d = (torch.rand(b, generator=g) - 0.5) * 100
    hu = (hu + 1000) * k.view(-1, 1, 1) - 1000 + d.view(-1, 1, 1)
    return hu, seg


def seg_target(seg):
    """[B,S,S] share in [0,1] (or -1 unknown) -> target [B,56,56] and known mask [B] (whole image known or not)."""
    known = (seg[:, 0, 0] >= 0) | (seg >= 0).all(2).all(1)
    t = F.adaptive_avg_pool2d(seg.clamp(min=0).unsqueeze(1), MAP).squeeze(1)
    return t, known


def seg_loss(logits, target, weight):
    """Per-item BCE with soft targets + soft Dice on items with infection, weighted per item."""
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none").mean((1, 2))
    p = torch.sigmoid(logits)
    inter = (p * target).sum((1, 2))
    dice = 1 - (2 * inter + 1) / (p.sum((1, 2)) + target.sum((1, 2)) + 1)
    has = (target.sum((1, 2)) > 1).float()
    return ((bce * 10 + dice * has) * weight).sum() / weight.sum().clamp(min=1e-6)


@torch.no_grad()
def forward_eval(net, hu, centers=(-550.0,), bs=32):
    """Window-averaged lesion_prob, p(covid), infection map (56x56) for cached crops, no flip."""
    net.eval()
    lp, cp, im = [], [], []
    for i in range(0, len(hu), bs):
        x = torch.from_numpy(np.ascontiguousarray(hu[i:i + bs]))
        a = b = c = 0
        for ce in centers:
            o = net(to_input(x, torch.full((len(x),), float(ce))))
            a = a + torch.softmax(o["lesion_logits"], 1)[:, 1]
            b = b + torch.softmax(o["class_logits"], 1)[:, 1]
            c = c + torch.sigmoid(o["infection_logits"])
        lp.append(a / len(centers)), cp.append(b / len(centers)), im.append(c / len(centers))
    return torch.cat(lp).numpy(), torch.cat(cp).numpy(), torch.cat(im).numpy()


def quick_eval(net, items, hu, seg, box):
    """Monitoring only (no selection): UCSD val AUC, real-CT hold-out slice AUC, COVID-SemiSeg Dice."""
    sel = lambda f: np.array([i for i, it in enumerate(items) if f(it)])  # noqa: E731
    va = sel(lambda it: it["source"] == "ucsd" and it["split"] == "val")
    real = sel(lambda it: it["split"] == "holdout" and (it["source"] != "infnet" or it.get("index", 0) % 3 == 0))
    ss = sel(lambda it: it["source"] == "semiseg")
    out = {}
    _, cp, _ = forward_eval(net, hu[va])
    out["ucsdValAuc"] = round(roc_auc_score([items[i]["label"] for i in va], cp), 4)
    lp, cp, im = forward_eval(net, hu[real])
    b = box[real]
    area = im.mean((1, 2)) * (b[:, 1] - b[:, 0]) * (b[:, 3] - b[:, 2])  # infected pixels over the crop
    y = [items[i]["lesion"] for i in real]
    out["realHoldoutAuc"] = {"lesionProb": round(roc_auc_score(y, lp), 4), "covidProb": round(roc_auc_score(y, cp), 4),
                             "infectedArea": round(roc_auc_score(y, area), 4)}
    lp, cp, im = forward_eval(net, hu[ss])
    t = F.adaptive_avg_pool2d(torch.from_numpy(seg[ss] / 254.0).float().unsqueeze(1), MAP).squeeze(1).numpy() > 0.5
    pr = im > 0.5
    out["semisegDice56"] = round(float(np.mean(2 * (pr & t).sum((1, 2)) / np.maximum(pr.sum((1, 2)) + t.sum((1, 2)), 1))), 4)
    out["semisegCalledPositive"] = round(float((lp >= 0.5).mean()), 4)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--bs", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", default=INIT_1_2, help="1.2.0 state_dict (default) or 'imagenet'")
    ap.add_argument("--eval-every", type=int, default=3)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        torch.set_num_threads(int(os.environ.get("LT_THREADS", "2")))
    os.makedirs(a.out, exist_ok=True)
    items = build_split()
    hu, seg, _, box, _ = cached_arrays(items)
    y = torch.tensor([it["label"] for it in items])
    les = torch.tensor([it["lesion"] for it in items])
    types = torch.tensor([it["types"] or [0.0] * 5 for it in items])
    tmask = torch.tensor([it["types"] is not None for it in items], dtype=torch.float32)
    rotated = torch.tensor([it["rotated"] for it in items])
    segw = torch.tensor([it["segWeight"] if it["seg"] is not None else 0.0 for it in items])
    pools = {s: np.array([i for i, it in enumerate(items) if it["split"] == "train" and it["source"] == s]) for s in QUOTA}

    net = SegSliceNet()
    if a.init == "imagenet":
        net.load_backbone(PRETRAINED)
    else:
        missing, unexpected = net.load_state_dict(torch.load(a.init, map_location="cpu"), strict=False)
        assert all(k.startswith("decoder.") for k in missing) and not unexpected, (missing, unexpected)
    net.to(device)
    per_epoch = sum(QUOTA.values())
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=1e-4)
    steps = a.epochs * (per_epoch // a.bs)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=steps, pct_start=0.15)
    g = torch.Generator().manual_seed(a.seed)
    rng = np.random.RandomState(a.seed)
    lo, hi = CFG["trainCenterRange"]
    log = []
    for ep in range(a.epochs):
        net.train()
        t0, tot = time.time(), 0.0
        draw = np.concatenate([rng.choice(p, QUOTA[s], replace=len(p) < QUOTA[s]) for s, p in pools.items()])
        rng.shuffle(draw)
        for k in range(0, per_epoch // a.bs * a.bs, a.bs):
            idx = torch.from_numpy(draw[k:k + a.bs])
            s = torch.from_numpy(seg[idx.numpy()]).float()
            s = torch.where(s == 255, torch.full_like(s, -1.0), s / 254.0)
            xb, sb = augment(torch.from_numpy(hu[idx.numpy()]).clone(), s, rotated[idx], g)
            cen = lo + torch.rand(len(idx), generator=g) * (hi - lo)
            o = net(to_input(xb, cen).to(device))
            loss = F.cross_entropy(o["class_logits"], y[idx].to(device)) + F.cross_entropy(o["lesion_logits"], les[idx].to(device))
            m = tmask[idx].to(device)
            bce = F.binary_cross_entropy_with_logits(o["type_logits"], types[idx].to(device), reduction="none").mean(1)
            loss = loss + 0.5 * (bce * m).sum() / m.sum().clamp(min=1)
            tgt, known = seg_target(sb)
            loss = loss + seg_loss(o["infection_logits"], tgt.to(device), (segw[idx] * known.float()).to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item() * len(idx)
        rec = dict(epoch=ep + 1, loss=round(tot / per_epoch, 4), sec=round(time.time() - t0, 1))
        torch.save({"state_dict": net.state_dict(), "epoch": ep + 1, "args": vars(a)}, os.path.join(a.out, "last.pt"))
        if (ep + 1) % a.eval_every == 0 or ep + 1 == a.epochs:
            rec.update(quick_eval(net, items, hu, seg, box))
        log.append(rec)
        print(json.dumps(rec), flush=True)
        with open(os.path.join(a.out, "log.json"), "w") as f:
            json.dump(log, f, indent=1)


if __name__ == "__main__":
    main()
