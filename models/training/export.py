"""Export ONNX files, committed weights, golden vectors and models/manifest.json from a finished run.
Usage: /usr/bin/python3 export.py --run /tmp/lt_runs/main"""
import argparse
import hashlib
import json
import os
import shutil

import torch

import golden
from model import AttentionMIL, AttentionMILExport, NonParametric, SliceNetExport
from preprocess import CFG
from slice_outputs import load_slice

MODELS = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
NAME, VERSION = "mlung-sys", "1.2.0"
SLICE = f"slice-{NAME}-v{VERSION}.onnx"
MIL = f"patient-{NAME}-mil-v{VERSION}.onnx"
NONP = f"patient-{NAME}-nonparam-v{VERSION}.onnx"
CODE = lambda v, s, m: {"value": v, "scheme": s, "meaning": m}  # noqa: E731


def sha(p):
    return hashlib.sha256(open(p, "rb").read()).hexdigest()


def export_all(run, out=MODELS):
    net, ck = load_slice(os.path.join(run, "best.pt"))
    sx = SliceNetExport(net).eval()
    pk = torch.load(os.path.join(run, "patient.pt"))
    mil = AttentionMIL()
    mil.load_state_dict(pk["state_dict"])
    mil.eval()
    mx = AttentionMILExport(mil, pk.get("temperature", 1.0)).eval()
    nonp = NonParametric(pk["alpha"]).eval()
    os.makedirs(os.path.join(out, "weights"), exist_ok=True)
    tmp = os.path.join(out, ".export-tmp")
    os.makedirs(tmp, exist_ok=True)
    s_names = ["lesion_prob", "class_probs", "lesion_types", "lesion_map", "features"]
    torch.onnx.export(sx, torch.zeros(2, 3, CFG["size"], CFG["size"]), os.path.join(tmp, SLICE), opset_version=13,
                      input_names=["input"], output_names=s_names,
                      dynamic_axes={n: {0: "N"} for n in ["input"] + s_names})
    f, l = torch.rand(7, 1152), torch.rand(7)
    torch.onnx.export(mx, (f, l), os.path.join(tmp, MIL), opset_version=13, input_names=["features", "lesion_prob"],
                      output_names=["class_probs", "slice_weights"],
                      dynamic_axes={"features": {0: "S"}, "lesion_prob": {0: "S"}, "slice_weights": {0: "S"}})
    torch.onnx.export(nonp, (l, torch.softmax(torch.rand(7, 2), 1)), os.path.join(tmp, NONP), opset_version=13,
                      input_names=["lesion_prob", "slice_class_probs"], output_names=["class_probs"],
                      dynamic_axes={"lesion_prob": {0: "S"}, "slice_class_probs": {0: "S"}})
    import onnx
    for fn in (SLICE, MIL, NONP):
        onnx.checker.check_model(onnx.load(os.path.join(tmp, fn)))
    torch.save(net.state_dict(), os.path.join(tmp, f"slice-{NAME}-v{VERSION}.pt"))
    torch.save({"state_dict": mil.state_dict(), "alpha": pk["alpha"], "temperature": pk.get("temperature", 1.0)}, os.path.join(tmp, f"patient-{NAME}-mil-v{VERSION}.pt"))
    fixtures = golden.all_fixtures(sx, mx, nonp)
    # move everything in place, then the manifest last so models/ stays consistent
    for fn in (SLICE, MIL, NONP):
        shutil.move(os.path.join(tmp, fn), os.path.join(out, fn))
    for fn in os.listdir(tmp):
        shutil.move(os.path.join(tmp, fn), os.path.join(out, "weights", fn))
    os.rmdir(tmp)
    golden.write(fixtures, os.path.join(out, "golden"))
    write_manifest(run, out, ck)


def _init_epochs(ck):
    """Epochs of the checkpoint a stage-2 run started from (0 when trained from ImageNet)."""
    p = ck["args"].get("init")
    return torch.load(p, map_location="cpu")["epoch"] if p and os.path.exists(p) else 0


def _lesion_map(run):
    """What the lesion_map output is, and how well it localises (cross-validated on the COVID-SemiSeg masks)."""
    loc = os.path.join(run, "location.pt")
    if not os.path.exists(loc):
        return {"prototype": "lesion classifier's 'with lesion' prototype"}
    return {"prototype": "location prototype fitted on the COVID-SemiSeg infection masks (training/fit_location.py)",
            "values": "per window min-max normalised negative distance to the prototype, averaged over the windows",
            "crossValidated": torch.load(loc)["crossValidated"]}


def write_manifest(run, out, ck):
    def load(p):
        p = os.path.join(run, p)
        return json.load(open(p)) if os.path.exists(p) else {}
    met, pm = load("metrics.json"), load("patient_metrics.json")
    default = pm.get("default", "nonparametric")
    mil = {"file": MIL, "sha256": sha(os.path.join(out, MIL)), "name": f"{NAME}-mil", "version": VERSION,
           "kind": "attention-mil", "inputs": {"features": [-1, 1152], "lesion_prob": [-1]},
           "outputs": {"class_probs": [2], "slice_weights": [-1]},
           "temperature": pm.get("attention_mil", {}).get("temperature", 1.0)}
    nonp = {"file": NONP, "sha256": sha(os.path.join(out, NONP)), "name": f"{NAME}-nonparam", "version": VERSION,
            "kind": "nonparametric", "inputs": {"lesion_prob": [-1], "slice_class_probs": [-1, 2]},
            "outputs": {"class_probs": [2]}, "alpha": pm.get("nonparametric", {}).get("alpha", 0.9)}
    main, alt = (mil, nonp) if default == "attention-mil" else (nonp, mil)
    main = dict(main)
    main["alternatives"] = [{k: alt[k] for k in ("file", "sha256", "kind", "name", "version", "inputs", "outputs")}]
    main["patientInput"] = "per slice: mean over the inference windows of the slice outputs (features, lesion_prob, class_probs)"
    main["heldOutBags"] = {k: pm[k] for k in ("bags",) if k in pm}
    main["heldOutBags"].update({"nonparametric": {k: pm.get("nonparametric", {}).get(k) for k in ("val_auc", "test_auc")},
                                "attention-mil": {k: pm.get("attention_mil", {}).get(k) for k in ("val_auc", "test_auc", "calibration_test")}})
    c = CFG["crop"]
    man = {
        "schemaVersion": 1, "name": NAME, "version": VERSION,
        "classes": [{"label": "non-covid", "display": "Non-COVID", "code": None},
                    {"label": "covid-19", "display": "COVID-19", "code": CODE("840539006", "SCT", "COVID-19")}],
        "positiveClass": "covid-19",
        "lesionTypes": [
            {"label": "ggo", "display": "Ground-glass opacity", "code": CODE("1217294009", "SCT", "Ground glass opacity")},
            {"label": "consolidation", "display": "Consolidation", "code": CODE("95436008", "SCT", "Consolidation of lung")},
            {"label": "crazy-paving", "display": "Crazy paving", "code": CODE("CRAZYPAVING", "99LTRIAGE", "Crazy paving pattern")},
            {"label": "air-bronchogram", "display": "Air bronchogram", "code": CODE("AIRBRONCHOGRAM", "99LTRIAGE", "Air bronchogram")},
            {"label": "septal-thickening", "display": "Interlobular septal thickening",
             "code": CODE("SEPTALTHICK", "99LTRIAGE", "Interlobular septal thickening")}],
        "slice": {"file": SLICE, "sha256": sha(os.path.join(out, SLICE)), "name": f"{NAME}-slice", "version": VERSION,
                  "inputName": "input", "batchSize": 16, "opset": 13,
                  "outputs": {"lesion_prob": [-1], "class_probs": [-1, 2], "lesion_types": [-1, 5],
                              "lesion_map": [-1, 14, 14], "features": [-1, 1152]},
                  "trainedEpochs": ck["epoch"] + _init_epochs(ck), "ablation": {k: ck["args"][k] for k in ("no_lesion", "no_coords", "no_types")},
                  "lesionMap": _lesion_map(run)},
        "patient": main,
        "preprocessing": {
            "spec": "models/PREPROCESSING.md", "size": CFG["size"], "windows": CFG["windows"],
            "channels": "3 identical copies of one windowed image; one network input per window",
            "normalisation": CFG["normalisation"],
            "crop": {"thresholdHu": c["thresholdHu"], "mask": "hu < thresholdHu", "openingIterations": c["openingIterations"],
                     "structuringElement": c["structuringElement"], "outsideImage": "background",
                     "connectivity": c["connectivity"], "minComponentFraction": c["minComponentFraction"],
                     "dropBorderComponents": c["dropBorderComponents"], "marginFraction": c["marginFraction"],
                     "marginPixels": "floor(marginFraction * max(H, W))", "minBoxFraction": c["minBoxFraction"],
                     "fallback": "whole image", "squarePad": False},
            "figureGreyToHu": CFG["figureGreyToHu"], "figureGrey": "mean of R,G,B (alpha ignored), float",
            "dicomToHu": "stored value * RescaleSlope + RescaleIntercept",
            "resize": "bilinear-half-pixel", "order": "crop -> resize (HU) -> window -> normalise",
            "averageOverWindows": True, "trainCenterRange": CFG["trainCenterRange"]},
        "threshold": met.get("threshold", {"value": 0.5, "chosenOn": "none"}),
        "sliceLesionThreshold": 0.5,
        "metrics": met.get("test", {}),
        "codingSchemes": {"99LTRIAGE": "private lung-triage codes (see models/MODEL_CARD.md)"},
    }
    with open(os.path.join(out, "manifest.json.tmp"), "w") as f:
        json.dump(man, f, indent=1)
    os.replace(os.path.join(out, "manifest.json.tmp"), os.path.join(out, "manifest.json"))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    ap.add_argument("--out", default=MODELS)
    a = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("LT_THREADS", "2")))
    export_all(a.run, a.out)
