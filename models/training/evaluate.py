"""Models 2.0 evaluation, every figure per source and on data the model never trained on:
UCSD official test (AUC, sensitivity/specificity at the val-chosen threshold, bootstrap CIs), real-CT slices
(Inf-Net hold-out volumes vs LUNA hold-out series + the thorax series' superior half), the 50 COVID-SemiSeg doctor
masks (never trained on: share called positive, Dice, pointing game, energy in mask), the patient-level rule on
volume bags (leave-one-bag-out choice of the operating point), the whole thorax DICOM series, figures.
Usage: /usr/bin/python3 evaluate.py --run /tmp/lt_runs/v2b [--figures ../figures]   (writes results/metrics.json)"""
import argparse
import json
import os

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score, roc_curve

from data import build_split, cached_arrays, padded
from evidence import slice_evidence
from model import INFERENCE_FLIP, SegSliceNet, SegSliceNetExport
from preprocess import CFG, crop_box, lung_mask, resize_bilinear

HERE = os.path.dirname(os.path.abspath(__file__))
# A slice counts as infected from this infected area (mm²; figure images: pixels at an assumed 0.7 mm spacing).
MIN_SLICE_AREA_MM2 = 100.0
FIGURE_PIXEL_MM2 = 0.49


def checkpoint(run):
    """The run's model: the decoder fine-tuned on the doctor masks (finetune_decoder.py) when there is one."""
    ft = os.path.join(run, "finetuned.pt")
    return ft if os.path.exists(ft) else os.path.join(run, "last.pt")


def load_net(run):
    net = SegSliceNet()
    net.load_state_dict(torch.load(checkpoint(run), map_location="cpu")["state_dict"])
    return net.eval()


@torch.no_grad()
def deployed_outputs(net, hu, bs=24):
    """What the worker computes per slice: the export wrapper on each inference window, averaged."""
    ex = SegSliceNetExport(net).eval()
    acc = {k: [] for k in ("lesion_prob", "class_probs", "lesion_types", "infection_map")}
    for i in range(0, len(hu), bs):
        x = torch.from_numpy(np.ascontiguousarray(hu[i:i + bs]))
        s = [0, 0, 0, 0]
        for w in CFG["windows"]:
            v = ((x - (w["center"] - w["width"] / 2)) / w["width"]).clamp(0, 1) * 2 - 1
            o = ex(v.unsqueeze(1).expand(-1, 3, -1, -1).contiguous())
            s = [a + b for a, b in zip(s, o[:4])]
        for k, v in zip(acc, s):
            acc[k].append((v / len(CFG["windows"])).numpy())
    return {k: np.concatenate(v) for k, v in acc.items()}


def evidence_for(items, idx, maps):
    """Per item: evidence dict (pixels), using the item's full-resolution lung mask and crop box."""
    out = []
    for j, i in enumerate(idx):
        hu, _ = padded(items[i])
        lung = lung_mask(hu)
        box = crop_box(hu, lung)
        _, ev = slice_evidence(maps[j], box, lung)
        ev["pixelMm2"] = FIGURE_PIXEL_MM2 if items[i]["source"] != "thorax" else 0.9766 ** 2
        out.append(ev)
    return out


def at_threshold(y, p, t):
    pred = p >= t
    tp, fp = int((pred & (y == 1)).sum()), int((pred & (y == 0)).sum())
    fn, tn = int((~pred & (y == 1)).sum()), int((~pred & (y == 0)).sum())
    sens, spec = tp / max(tp + fn, 1), tn / max(tn + fp, 1)
    prec = tp / max(tp + fp, 1)
    return {"accuracy": (tp + tn) / len(y), "sensitivity": sens, "specificity": spec,
            "f1": 2 * prec * sens / max(prec + sens, 1e-12), "precision": prec}


def pick_threshold(y, p, min_sens=0.90):
    """Highest threshold whose sensitivity >= min_sens (best specificity under the constraint)."""
    for t in sorted(np.unique(p), reverse=True):
        if at_threshold(y, p, t)["sensitivity"] >= min_sens:
            return float(t)
    return float(p.min())


def bootstrap(y, p, t, n=1000, seed=0):
    rng = np.random.RandomState(seed)
    point = dict(auc=roc_auc_score(y, p), **at_threshold(y, p, t))
    samples = {k: [] for k in point}
    for _ in range(n):
        i = rng.randint(0, len(y), len(y))
        if len(np.unique(y[i])) < 2:
            continue
        samples["auc"].append(roc_auc_score(y[i], p[i]))
        for k, v in at_threshold(y[i], p[i], t).items():
            samples[k].append(v)
    return {k: {"value": round(float(v), 4), "ci95": [round(float(np.percentile(samples[k], 2.5)), 4),
                                                      round(float(np.percentile(samples[k], 97.5)), 4)]}
            for k, v in point.items()}


def seg_scores(items, idx, maps):
    """Dice of (p >= 0.5), pointing game and energy in mask, the 56x56 map upsampled bilinearly over its crop."""
    dice, hits, share = [], [], []
    for j, i in enumerate(idx):
        hu, gt = padded(items[i])
        box = crop_box(hu, lung_mask(hu))
        y0, y1, x0, x1 = box
        up = F.interpolate(torch.from_numpy(maps[j])[None, None].float(), size=(y1 - y0, x1 - x0), mode="bilinear",
                           align_corners=False)[0, 0].numpy()
        full = np.zeros(gt.shape)
        full[y0:y1, x0:x1] = up
        g = gt > 0.5
        pr = full >= 0.5
        dice.append(2 * (pr & g).sum() / max(pr.sum() + g.sum(), 1))
        hits.append(bool(g.ravel()[np.argmax(full)]))
        share.append(float(full[g].sum() / max(full.sum(), 1e-9)))
    return {"dice": round(float(np.mean(dice)), 4), "pointingGame": round(float(np.mean(hits)), 4),
            "energyInMask": round(float(np.mean(share)), 4), "n": len(idx)}, dice


def patient_rule(bags):
    """bags: list of (fraction, label). Operating point `present` = the midpoint between the highest negative and
    the lowest positive fraction when they separate, else the Youden-optimal cut; `indeterminate` = half of it.
    Scored leave-one-bag-out (the cut chosen without the bag it is applied to)."""
    f = np.array([b[0] for b in bags])
    y = np.array([b[1] for b in bags])

    def choose(ff, yy):
        neg, pos = ff[yy == 0], ff[yy == 1]
        if neg.max() < pos.min():
            return float((neg.max() + pos.min()) / 2)
        best, bt = -1, 0
        for t in np.unique(ff):
            j = (ff[yy == 1] >= t).mean() + (ff[yy == 0] < t).mean()
            if j > best:
                best, bt = j, float(t)
        return bt
    loo = []
    for k in range(len(bags)):
        m = np.arange(len(bags)) != k
        t = choose(f[m], y[m])
        loo.append("present" if f[k] >= t else "indeterminate" if f[k] >= t / 2 else "absent")
    t = choose(f, y)
    loo = np.array(loo)
    return t, {"leaveOneBagOut": {
        "positivesPresent": int(((loo == "present") & (y == 1)).sum()), "positivesIndeterminate": int(((loo == "indeterminate") & (y == 1)).sum()),
        "positivesAbsent": int(((loo == "absent") & (y == 1)).sum()), "negativesAbsent": int(((loo == "absent") & (y == 0)).sum()),
        "negativesIndeterminate": int(((loo == "indeterminate") & (y == 0)).sum()), "negativesPresent": int(((loo == "present") & (y == 0)).sum())},
        "auc": round(float(roc_auc_score(y, f)), 4)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    ap.add_argument("--figures", default=None)
    a = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("LT_THREADS", "2")))
    items = build_split()
    hu, _, _, _, _ = cached_arrays(items)
    net = load_net(a.run)
    ev_idx = np.array([i for i, it in enumerate(items) if it["split"] != "train" or it["source"] == "thorax"])
    cache = os.path.join(a.run, "eval_outputs.npz")
    if os.path.exists(cache) and os.path.getmtime(cache) > os.path.getmtime(checkpoint(a.run)):
        o = dict(np.load(cache))
    else:
        o = deployed_outputs(net, hu[ev_idx])
        np.savez(cache, **o)
    pos = {int(i): j for j, i in enumerate(ev_idx)}
    get = lambda k, idx: o[k][[pos[int(i)] for i in idx]]  # noqa: E731
    sel = lambda f: np.array([i for i, it in enumerate(items) if f(it)])  # noqa: E731
    res = {"run": os.path.basename(a.run), "inference": f"mean over the {len(CFG['windows'])} inference windows, flip averaging {'on' if INFERENCE_FLIP else 'off'} (as deployed)"}

    # UCSD official test, threshold chosen on val.
    va, te = sel(lambda it: it["source"] == "ucsd" and it["split"] == "val"), sel(lambda it: it["source"] == "ucsd" and it["split"] == "test")
    yv, yt = np.array([items[i]["label"] for i in va]), np.array([items[i]["label"] for i in te])
    pv, pt = get("class_probs", va)[:, 1], get("class_probs", te)[:, 1]
    t = pick_threshold(yv, pv)
    res["ucsd"] = {"threshold": {"value": round(t, 6), "chosenOn": "UCSD val", "rule": "highest threshold with val sensitivity >= 0.90"},
                   "valAuc": round(roc_auc_score(yv, pv), 4), "test": bootstrap(yt, pt, t),
                   "testLesionProbAuc": round(roc_auc_score(yt, get("lesion_prob", te)), 4)}

    # Real CT slices never trained on.
    real = sel(lambda it: it["split"] == "holdout")
    yr = np.array([items[i]["lesion"] for i in real])
    evr = evidence_for(items, real, get("infection_map", real))
    area = np.array([e["infectedPixels"] * e["pixelMm2"] for e in evr])
    lungr = np.array([e["lungPixels"] for e in evr])
    res["realCtSlices"] = {"positives": "Inf-Net hold-out volumes (slices with lesion)", "negatives": "LUNA hold-out series, thorax InstanceNumber > 70",
                           "n": {"positive": int(yr.sum()), "negative": int((yr == 0).sum())},
                           "auc": {"lesionProb": round(roc_auc_score(yr, get("lesion_prob", real)), 4),
                                   "covidProb": round(roc_auc_score(yr, get("class_probs", real)[:, 1]), 4),
                                   "infectedArea": round(roc_auc_score(yr, area), 4)},
                           "perSource": {}}
    for s in ("infnet", "luna", "thorax"):
        m = np.array([items[i]["source"] == s for i in real])
        lp = get("lesion_prob", real)[m]
        res["realCtSlices"]["perSource"][s] = {"n": int(m.sum()), "meanLesionProb": round(float(lp.mean()), 4),
                                               "calledLesion(lesionProb>=0.5)": round(float((lp >= 0.5).mean()), 4),
                                               "calledInfected(area>=%g mm2)" % MIN_SLICE_AREA_MM2: round(float((area[m] >= MIN_SLICE_AREA_MM2).mean()), 4),
                                               "noLungShare": round(float((lungr[m] == 0).mean()), 4)}

    # COVID-SemiSeg doctor masks: never trained on.
    ss = sel(lambda it: it["source"] == "semiseg")
    seg, dice = seg_scores(items, ss, get("infection_map", ss))
    evs = evidence_for(items, ss, get("infection_map", ss))
    sa = np.array([e["infectedPixels"] * e["pixelMm2"] for e in evs])
    lps = get("lesion_prob", ss)
    cv_file = os.path.join(a.run, "decoder_cv.json")
    tuned = os.path.exists(cv_file) and checkpoint(a.run).endswith("finetuned.pt")
    res["semiseg"] = {**seg, "note": ("in-sample: the shipped decoder was fine-tuned on these 50 masks; see crossValidated" if tuned else
                                      "held out entirely (no COVID-SemiSeg image in training): stricter than cross-validation"),
                      "published": {"Inf-Net": 0.682, "Semi-Inf-Net": 0.739},
                      "calledPositive": {"lesionProb>=0.5": round(float((lps >= 0.5).mean()), 4),
                                         "covidProb>=threshold": round(float((get("class_probs", ss)[:, 1] >= t).mean()), 4),
                                         "infectedArea>=%g mm2" % MIN_SLICE_AREA_MM2: round(float((sa >= MIN_SLICE_AREA_MM2).mean()), 4)}}
    if tuned:
        res["semiseg"]["crossValidated"] = json.load(open(cv_file))
    inf_ho = sel(lambda it: it["source"] == "infnet" and it["split"] == "holdout")
    res["infnetHoldoutSeg"] = seg_scores(items, inf_ho, get("infection_map", inf_ho))[0]
    res["infnetHoldoutSeg"]["note"] = "against the noisy Inf-Net pseudo masks"

    # Patient level: volume bags never trained on.
    bags, names = [], []
    groups = {}
    for j, i in enumerate(real):
        groups.setdefault(items[i]["patient"], []).append(j)
    for g, js in sorted(groups.items()):
        inf = sum(evr[j]["infectedPixels"] * evr[j]["pixelMm2"] for j in js)
        lung = sum(evr[j]["lungPixels"] * evr[j]["pixelMm2"] for j in js)
        label = int(g.startswith("infnet"))
        w = np.array([evr[j]["infectedPixels"] for j in js]) + 1e-6
        cp = float((w * get("class_probs", real[js])[:, 1]).sum() / w.sum())
        bags.append((inf / max(lung, 1.0), label))
        names.append({"bag": g if len(g) < 28 else g[:8] + "..." + g[-16:], "slices": len(js), "fraction": round(inf / max(lung, 1.0), 5),
                      "infectedMm2": round(inf, 1), "covidPatternProb": round(cp, 4), "label": label})
    thr, score = patient_rule(bags)
    res["patient"] = {"bags": "hold-out: 6 Inf-Net volumes (positive), 55 LUNA series and the thorax superior half (negative)",
                      "rule": {"present": round(thr, 5), "indeterminate": round(thr / 2, 5)}, **score,
                      "covidPatternThreshold": round(t, 6), "perBag": names}

    # The whole thorax DICOM series as one negative volume (its inferior half was trained on).
    th = sel(lambda it: it["source"] == "thorax")
    evt = evidence_for(items, th, get("infection_map", th))
    inf = sum(e["infectedPixels"] for e in evt)
    lung = sum(e["lungPixels"] for e in evt)
    has = [items[i]["index"] for i, e in zip(th, evt) if e["lungPixels"] > 0]
    gaps = [k for k in range(min(has), max(has) + 1) if k not in has] if has else []
    res["thoraxSeries"] = {"slices": len(th), "fraction": round(inf / max(lung, 1), 5), "noLungSlices": int(sum(e["lungPixels"] == 0 for e in evt)),
                           "lungInstanceRange": [min(has), max(has)] if has else None, "noLungInsideRange": gaps,
                           "lungVolumeMl": round(sum(e["lungPixels"] * e["pixelMm2"] * 2.0 for e in evt) / 1000, 1),
                           "infectedSlices": int(sum(e["infectedPixels"] * e["pixelMm2"] >= MIN_SLICE_AREA_MM2 for e in evt)),
                           "decision": "present" if inf / max(lung, 1) >= thr else "indeterminate" if inf / max(lung, 1) >= thr / 2 else "absent"}
    res["minSliceAreaMm2"] = MIN_SLICE_AREA_MM2
    with open(os.path.join(HERE, "results", "metrics.json"), "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res, indent=1))
    if a.figures:
        figures(a.figures, items, (yt, pt, t), (yr, area), ss, get("infection_map", ss), dice, names)


def figures(fdir, items, test, real, ss, maps, dice, bags):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    os.makedirs(fdir, exist_ok=True)
    fig, ax = plt.subplots(1, 3, figsize=(13, 4), dpi=80)
    y, p, t = test
    fpr, tpr, _ = roc_curve(y, p)
    ax[0].plot(fpr, tpr)
    ax[0].plot([0, 1], [0, 1], "k:")
    ax[0].set(xlabel="1 - specificity", ylabel="sensitivity", title=f"UCSD test, p(COVID) AUC={roc_auc_score(y, p):.3f}")
    yr, area = real
    fpr, tpr, _ = roc_curve(yr, area)
    ax[1].plot(fpr, tpr)
    ax[1].plot([0, 1], [0, 1], "k:")
    ax[1].set(xlabel="1 - specificity", title=f"real-CT hold-out slices, infected area AUC={roc_auc_score(yr, area):.3f}")
    fr = [b["fraction"] * 100 for b in bags]
    ax[2].bar(range(len(bags)), fr, color=["tab:red" if b["label"] else "tab:blue" for b in bags])
    ax[2].set(yscale="symlog", ylabel="infected % of lung", xlabel="hold-out bag (red: COVID-19 volume, blue: negative)",
              title="patient level: infected share per bag")
    fig.tight_layout()
    fig.savefig(os.path.join(fdir, "roc_and_bags.png"))
    plt.close(fig)
    order = list(np.argsort(dice))
    pick = order[-4:][::-1] + order[:2]
    fig, ax = plt.subplots(2, len(pick), figsize=(2.2 * len(pick), 4.6), dpi=70)
    for j, k in enumerate(pick):
        hu, gt = padded(items[ss[k]])
        box = crop_box(hu, lung_mask(hu))
        y0, y1, x0, x1 = box
        g = np.clip((hu[y0:y1, x0:x1] + 1100) / 1200, 0, 1)
        up = resize_bilinear(maps[k].astype(np.float64), y1 - y0, x1 - x0)
        ax[0, j].imshow(g, cmap="gray")
        ax[0, j].contour(gt[y0:y1, x0:x1], levels=[0.5], colors="lime", linewidths=0.7)
        ax[0, j].set_title(f"Dice {dice[k]:.2f}", fontsize=8)
        ax[1, j].imshow(g, cmap="gray")
        ax[1, j].imshow(np.ma.masked_less(up, 0.1), cmap="jet", vmin=0, vmax=1, alpha=0.5)
    ax[0, 0].set_ylabel("doctor mask", fontsize=8)
    ax[1, 0].set_ylabel("p(infection)", fontsize=8)
    for x in ax.ravel():
        x.set_xticks([]), x.set_yticks([])
    fig.tight_layout()
    fig.savefig(os.path.join(fdir, "segmentation_semiseg.png"))
    plt.close(fig)


if __name__ == "__main__":
    main()
