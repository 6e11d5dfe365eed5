"""Volume evidence from the infection map, exactly as the worker computes it (src/inference/infection.ts):
per slice the lung pixels (HU lung mask, holes filled, plus infection outside it), the infected pixels (infection
probability summed over the map cells near the lung) and the map restricted to the lung."""
import numpy as np


PIXEL_THRESHOLD = 0.5


def slice_evidence(pmap, box, lung, threshold=PIXEL_THRESHOLD):
    """pmap [mh,mw] infection probability over the crop box (y0,y1,x0,x1) of a slice whose lung mask is `lung`
    [H,W] bool; a cell is infected from `threshold`. Returns (restricted map, dict of lungPixels, infectedPixels,
    imageLeftLungPixels, imageLeftInfectedPixels, maxProbability)."""
    mh, mw = pmap.shape
    lung_px = int(lung.sum())
    out = np.array(pmap, np.float64)
    ev = dict(lungPixels=0.0, infectedPixels=0.0, imageLeftLungPixels=0.0, imageLeftInfectedPixels=0.0, maxProbability=0.0)
    if lung_px == 0:
        return out * 0, ev
    y0, y1, x0, x1 = box
    cy = np.minimum(mh - 1, ((np.arange(y0, y1) - y0) * mh) // (y1 - y0))
    cx = np.minimum(mw - 1, ((np.arange(x0, x1) - x0) * mw) // (x1 - x0))
    cells = (cy[:, None] * mw + cx[None, :]).ravel()
    cell_px = np.bincount(cells, minlength=mh * mw).astype(np.float64)
    cell_lung = np.bincount(cells, weights=lung[y0:y1, x0:x1].ravel().astype(np.float64), minlength=mh * mw)
    left_cols = (np.arange(mw) + 0.5 < mw / 2)
    ev["lungPixels"] = float(lung_px)
    ev["imageLeftLungPixels"] = float(cell_lung.reshape(mh, mw)[:, left_cols].sum())
    has = (cell_lung.reshape(mh, mw) > 0).astype(np.uint8)
    pad = np.pad(has, 1)
    near = np.zeros_like(has)
    for dy in range(3):
        for dx in range(3):
            near |= pad[dy:dy + mh, dx:dx + mw]
    near = near.astype(bool)
    out[~near] = 0
    hit = (out.ravel() >= threshold).astype(np.float64)
    infected = hit * cell_px
    outside = hit * (cell_px - cell_lung)
    left = np.tile(left_cols, mh)
    ev["infectedPixels"] = float(infected.sum())
    ev["lungPixels"] += float(outside.sum())
    ev["imageLeftInfectedPixels"] = float(infected[left].sum())
    ev["imageLeftLungPixels"] += float(outside[left].sum())
    ev["maxProbability"] = float(out.max())
    return out, ev
