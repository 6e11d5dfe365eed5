"""Data lists, the exact split, labels and a preprocessed cache (outside the repo).

Split: UCSD official Data-split (train/val/test). LUNA slices: the first 35 series (sorted uid) are extra
training negatives, the other 15 series are an external-negative hold-out; never part of val/test.
Weak slice lesion label = COVID label (COVID slice -> lesion, UCSD non-COVID and LUNA -> no lesion).
LA-DNN lesion types: COVID rows with at least one flag are fully labelled (missing flag = absent);
COVID rows without any flag and all non-COVID/LUNA rows are masked out of that loss.
"""
import csv
import glob
import hashlib
import json
import os

import numpy as np

DATA = os.environ.get("LT_DATA", os.path.join(os.path.dirname(__file__), "../../../shared/data"))
CACHE = os.environ.get("LT_CACHE", "/tmp/lt_cache")
TYPES = ["GGO", "Csld", "CrPa", "AirBr", "InSepThi"]
LUNA_TRAIN_SERIES = 35


def require_data():
    if not os.path.isdir(os.path.join(DATA, "ucsd-covid-ct")):
        raise SystemExit(f"shared data not found at {DATA} (set LT_DATA); nothing to do")


def _read_list(p):
    with open(p) as f:
        return [l.strip() for l in f if l.strip()]


def _norm(n):
    n = n.lower().replace("%", "_")
    return n if "." in n[-5:] else n + ".png"


def lesion_types():
    """name -> 5-vector (float) or None (unlabelled)."""
    out = {}
    for part in ("train", "val", "test"):
        with open(os.path.join(DATA, "la-dnn-lesion-labels/data_split", f"{part}_meta.csv")) as f:
            for r in csv.DictReader(f):
                v = [1.0 if r[t].strip() else 0.0 for t in TYPES]
                out[_norm(r["imgname"])] = v if any(v) else None
    return out


def patients():
    pid = {}
    with open(os.path.join(DATA, "ucsd-covid-ct/meta/COVID-CT-MetaInfo.csv"), encoding="utf-8", errors="replace") as f:
        for r in csv.DictReader(f):
            if r.get("File name"):
                pid[r["File name"]] = "covid:" + r["Patient ID"]
    with open(os.path.join(DATA, "ucsd-covid-ct/meta/NonCOVID-CT-MetaInfo.csv"), encoding="utf-8", errors="replace") as f:
        for r in csv.DictReader(f):
            if r.get("image name"):
                pid[r["image name"]] = "noncovid:" + r["patient id"]
    return pid


def build_split():
    """List of dicts: name, path, split, label (1 = covid), source, patient, types (list or None)."""
    require_data()
    types, pid = lesion_types(), patients()
    items = []
    for cls, sub, lab in (("COVID", "CT_COVID", 1), ("NonCOVID", "CT_NonCOVID", 0)):
        for part in ("train", "val", "test"):
            for n in _read_list(os.path.join(DATA, "ucsd-covid-ct/Data-split", cls, f"{part}CT_{cls}.txt")):
                t = types.get(_norm(n)) if lab == 1 else None
                items.append(dict(name=n, path=os.path.join(DATA, "ucsd-covid-ct/Images", sub, n), split=part,
                                  label=lab, source="ucsd", patient=pid.get(n, "img:" + n), types=t))
    luna = sorted(os.path.basename(p) for p in glob.glob(os.path.join(DATA, "luna-slices/LUNA/*.png")))
    series = sorted({n.split(".mhd_")[0] for n in luna})
    train_series = set(series[:LUNA_TRAIN_SERIES])
    for n in luna:
        s = n.split(".mhd_")[0]
        items.append(dict(name=n, path=os.path.join(DATA, "luna-slices/LUNA", n),
                          split="train" if s in train_series else "luna-holdout", label=0, source="luna",
                          patient="luna:" + s, types=None))
    return items


def write_split_json(items, path):
    out = {}
    for it in items:
        out.setdefault(it["split"], {}).setdefault(it["source"] + ("-covid" if it["label"] else "-noncovid"), []).append(it["name"])
    for v in out.values():
        for k in v:
            v[k].sort()
    meta = {"note": "file names only; ucsd = UCSD COVID-CT official Data-split, luna = LUNA16 slices "
                    f"(first {LUNA_TRAIN_SERIES} series by sorted uid -> train, rest -> luna-holdout)",
            "counts": {s: {k: len(v) for k, v in d.items()} for s, d in out.items()}, "split": out}
    with open(path, "w") as f:
        json.dump(meta, f, indent=1)


def cached_arrays(items):
    """Cropped+resized pseudo-HU [N,S,S] float32 (cache in /tmp, never in the repo) and crop boxes."""
    from preprocess import CFG, crop_resize, grey_to_hu, load_figure_grey
    os.makedirs(CACHE, exist_ok=True)
    key = os.path.join(CACHE, f"hu{CFG['size']}_{hashlib.sha1(json.dumps(CFG, sort_keys=True).encode()).hexdigest()[:10]}_{len(items)}.npy")
    if os.path.exists(key):
        return np.load(key, mmap_mode=None)
    arr = np.zeros((len(items), CFG["size"], CFG["size"]), np.float32)
    for i, it in enumerate(items):
        arr[i] = crop_resize(grey_to_hu(load_figure_grey(it["path"])))[0]
    np.save(key, arr)
    return arr
