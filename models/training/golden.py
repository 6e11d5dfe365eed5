"""Golden vectors: synthetic inputs (made by code, no data set images) -> crop box -> preprocessed
tensor -> PyTorch outputs of the exported weights. Format: models/golden/README.md."""
import json
import os

import numpy as np
import torch

from evidence import slice_evidence
from preprocess import CFG, grey_to_hu, lung_mask, preprocess


def phantom_hu():
    """128x128 int16: air, body ellipse, two lungs, a GGO-like blob, a table, deterministic texture."""
    yy, xx = np.mgrid[0:128, 0:128]
    hu = np.full((128, 128), -1000.0)
    hu[((yy - 62) / 46.0) ** 2 + ((xx - 64) / 60.0) ** 2 <= 1] = 40
    for cx in (38, 90):
        hu[((yy - 60) / 30.0) ** 2 + ((xx - cx) / 20.0) ** 2 <= 1] = -850
    hu[(yy - 68) ** 2 + (xx - 36) ** 2 <= 49] = -350
    hu[116:120, 8:120] = 150
    hu += ((xx * 7 + yy * 13) % 17) - 8
    return hu.astype(np.int16)


def phantom_figure():
    """96x128 uint8 'figure' in a lung-window look: black frame, grey body, dark lungs, brighter blob."""
    yy, xx = np.mgrid[0:96, 0:128]
    g = np.zeros((96, 128))
    g[((yy - 48) / 42.0) ** 2 + ((xx - 64) / 60.0) ** 2 <= 1] = 215
    for cx in (38, 90):
        g[((yy - 46) / 28.0) ** 2 + ((xx - cx) / 20.0) ** 2 <= 1] = 25
    g[(yy - 52) ** 2 + (xx - 92) ** 2 <= 36] = 150
    g += ((xx * 5 + yy * 3) % 11) - 5
    return np.clip(g, 0, 255).astype(np.uint8)


def phantom_fallback():
    """64x64 int16 soft tissue only: nothing below the lung threshold -> whole-image fallback."""
    yy, xx = np.mgrid[0:64, 0:64]
    return (30 + (xx + yy) % 5).astype(np.int16)


def patient_rows(s, seed):
    """Per slice: infected area (some slices clean), lung area (mm²), class probabilities."""
    rng = np.random.RandomState(seed)
    infected = (rng.rand(s) * 900 * (rng.rand(s) > 0.3)).astype(np.float32)
    lung = (5000 + rng.rand(s) * 20000).astype(np.float32)
    c1 = rng.rand(s).astype(np.float32)
    return infected, lung, np.stack([1 - c1, c1], 1).astype(np.float32)


class Writer:
    def __init__(self):
        self.buf, self.meta = bytearray(), {}

    def add(self, name, arr, dtype):
        a = np.ascontiguousarray(np.asarray(arr).astype(dtype))
        a = a.astype(a.dtype.newbyteorder("<"))
        self.meta[name] = {"dtype": np.dtype(dtype).name, "shape": list(a.shape), "byteOffset": len(self.buf),
                           "byteLength": a.nbytes}
        self.buf += a.tobytes()


def slice_fixture(export_net, name):
    kinds = {"phantom-hu": ("dicom-hu", phantom_hu, "int16"), "phantom-figure": ("figure-grey", phantom_figure, "uint8"),
             "fallback-hu": ("dicom-hu", phantom_fallback, "int16")}
    kind, fn, dt = kinds[name]
    raw = fn()
    hu = raw.astype(np.float64) if kind == "dicom-hu" else grey_to_hu(raw)
    x, box = preprocess(hu)  # [W,3,S,S]
    with torch.no_grad():
        outs = export_net(torch.from_numpy(x))
    w = Writer()
    w.add("input", raw, dt)
    w.add("tensor", x[:, 0], "float32")  # channels 0..2 are identical; stored once
    for k, v in zip(("lesion_prob", "class_probs", "lesion_types", "lesion_map", "features"), outs):
        w.add(k, v.numpy(), "float32")
        w.add("mean_" + k, v.numpy().mean(0), "float32")
    lung = lung_mask(hu)
    restricted, ev = slice_evidence(outs[3].numpy().mean(0).astype(np.float64), box, lung)
    w.add("lung_mask", lung, "uint8")
    w.add("mean_lesion_map_in_lung", restricted, "float32")
    hdr = {"name": name, "kind": kind, "box": list(box), "windows": CFG["windows"], "evidence": ev, "arrays": w.meta}
    return hdr, bytes(w.buf)


def patient_fixture(patient_net, s, seed):
    infected, lung, cp = patient_rows(s, seed)
    with torch.no_grad():
        probs, frac = patient_net(torch.from_numpy(infected), torch.from_numpy(lung), torch.from_numpy(cp))
    w = Writer()
    for k, v in (("infected_area_mm2", infected), ("lung_area_mm2", lung), ("slice_class_probs", cp),
                 ("class_probs", probs.numpy()), ("infection_fraction", frac.numpy())):
        w.add(k, v, "float32")
    return {"name": f"patient-s{s}", "kind": "patient", "arrays": w.meta}, bytes(w.buf)


def all_fixtures(slice_export, patient_net):
    out = [slice_fixture(slice_export, n) for n in ("phantom-hu", "phantom-figure", "fallback-hu")]
    out += [patient_fixture(patient_net, s, 10 + s) for s in (7, 3)]
    return out


def write(fixtures, folder):
    os.makedirs(folder, exist_ok=True)
    for hdr, data in fixtures:
        hdr["file"] = hdr["name"] + ".bin"
        with open(os.path.join(folder, hdr["name"] + ".bin"), "wb") as f:
            f.write(data)
        with open(os.path.join(folder, hdr["name"] + ".json"), "w") as f:
            json.dump(hdr, f, indent=1)
