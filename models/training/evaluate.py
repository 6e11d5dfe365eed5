"""Evaluation: test-split metrics with bootstrap CIs (threshold chosen on val for sensitivity >= 0.90),
LUNA hold-out specificity, lesion-map localisation vs a CAM baseline on COVID-SemiSeg masks, the real
thorax DICOM series, figures.  Usage: /usr/bin/python3 evaluate.py --run /tmp/lt_runs/main [--figures DIR]"""
import argparse
import glob
import json
import os

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve, precision_recall_curve

from data import DATA, build_split, cached_arrays
from model import AttentionMIL, AttentionMILExport, NonParametric
from preprocess import CFG, crop_resize, grey_to_hu, load_dicom_hu, load_figure_grey
from slice_outputs import all_outputs, load_slice, run
from train_slice import to_input


def at_threshold(y, p, t):
    pred = p >= t
    tp, fp = int((pred & (y == 1)).sum()), int((pred & (y == 0)).sum())
    fn, tn = int((~pred & (y == 1)).sum()), int((~pred & (y == 0)).sum())
    sens, spec = tp / max(tp + fn, 1), tn / max(tn + fp, 1)
    prec = tp / max(tp + fp, 1)
    return {"accuracy": (tp + tn) / len(y), "sensitivity": sens, "specificity": spec,
            "f1": 2 * prec * sens / max(prec + sens, 1e-12), "precision": prec}


def pick_threshold(y, p, min_sens=0.90):
    """Highest threshold whose sensitivity >= min_sens (i.e. best specificity under the constraint)."""
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


def slice_metrics(items, out):
    y = np.array([it["label"] for it in items])
    sp = np.array([it["split"] for it in items])
    p = out["class_probs"][:, 1]
    va, te, lh = sp == "val", sp == "test", sp == "luna-holdout"
    t = pick_threshold(y[va], p[va])
    res = {"threshold": {"value": round(t, 6), "chosenOn": "validation", "rule": "highest threshold with val sensitivity >= 0.90",
                         **{k: round(v, 4) for k, v in at_threshold(y[va], p[va], t).items() if k in ("sensitivity", "specificity")}},
           "test": {"split": "UCSD official test (98 COVID / 105 non-COVID)", "bootstrap": "1000 resamples, seed 0, percentile 95% CI",
                    "windows": "mean over 3 inference windows", "atThreshold": t, **bootstrap(y[te], p[te], t),
                    "atHalf": {k: round(v, 4) for k, v in at_threshold(y[te], p[te], 0.5).items()},
                    "lesionProbAuc": round(roc_auc_score(y[te], out["lesion_prob"][te]), 4),
                    "lunaHoldoutSpecificity": {"n": int(lh.sum()), "value": round(float((p[lh] < t).mean()), 4),
                                               "meanCovidProb": round(float(p[lh].mean()), 4)},
                    "valAuc": round(roc_auc_score(y[va], p[va]), 4)}}
    # LA-DNN auxiliary labels on test COVID images (where labelled and positives exist)
    ty = {}
    lab = [i for i in np.nonzero(te)[0] if items[i]["types"] is not None]
    names = ["ggo", "consolidation", "crazy-paving", "air-bronchogram", "septal-thickening"]
    for j, n in enumerate(names):
        yy = np.array([items[i]["types"][j] for i in lab])
        if 0 < yy.sum() < len(yy):
            ty[n] = {"auc": round(roc_auc_score(yy, out["lesion_types"][lab, j]), 4), "positives": int(yy.sum()), "n": len(yy)}
    res["test"]["lesionTypeAuc"] = ty
    return res, (y[te], p[te], t)


@torch.no_grad()
def cam_maps(net, hu):
    """Plain CAM of the covid logit on the stage-4 maps (7x7), window-averaged, min-max normalised."""
    w = net.cls.weight[1] - net.cls.weight[0]
    acc = 0
    for c in [x["center"] for x in CFG["windows"]]:
        x = torch.from_numpy(hu)
        o = net(to_input(x, torch.full((len(x),), float(c))))
        acc = acc + torch.einsum("c,nchw->nhw", w, o["stage4"])
    m = acc / len(CFG["windows"])
    mn, mx = m.flatten(1).min(1)[0].view(-1, 1, 1), m.flatten(1).max(1)[0].view(-1, 1, 1)
    return ((m - mn) / (mx - mn + 1e-6)).numpy()


def semiseg():
    """The COVID-SemiSeg doctor-labelled slices: preprocessed crops (HU) [N,S,S], crop boxes, masks and greys."""
    d = os.path.join(DATA, "covid-semiseg-train/TrainingSet/LungInfection-Train/Doctor-label")
    imgs = sorted(glob.glob(os.path.join(d, "Imgs/*")))
    hus, boxes, masks, greys = [], [], [], []
    for p in imgs:
        g = load_figure_grey(p)
        r, box = crop_resize(grey_to_hu(g))
        gt = load_figure_grey(os.path.join(d, "GT", os.path.splitext(os.path.basename(p))[0] + ".png")) > 127
        hus.append(r.astype(np.float32)), boxes.append(box), masks.append(gt), greys.append(g)
    return np.stack(hus), boxes, masks, greys


def score_maps(maps, boxes, masks):
    """Per image: pointing-game hit (the map's maximum inside the mask) and the share of map energy inside the mask,
    the map upsampled bilinearly over its crop box."""
    hits, share = [], []
    for m, box, gt in zip(maps, boxes, masks):
        y0, y1, x0, x1 = box
        up = F.interpolate(torch.from_numpy(m)[None, None].float(), size=(y1 - y0, x1 - x0), mode="bilinear",
                           align_corners=False)[0, 0].numpy()
        g = gt[y0:y1, x0:x1]
        iy, ix = np.unravel_index(np.argmax(up), up.shape)
        hits.append(bool(g[iy, ix]))
        share.append(float(up[g].sum() / max(up.sum(), 1e-9)))
    return hits, share


def localisation(net, run_dir):
    hu, boxes, masks, greys = semiseg()
    o = run(net, hu, extra=("prototype_map",))
    maps = {"lesion_map": o["lesion_map"], "prototype_map": o["prototype_map"], "cam": cam_maps(net, hu)}
    res = {"n": len(hu), "source": "COVID-SemiSeg doctor-labelled training slices (all contain infection)"}
    per = {}
    for name, mm in maps.items():
        hits, share = score_maps(mm, boxes, masks)
        per[name] = (hits, share)
        res[name] = {"pointingGame": round(float(np.mean(hits)), 4), "energyInMask": round(float(np.mean(share)), 4)}
    loc = os.path.join(run_dir, "location.pt")
    if os.path.exists(loc):
        res["lesion_map"]["note"] = "in-sample: its location prototype was fitted on these 50 masks; see crossValidated"
        res["lesion_map"]["crossValidated"] = torch.load(loc)["crossValidated"]
    res["prototype_map"]["note"] = "the map of the classifier's lesion prototype (the network's attention; 1.1.0's output map)"
    res["maskShareOfCrop"] = round(float(np.mean([gt[b[0]:b[1], b[2]:b[3]].mean() for gt, b in zip(masks, boxes)])), 4)
    res["note"] = "energyInMask chance level = maskShareOfCrop (a uniform map)"
    return res, (greys, boxes, masks, maps, per)


def dicom_series(net, patient_mil, nonp, thr):
    files = sorted(glob.glob(os.path.join(DATA, "thorax-ct-dicom/series/*.dcm")))
    hus = [load_dicom_hu(f) for f in files]
    crops = [crop_resize(h) for h in hus]
    r = np.stack([c[0] for c in crops]).astype(np.float32)
    o = run(net, r)
    # the same slices as if they were 8-bit figures shown in the assumed lung window (-600/1500)
    def as_figure(h, c, w):
        g = np.clip(np.round((h - (c - w / 2)) / w * 255), 0, 255)
        return crop_resize(grey_to_hu(g))[0]
    one = [CFG["windows"][1]["center"]]  # single middle window for this comparison (CPU budget)
    p1 = run(net, r, centers=one)["class_probs"][:, 1]
    pf = run(net, np.stack([as_figure(h, -600, 1500) for h in hus]).astype(np.float32), centers=one)
    pm = run(net, np.stack([as_figure(h, -600, 1200) for h in hus]).astype(np.float32), centers=one)
    pc = o["class_probs"][:, 1]
    with torch.no_grad():
        mil = patient_mil(torch.from_numpy(o["features"]), torch.from_numpy(o["lesion_prob"]))[0]
        npp = nonp(torch.from_numpy(o["lesion_prob"]), torch.from_numpy(o["class_probs"]))
    res = {"slices": len(files), "cropFallbacks": int(sum(1 for c, h in zip(crops, hus) if c[1] == (0, h.shape[0], 0, h.shape[1]))),
           "covidProb": {"mean": float(pc.mean()), "median": float(np.median(pc)), "max": float(pc.max()),
                         "aboveThreshold": int((pc >= thr).sum())},
           "lesionProb": {"mean": float(o["lesion_prob"].mean()), "above0.5": int((o["lesion_prob"] >= 0.5).sum())},
           "patient": {"attention-mil": [float(v) for v in mil], "nonparametric": [float(v) for v in npp]},
           "figurePathEffect": {
               "note": "middle window only; same slices rendered to 8-bit with window -600/1500 (= the assumed figure mapping) or -600/1200 (mismatch), then the figure path",
               "meanAbsDiffCovidProb_matched": float(np.abs(pf["class_probs"][:, 1] - p1).mean()),
               "meanAbsDiffCovidProb_mismatched": float(np.abs(pm["class_probs"][:, 1] - p1).mean()),
               "meanCovidProb_hu_1window": float(p1.mean()),
               "meanCovidProb_matched": float(pf["class_probs"][:, 1].mean()),
               "meanCovidProb_mismatched": float(pm["class_probs"][:, 1].mean())}}
    return res, pc, o["lesion_prob"]


def figures(fdir, test, loc, dic):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    os.makedirs(fdir, exist_ok=True)
    y, p, t = test
    fpr, tpr, _ = roc_curve(y, p)
    pr, rc, _ = precision_recall_curve(y, p)
    m = at_threshold(y, p, t)
    fig, ax = plt.subplots(1, 2, figsize=(8, 4), dpi=80)
    ax[0].plot(fpr, tpr)
    ax[0].plot([1 - m["specificity"]], [m["sensitivity"]], "ro", label=f"val threshold {t:.3f}")
    ax[0].plot([0, 1], [0, 1], "k:")
    ax[0].set(xlabel="1 - specificity", ylabel="sensitivity", title=f"ROC test AUC={roc_auc_score(y, p):.3f}")
    ax[0].legend(loc="lower right")
    ax[1].plot(rc, pr)
    ax[1].set(xlabel="recall", ylabel="precision", title=f"PR test AP={average_precision_score(y, p):.3f}")
    fig.tight_layout()
    fig.savefig(os.path.join(fdir, "roc_pr_test.png"))
    plt.close(fig)
    greys, boxes, masks, maps, per = loc
    hits = per["lesion_map"][0]
    order = [i for i in range(len(hits)) if hits[i]][:4] + [i for i in range(len(hits)) if not hits[i]][:2]
    fig, ax = plt.subplots(4, len(order), figsize=(1.6 * len(order), 6.5), dpi=60)
    for j, i in enumerate(order):
        y0, y1, x0, x1 = boxes[i]
        g = greys[i][y0:y1, x0:x1]
        ax[0, j].imshow(g, cmap="gray")
        ax[0, j].contour(masks[i][y0:y1, x0:x1], levels=[0.5], colors="lime", linewidths=0.6)
        ax[0, j].set_title("hit" if hits[i] else "miss", fontsize=8)
        for r, k in ((1, "lesion_map"), (2, "prototype_map"), (3, "cam")):
            ax[r, j].imshow(g, cmap="gray")
            ax[r, j].imshow(maps[k][i], cmap="jet", alpha=0.45, extent=(0, g.shape[1], g.shape[0], 0))
    for r, k in enumerate(("slice + mask", "lesion map", "classifier proto.", "CAM")):
        ax[r, 0].set_ylabel(k, fontsize=8)
    for a in ax.ravel():
        a.set_xticks([]), a.set_yticks([])
    fig.tight_layout()
    fig.savefig(os.path.join(fdir, "lesion_maps_semiseg.png"))
    plt.close(fig)
    if dic is not None:
        pc, lp = dic
        fig, ax = plt.subplots(figsize=(7, 3), dpi=80)
        ax.plot(pc, label="p(covid)")
        ax.plot(lp, label="lesion_prob")
        ax.axhline(t, color="r", ls=":", label="threshold")
        ax.set(xlabel="slice (InstanceNumber order)", title="thorax DICOM series (lung-tumour patient)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(fdir, "dicom_series_slices.png"))
        plt.close(fig)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    ap.add_argument("--figures", default=None)
    ap.add_argument("--quick", action="store_true", help="test metrics only (ablations)")
    a = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("LT_THREADS", "2")))
    items = build_split()
    ckpt = os.path.join(a.run, "best.pt")
    if a.quick:
        net, ck = load_slice(ckpt)
        hu = cached_arrays(items)
        idx = [i for i, it in enumerate(items) if it["split"] in ("val", "test", "luna-holdout")]
        o = run(net, hu[idx])
        out = {k: np.zeros((len(items),) + v.shape[1:], v.dtype) for k, v in o.items()}
        for k in out:
            out[k][idx] = o[k]
    else:
        out = all_outputs(ckpt)
        net, ck = load_slice(ckpt)
    res, test = slice_metrics(items, out)
    res["epoch"] = ck["epoch"]
    loc = dic = None
    if not a.quick:
        res["localisation"], loc = localisation(net, a.run)
        pk = torch.load(os.path.join(a.run, "patient.pt"))
        mil = AttentionMIL()
        mil.load_state_dict(pk["state_dict"])
        mil.eval()
        res["dicomSeries"], pc, lp = dicom_series(net, AttentionMILExport(mil, pk.get("temperature", 1.0)), NonParametric(pk["alpha"]),
                                                  res["threshold"]["value"])
        dic = (pc, lp)
    with open(os.path.join(a.run, "metrics.json"), "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res, indent=1))
    if a.figures and not a.quick:
        figures(a.figures, test, loc, dic)


if __name__ == "__main__":
    main()
