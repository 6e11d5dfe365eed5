"""Data lists, the exact split, labels and a preprocessed cache (outside the repo).

Sources (models 2.0): UCSD COVID-CT figure crops (official Data-split; the two non-COVID train images that are
near-copies of COVID test images left out), LUNA16 slices (LUNA + LUNA-extra, split by series), the Inf-Net pseudo
volumes (real COVID-19 CT, split by volume; lesion present where the pseudo mask is non-empty), the thorax DICOM
series (real HU; inferior half train, superior half hold-out) and the 50 COVID-SemiSeg doctor masks (never trained on
by the slice network: held out for the classifier, cross-validated for the segmentation decoder).
Labels per item: label (1 = COVID-19 / lesion-bearing), lesion (1 = infection on the slice), seg (mask path, 'zero'
for a known clean slice, None when unknown), segWeight (pseudo masks count half), types (LA-DNN, or None).
"""
import csv
import glob
import hashlib
import json
import os

import numpy as np

DATA = os.environ.get("LT_DATA", os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../shared/data"))
CACHE = os.environ.get("LT_CACHE", "/tmp/lt_cache")
CACHE_VERSION = 3  # bump when the preparation below changes
TYPES = ["GGO", "Csld", "CrPa", "AirBr", "InSepThi"]
LUNA_TRAIN_SERIES = 35
LUNA_EXTRA_TRAIN_SERIES = 110
# Dataset defect: near-copies of the COVID test images kjr-21-e24-p5-29.png / -31.png (issue 14).
UCSD_EXCLUDED = {"71%0.jpg", "71%1.jpg"}
THORAX_TRAIN_MAX_INSTANCE = 70
SEMISEG = "covid-semiseg-train/TrainingSet/LungInfection-Train/Doctor-label"
PSEUDO_WEIGHT = 0.5
MIN_LESION_SHARE = 0.001


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


def infnet_volumes():
    """Sorted volume names of the Inf-Net pseudo volumes and the hold-out ones (every third, from the third)."""
    names = sorted({os.path.basename(p).rsplit("_", 1)[0] for p in glob.glob(os.path.join(DATA, "infnet-pseudo-volumes/Imgs/*.jpg"))})
    return names, set(names[2::3])


def _item(**kw):
    base = dict(types=None, seg=None, segWeight=1.0, rotated=False)
    base.update(kw)
    return base


def build_split():
    """List of dicts: name, path, split (train / val / test / holdout / semiseg), label, lesion, source, patient,
    seg, segWeight, types, rotated (Inf-Net and COVID-SemiSeg slices lie with the spine on the left)."""
    require_data()
    types, pid = lesion_types(), patients()
    items = []
    for cls, sub, lab in (("COVID", "CT_COVID", 1), ("NonCOVID", "CT_NonCOVID", 0)):
        for part in ("train", "val", "test"):
            for n in _read_list(os.path.join(DATA, "ucsd-covid-ct/Data-split", cls, f"{part}CT_{cls}.txt")):
                if part == "train" and n in UCSD_EXCLUDED:
                    continue
                items.append(_item(name=n, path=os.path.join(DATA, "ucsd-covid-ct/Images", sub, n), split=part, label=lab,
                                   lesion=lab, source="ucsd", patient=pid.get(n, "img:" + n),
                                   types=types.get(_norm(n)) if lab == 1 else None))
    for folder, n_train in (("LUNA", LUNA_TRAIN_SERIES), ("LUNA-extra", LUNA_EXTRA_TRAIN_SERIES)):
        files = sorted(os.path.basename(p) for p in glob.glob(os.path.join(DATA, "luna-slices", folder, "*.png")))
        series = sorted({n.split(".mhd_")[0] for n in files})
        train = set(series[:n_train])
        for n in files:
            s = n.split(".mhd_")[0]
            items.append(_item(name=n, path=os.path.join(DATA, "luna-slices", folder, n), split="train" if s in train else "holdout",
                               label=0, lesion=0, source="luna", patient="luna:" + s, seg="zero"))
    vols, held = infnet_volumes()
    d = os.path.join(DATA, "infnet-pseudo-volumes")
    for p in sorted(glob.glob(os.path.join(d, "Imgs/*.jpg"))):
        n = os.path.basename(p)
        v = n.rsplit("_", 1)[0]
        gt = os.path.join(d, "GT", n[:-4] + ".png")
        from PIL import Image
        # Every pseudo mask has some pixels (the MANIFEST's 129 empty ones are not there); specks below
        # MIN_LESION_SHARE of the image are taken as noise: lesion absent, the speck stays the segmentation target.
        present = int((np.asarray(Image.open(gt).convert("L")) > 127).mean() >= MIN_LESION_SHARE)
        items.append(_item(name=n, path=p, split="holdout" if v in held else "train", label=present, lesion=present,
                           source="infnet", patient="infnet:" + v, seg=gt, segWeight=PSEUDO_WEIGHT, rotated=True,
                           index=int(n.rsplit("_", 1)[1][:-4])))
    for p in sorted(glob.glob(os.path.join(DATA, "thorax-ct-dicom/series/*.dcm"))):
        import pydicom
        inst = int(pydicom.dcmread(p, stop_before_pixels=True).InstanceNumber)
        items.append(_item(name=os.path.basename(p), path=p, split="train" if inst <= THORAX_TRAIN_MAX_INSTANCE else "holdout",
                           label=0, lesion=0, source="thorax", patient="thorax", seg="zero", index=inst))
    for p in sorted(glob.glob(os.path.join(DATA, SEMISEG, "Imgs/*.jpg"))):
        n = os.path.basename(p)
        items.append(_item(name=n, path=p, split="semiseg", label=1, lesion=1, source="semiseg", patient="semiseg:" + n,
                           seg=os.path.join(DATA, SEMISEG, "GT", n[:-4] + ".png"), rotated=True))
    return items


def write_split_json(items, path):
    out = {}
    for it in items:
        out.setdefault(it["split"], {}).setdefault(it["source"] + ("-pos" if it["label"] else "-neg"), []).append(it["name"])
    for v in out.values():
        for k in v:
            v[k].sort()
    meta = {"note": "file names only; ucsd = UCSD COVID-CT official Data-split (71%0.jpg, 71%1.jpg left out of train), "
                    f"luna = LUNA16 slices by series (LUNA first {LUNA_TRAIN_SERIES}, LUNA-extra first {LUNA_EXTRA_TRAIN_SERIES} "
                    "series by sorted uid -> train), infnet = Inf-Net pseudo volumes by volume (every third of the sorted "
                    f"names from the third -> holdout), thorax = InstanceNumber <= {THORAX_TRAIN_MAX_INSTANCE} -> train, "
                    "semiseg = the 50 COVID-SemiSeg doctor masks (never trained on by the classifier)",
            "counts": {s: {k: len(v) for k, v in d.items()} for s, d in out.items()}, "split": out}
    with open(path, "w") as f:
        json.dump(meta, f, indent=1)


def load_hu(it):
    """The item's image as (pseudo-)HU [H,W] float64, in its own orientation."""
    from preprocess import grey_to_hu, load_dicom_hu, load_figure_grey
    if it["source"] == "thorax":
        return load_dicom_hu(it["path"])
    key = it["source"] if it["source"] != "infnet" else ("radiopaedia" if "radiopaedia" in it["name"] else "coronacases")
    return grey_to_hu(load_figure_grey(it["path"]), key)


def load_mask(it, shape):
    """Infection mask [H,W] float (0/1), zeros for a known clean slice, None when unknown."""
    if it["seg"] is None:
        return None
    if it["seg"] == "zero":
        return np.zeros(shape)
    from preprocess import load_figure_grey
    return (load_figure_grey(it["seg"]) > 127).astype(np.float64)


def padded(it):
    """(pseudo-)HU image and infection mask (or None), 8-bit images padded with soft tissue (preprocess.FIGURE_PAD)."""
    from preprocess import FIGURE_PAD, FIGURE_PAD_HU
    hu = load_hu(it)
    m = load_mask(it, hu.shape)
    if it["source"] != "thorax":
        hu = np.pad(hu, FIGURE_PAD, constant_values=FIGURE_PAD_HU)
        m = None if m is None else np.pad(m, FIGURE_PAD)
    return hu, m


def _prepare(it):
    from preprocess import CFG, crop_box, lung_mask, resize_bilinear
    hu, m = padded(it)
    lung = lung_mask(hu)
    y0, y1, x0, x1 = crop_box(hu, lung)
    s = CFG["size"]
    r = resize_bilinear(hu[y0:y1, x0:x1], s, s).astype(np.float32)
    seg = np.full((s, s), 255, np.uint8) if m is None else np.round(resize_bilinear(m[y0:y1, x0:x1], s, s) * 254).astype(np.uint8)
    lg = np.round(resize_bilinear(lung[y0:y1, x0:x1].astype(np.float64), s, s) * 254).astype(np.uint8)
    return r, seg, lg, (y0, y1, x0, x1), int(lung.sum())


def cached_arrays(items):
    """Cropped+resized (pseudo-)HU [N,S,S] float32, infection target [N,S,S] uint8 (0..254 = share of mask, 255 =
    unknown), lung mask over the crop [N,S,S] uint8 (0..254), crop boxes [N,4], lung pixels [N]. Cached in /tmp."""
    from preprocess import CFG
    os.makedirs(CACHE, exist_ok=True)
    h = hashlib.sha1(json.dumps([CACHE_VERSION, CFG, [it["path"] for it in items]], sort_keys=True).encode()).hexdigest()[:12]
    key = os.path.join(CACHE, f"v2_{CFG['size']}_{h}.npz")
    if os.path.exists(key):
        z = np.load(key)
        return z["hu"], z["seg"], z["lung"], z["box"], z["lungPixels"]
    from multiprocessing import Pool
    with Pool(int(os.environ.get("LT_THREADS", "2"))) as pool:
        res = pool.map(_prepare, items, chunksize=16)
    hu = np.stack([r[0] for r in res])
    seg = np.stack([r[1] for r in res])
    lung = np.stack([r[2] for r in res])
    box = np.array([r[3] for r in res], np.int32)
    lp = np.array([r[4] for r in res], np.int64)
    np.savez(key, hu=hu, seg=seg, lung=lung, box=box, lungPixels=lp)
    return hu, seg, lung, box, lp
