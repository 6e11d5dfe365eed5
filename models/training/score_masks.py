"""Score the shipped ONNX model's infection maps against a folder of image/mask pairs laid out like COVID-SemiSeg
(FOLDER/Imgs/<name>.<jpg|png>, FOLDER/GT/<name>.png, masks 0/255). Prints one JSON object: dice (p >= 0.5),
pointingGame, energyInMask, n. Images are 8-bit lung-window exports: they get COVID-SemiSeg's grey-to-HU map and the
training images' soft-tissue padding, then exactly the worker's preprocessing (models/PREPROCESSING.md), three windows
averaged; the model runs in onnxruntime-node (node must be on PATH, run from anywhere).
Usage: python3 models/training/score_masks.py FOLDER"""
import glob
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from preprocess import CFG, FIGURE_PAD, FIGURE_PAD_HU, crop_box, grey_to_hu, load_figure_grey, lung_mask, resize_bilinear  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.abspath(os.path.join(HERE, ".."))


def main(folder):
    imgs = sorted(p for p in glob.glob(os.path.join(folder, "Imgs", "*")) if os.path.splitext(p)[1].lower() in (".jpg", ".jpeg", ".png"))
    pairs = [(p, os.path.join(folder, "GT", os.path.splitext(os.path.basename(p))[0] + ".png")) for p in imgs]
    pairs = [(p, g) for p, g in pairs if os.path.exists(g)]
    if not pairs:
        raise SystemExit(f"no image/mask pairs in {folder} (expected {folder}/Imgs/* and {folder}/GT/<same name>.png)")
    man = json.load(open(os.path.join(MODELS, "manifest.json")))
    s = CFG["size"]
    hus, boxes, gts = [], [], []
    for p, g in pairs:
        hu = np.pad(grey_to_hu(load_figure_grey(p), "semiseg"), FIGURE_PAD, constant_values=FIGURE_PAD_HU)
        gt = np.pad(load_figure_grey(g) > 127, FIGURE_PAD)
        box = crop_box(hu, lung_mask(hu))
        y0, y1, x0, x1 = box
        hus.append(resize_bilinear(hu[y0:y1, x0:x1], s, s)), boxes.append(box), gts.append(gt)
    maps = 0
    with tempfile.TemporaryDirectory() as tmp:
        for w in CFG["windows"]:
            v = np.clip((np.stack(hus) - (w["center"] - w["width"] / 2)) / w["width"], 0, 1) * 2 - 1
            x = np.repeat(v[:, None], 3, 1).astype("<f4")
            x.tofile(os.path.join(tmp, "in.bin"))
            subprocess.run(["node", os.path.join(HERE, "onnx_maps.js"), os.path.join(MODELS, man["slice"]["file"]), os.path.join(tmp, "in.bin"),
                            str(len(hus)), str(s), os.path.join(tmp, "out.bin")], check=True, cwd=os.path.join(MODELS, ".."))
            mh, mw = man["slice"]["outputs"]["lesion_map"][1:]
            maps = maps + np.fromfile(os.path.join(tmp, "out.bin"), "<f4").reshape(len(hus), mh, mw)
    maps = maps / len(CFG["windows"])
    dice, hits, share = [], [], []
    for m, (y0, y1, x0, x1), gt in zip(maps, boxes, gts):
        full = np.zeros(gt.shape)
        full[y0:y1, x0:x1] = resize_bilinear(m.astype(np.float64), y1 - y0, x1 - x0)
        pr = full >= 0.5
        dice.append(2 * (pr & gt).sum() / max(pr.sum() + gt.sum(), 1))
        hits.append(bool(gt.ravel()[np.argmax(full)]))
        share.append(float(full[gt].sum() / max(full.sum(), 1e-9)))
    print(json.dumps({"dice": round(float(np.mean(dice)), 4), "pointingGame": round(float(np.mean(hits)), 4),
                      "energyInMask": round(float(np.mean(share)), 4), "n": len(pairs)}))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(sys.argv[1])
