"""Fine-tune the infection decoder on the 50 COVID-SemiSeg doctor masks (the rest of the network frozen), scored by
5-fold cross-validation over the 50 (folds by sorted index modulo 5), then fitted on all 50 for the shipped model.
Each step mixes doctor-masked slices (weight 1) with the slice network's own training data (Inf-Net pseudo masks at
half weight, clean LUNA / thorax slices as all-zero targets), so the decoder adapts to doctor annotations without
learning to draw on clean lungs.
Usage: /usr/bin/python3 finetune_decoder.py --run /tmp/lt_runs/v2b   (reads last.pt, writes decoder_cv.json and
finetuned.pt in the run folder; evaluate.py/export.py then use finetuned.pt when it exists)
--fresh-decoder STEPS: first replace last.pt's decoder by a new one trained for STEPS steps on the training data alone
(no COVID-SemiSeg image), so that the cross-validation is clean when last.pt's decoder has already seen the 50 masks
(e.g. last.pt = shipped weights, whose backbone never saw them: only the decoder was fine-tuned on them)."""
import argparse
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

from data import build_split, cached_arrays
from evaluate import seg_scores, evidence_for, MIN_SLICE_AREA_MM2, deployed_outputs
from model import InfectionDecoder, SegSliceNet
from preprocess import CFG
from train_slice import augment, seg_loss, seg_target, to_input

FOLDS, EPOCHS, STEPS, BS = 5, 8, 12, 24
DOCTOR_PER_BATCH = 8


def finetune(net, items, hu, seg, doctor, others, seed, steps=EPOCHS * STEPS, lr=3e-4, doctor_per_batch=DOCTOR_PER_BATCH):
    """Decoder-only fine-tune; returns the decoder state_dict."""
    for p in net.parameters():
        p.requires_grad_(False)
    for p in net.decoder.parameters():
        p.requires_grad_(True)
    opt = torch.optim.AdamW(net.decoder.parameters(), lr=lr, weight_decay=1e-4)
    g = torch.Generator().manual_seed(seed)
    rng = np.random.RandomState(seed)
    lo, hi = CFG["trainCenterRange"]
    rotated = torch.tensor([it["rotated"] for it in items])
    w_item = torch.tensor([1.0 if it["source"] == "semiseg" else (it["segWeight"] if it["seg"] is not None else 0.0) for it in items])
    for _ in range(steps):
        net.eval()  # the frozen network keeps its batch-norm statistics; the decoder's own BN trains
        net.decoder.train()
        idx = np.concatenate([rng.choice(doctor, doctor_per_batch) if doctor_per_batch else np.zeros(0, int),
                              rng.choice(others, BS - doctor_per_batch)])
        s = torch.from_numpy(seg[idx]).float()
        s = torch.where(s == 255, torch.full_like(s, -1.0), s / 254.0)
        xb, sb = augment(torch.from_numpy(hu[idx]).clone(), s, rotated[idx], g)
        cen = lo + torch.rand(len(idx), generator=g) * (hi - lo)
        o = net(to_input(xb, cen))
        tgt, known = seg_target(sb)
        loss = seg_loss(o["infection_logits"], tgt, w_item[idx] * known.float())
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    return {k: v.clone() for k, v in net.decoder.state_dict().items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    ap.add_argument("--fresh-decoder", type=int, default=0, metavar="STEPS")
    a = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("LT_THREADS", "2")))
    torch.manual_seed(0)
    items = build_split()
    hu, seg, _, _, _ = cached_arrays(items)
    base = torch.load(os.path.join(a.run, "last.pt"), map_location="cpu")["state_dict"]
    ss = np.array([i for i, it in enumerate(items) if it["source"] == "semiseg"])
    others = np.array([i for i, it in enumerate(items) if it["split"] == "train" and it["seg"] is not None])
    fold = np.arange(len(ss)) % FOLDS
    net = SegSliceNet()
    if a.fresh_decoder:
        net.load_state_dict(base)
        torch.manual_seed(100)
        net.decoder = InfectionDecoder()
        net.decoder.load_state_dict(finetune(net, items, hu, seg, ss, others, seed=100, steps=a.fresh_decoder, lr=1e-3, doctor_per_batch=0))
        base = {k: v.clone() for k, v in net.state_dict().items()}
        print("fresh decoder trained", flush=True)
    maps = np.zeros((len(ss), 56, 56), np.float32)
    for f in range(FOLDS):
        net.load_state_dict(base)
        net.decoder.load_state_dict(finetune(net, items, hu, seg, ss[fold != f], others, seed=f))
        maps[fold == f] = deployed_outputs(net, hu[ss[fold == f]])["infection_map"]
        print(f"fold {f} done", flush=True)
    cv, _ = seg_scores(items, ss, maps)
    ev = evidence_for(items, ss, maps)
    cv["calledInfected(area>=%g mm2)" % MIN_SLICE_AREA_MM2] = round(float(np.mean([e["infectedPixels"] * e["pixelMm2"] >= MIN_SLICE_AREA_MM2 for e in ev])), 4)
    cv.update({"freshDecoderSteps": a.fresh_decoder} if a.fresh_decoder else {})
    cv.update({"folds": FOLDS, "by": "sorted index modulo 5", "epochs": EPOCHS, "stepsPerEpoch": STEPS, "batch": BS, "doctorPerBatch": DOCTOR_PER_BATCH})
    net.load_state_dict(base)
    net.decoder.load_state_dict(finetune(net, items, hu, seg, ss, others, seed=FOLDS))
    torch.save({"state_dict": net.state_dict(), "epoch": torch.load(os.path.join(a.run, "last.pt"), map_location="cpu")["epoch"],
                "decoderFinetunedOn": "COVID-SemiSeg 50 doctor masks"}, os.path.join(a.run, "finetuned.pt"))
    with open(os.path.join(a.run, "decoder_cv.json"), "w") as fh:
        json.dump(cv, fh, indent=1)
    print(json.dumps(cv))


if __name__ == "__main__":
    main()
