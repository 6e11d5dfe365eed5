"""Export the models-2.0 ONNX files, committed weights, golden vectors and models/manifest.json from a finished run
(after evaluate.py, whose results/metrics.json holds the operating points).
Usage: /usr/bin/python3 export.py --run /tmp/lt_runs/v2b"""
import argparse
import hashlib
import json
import os
import shutil

import torch

import golden
from evaluate import MIN_SLICE_AREA_MM2, checkpoint, load_net
from evidence import PIXEL_THRESHOLD
from model import INFERENCE_FLIP, SegSliceNetExport, VolumeEvidence
from preprocess import CFG

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.abspath(os.path.join(HERE, ".."))
NAME, VERSION = "mlung-sys", "2.1.0"
SLICE = f"slice-{NAME}-v{VERSION}.onnx"
PATIENT = f"patient-{NAME}-volume-v{VERSION}.onnx"
CODE = lambda v, s, m: {"value": v, "scheme": s, "meaning": m}  # noqa: E731
S_NAMES = ["lesion_prob", "class_probs", "lesion_types", "lesion_map", "features"]
P_INPUTS = ["infected_area_mm2", "lung_area_mm2", "slice_class_probs"]
# URGENT from this infected share of the lung (a moderate CT severity: roughly 10% of the lung involved).
URGENT_FRACTION = 0.10


def sha(p):
    return hashlib.sha256(open(p, "rb").read()).hexdigest()


def export_all(run, out=MODELS):
    net = load_net(run)
    sx = SegSliceNetExport(net).eval()
    px = VolumeEvidence().eval()
    tmp = os.path.join(out, ".export-tmp")
    os.makedirs(tmp, exist_ok=True)
    torch.onnx.export(sx, torch.zeros(2, 3, CFG["size"], CFG["size"]), os.path.join(tmp, SLICE), opset_version=13,
                      input_names=["input"], output_names=S_NAMES, dynamic_axes={n: {0: "N"} for n in ["input"] + S_NAMES})
    torch.onnx.export(px, (torch.rand(7) * 100, torch.rand(7) * 1e4, torch.softmax(torch.rand(7, 2), 1)), os.path.join(tmp, PATIENT),
                      opset_version=13, input_names=P_INPUTS, output_names=["class_probs", "infection_fraction"],
                      dynamic_axes={n: {0: "S"} for n in P_INPUTS})
    import onnx
    for fn in (SLICE, PATIENT):
        onnx.checker.check_model(onnx.load(os.path.join(tmp, fn)))
    torch.save(net.state_dict(), os.path.join(tmp, f"slice-{NAME}-v{VERSION}.pt"))
    fixtures = golden.all_fixtures(sx, px)
    old = [f for f in os.listdir(out) if f.endswith(".onnx")] + [os.path.join("weights", f) for f in os.listdir(os.path.join(out, "weights"))]
    for fn in (SLICE, PATIENT):
        shutil.move(os.path.join(tmp, fn), os.path.join(out, fn))
    for fn in os.listdir(tmp):
        shutil.move(os.path.join(tmp, fn), os.path.join(out, "weights", fn))
    os.rmdir(tmp)
    for f in old:  # the models this export replaces
        if os.path.basename(f) not in (SLICE, PATIENT, f"slice-{NAME}-v{VERSION}.pt"):
            os.remove(os.path.join(out, f))
    for f in os.listdir(os.path.join(out, "golden")):
        if f.endswith((".json", ".bin")):
            os.remove(os.path.join(out, "golden", f))
    golden.write(fixtures, os.path.join(out, "golden"))
    write_manifest(out, torch.load(checkpoint(run), map_location="cpu"))


def write_manifest(out, ck):
    met = json.load(open(os.path.join(HERE, "results", "metrics.json")))
    c = CFG["crop"]
    rule = met["patient"]["rule"]
    man = {
        "schemaVersion": 1, "name": NAME, "version": VERSION,
        "classes": [{"label": "non-covid", "display": "Non-COVID", "code": None},
                    {"label": "covid-19", "display": "COVID-19", "code": CODE("840539006", "SCT", "COVID-19")}],
        "positiveClass": "covid-19",
        # Standard codes where PS3.16 has them (DCM chest CAD findings, CID 6102-6105); crazy paving has none.
        "lesionTypes": [
            {"label": "ggo", "display": "Ground-glass opacity", "code": CODE("112120", "DCM", "Ground glass opacity")},
            {"label": "consolidation", "display": "Consolidation", "code": CODE("95436008", "SCT", "Consolidation of lung")},
            {"label": "crazy-paving", "display": "Crazy paving", "code": CODE("CRAZYPAVING", "99LTRIAGE", "Crazy paving pattern")},
            {"label": "air-bronchogram", "display": "Air bronchogram", "code": CODE("112071", "DCM", "Air bronchogram")},
            {"label": "septal-thickening", "display": "Interlobular septal thickening",
             "code": CODE("112114", "DCM", "Septal line(s)")}],
        "slice": {"file": SLICE, "sha256": sha(os.path.join(out, SLICE)), "name": f"{NAME}-slice", "version": VERSION,
                  "inputName": "input", "batchSize": 16, "opset": 13,
                  "outputs": {"lesion_prob": [-1], "class_probs": [-1, 2], "lesion_types": [-1, 5],
                              "lesion_map": [-1, 56, 56], "features": [-1, 1152]},
                  "trainedEpochs": ck["epoch"], "initialisedFrom": "mlung-sys-slice 1.2.0",
                  **({"decoderFinetunedOn": ck["decoderFinetunedOn"]} if "decoderFinetunedOn" in ck else {}),
                  "lesionMap": {"values": "calibrated per-position infection probability (sigmoid of the decoder), 56x56 over the lung crop, "
                                          + ("averaged with the horizontally flipped input and " if INFERENCE_FLIP else "")
                                          + "averaged over the inference windows; absolute, not normalised per slice",
                                "restrictedToLung": "cells with no lung pixel in their 3x3 cell neighbourhood are set to 0 by the worker"}},
        "patient": {"file": PATIENT, "sha256": sha(os.path.join(out, PATIENT)), "name": f"{NAME}-volume", "version": VERSION,
                    "kind": "volume-evidence", "inputs": {"infected_area_mm2": [-1], "lung_area_mm2": [-1], "slice_class_probs": [-1, 2]},
                    "outputs": {"class_probs": [2], "infection_fraction": [1]},
                    "patientInput": "per slice: lung and infected area (mm²) from the infection map and the HU lung mask; class probabilities"},
        "preprocessing": {
            "spec": "models/PREPROCESSING.md", "size": CFG["size"], "windows": CFG["windows"],
            "channels": "3 identical copies of one windowed image; one network input per window",
            "normalisation": CFG["normalisation"],
            "crop": {"thresholdHu": c["thresholdHu"], "mask": "hu < thresholdHu", "openingIterations": c["openingIterations"],
                     "structuringElement": c["structuringElement"], "outsideImage": "background",
                     "connectivity": c["connectivity"], "minComponentFraction": c["minComponentFraction"],
                     "dropBorderComponents": c["dropBorderComponents"], "minMeanHu": c["minMeanHu"], "holesFilled": True,
                     "marginFraction": c["marginFraction"], "marginPixels": "floor(marginFraction * max(H, W))",
                     "minBoxFraction": c["minBoxFraction"], "fallback": "whole image", "squarePad": False},
            "figureGreyToHu": CFG["figureGreyToHu"], "figureGrey": "mean of R,G,B (alpha ignored), float",
            "dicomToHu": "stored value * RescaleSlope + RescaleIntercept",
            "resize": "bilinear-half-pixel", "order": "crop -> resize (HU) -> window -> normalise",
            "averageOverWindows": True, "trainCenterRange": CFG["trainCenterRange"]},
        "threshold": {**met["ucsd"]["threshold"], "use": "COVID-19 pattern: infected-area-weighted p(COVID-19) of the slices"},
        "sliceLesionThreshold": 0.5,
        "infection": {"pixelThreshold": PIXEL_THRESHOLD, "present": rule["present"], "indeterminate": rule["indeterminate"], "urgentFraction": URGENT_FRACTION,
                      "minSliceAreaMm2": MIN_SLICE_AREA_MM2,
                      "chosenOn": "hold-out volume bags, leave-one-bag-out (models/training/results/metrics.json patient)"},
        "metrics": {k: met[k] for k in ("ucsd", "realCtSlices", "semiseg", "patient", "thoraxSeries") if k in met},
        "codingSchemes": {"99LTRIAGE": "private lung-triage codes (see models/MODEL_CARD.md)"},
    }
    man["metrics"]["patient"] = {k: v for k, v in man["metrics"]["patient"].items() if k != "perBag"}
    with open(os.path.join(out, "manifest.json.tmp"), "w") as f:
        json.dump(man, f, indent=1, ensure_ascii=False)
    os.replace(os.path.join(out, "manifest.json.tmp"), os.path.join(out, "manifest.json"))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    ap.add_argument("--out", default=MODELS)
    a = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("LT_THREADS", "2")))
    export_all(a.run, a.out)
