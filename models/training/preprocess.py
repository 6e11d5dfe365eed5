"""Reference preprocessing (spec: models/PREPROCESSING.md). Plain numpy, float64, simple algorithms,
so that the TypeScript worker can reproduce it to 1e-4. Only decoding uses PIL/pydicom."""
import numpy as np

CFG = {
    "size": 224,
    # Two inference windows, no flip at inference (model.INFERENCE_FLIP): 2 network passes per slice instead of 2.0.0's
    # 6, for the worker's throughput (issue 14 item 8); the accuracy cost is measured by inference_variants.py.
    "windows": [{"center": -700, "width": 1200}, {"center": -400, "width": 1200}],
    "trainCenterRange": [-750, -350],
    "figureGreyToHu": {"slope": 1500.0 / 255.0, "intercept": -1350.0},
    "crop": {"thresholdHu": -400.0, "openingIterations": 1, "structuringElement": "3x3-square",
             "connectivity": 8, "minComponentFraction": 0.005, "dropBorderComponents": True, "minMeanHu": -950.0,
             "marginFraction": 0.03, "minBoxFraction": 0.1},
    "normalisation": {"scale": 2.0, "offset": -1.0},
}
# Every window a configuration may use (inference_variants.py compares them); CFG["windows"] is the deployed subset.
ALL_WINDOWS = [{"center": -700, "width": 1200}, {"center": -550, "width": 1200}, {"center": -400, "width": 1200}]


# Per-source grey -> pseudo-HU maps for 8-bit training images, measured on each source's mean grey histogram
# (every ~40th image): the dark lung-parenchyma mode -> -870 HU and the soft-tissue mode -> +40 HU, where both modes
# are visible. Inf-Net coronacases volumes: modes 16 / 100; Inf-Net Radiopaedia volumes: 75 / 228 (close to the
# default lung window); COVID-SemiSeg: 45 / 213; LUNA: outside air at 0 -> -1000 with the default slope (tissue modes
# 161-193 -> -50..+135); UCSD figure crops: the default lung window -600/1500 (COVID dark mode 77 -> -897, tissue
# saturated at 255).
SOURCE_GREY_TO_HU = {
    "ucsd": (1500.0 / 255.0, -1350.0),
    "luna": (1500.0 / 255.0, -1000.0),
    "coronacases": (910.0 / 84.0, -870.0 - 16 * 910.0 / 84.0),
    "radiopaedia": (910.0 / 153.0, -870.0 - 75 * 910.0 / 153.0),
    "semiseg": (910.0 / 168.0, -870.0 - 45 * 910.0 / 168.0),
}
# 8-bit training images are often cropped to the body, so the lungs touch the image edge where a CT's field of view
# has air around the patient: they are padded with this much soft tissue before the lung mask (pure air at the edge
# is still dropped, by minMeanHu).
FIGURE_PAD = 4
FIGURE_PAD_HU = 40.0


def grey_to_hu(g, source=None):
    """8-bit figure grey (float64 mean of R,G,B; alpha ignored) -> pseudo-HU. Default (no source): as if shown in
    a lung window centre -600 / width 1500: g=0 -> -1350, g=255 -> +150; a known source uses its measured map."""
    c = CFG["figureGreyToHu"]
    slope, intercept = SOURCE_GREY_TO_HU[source] if source else (c["slope"], c["intercept"])
    return np.asarray(g, np.float64) * slope + intercept


def _erode(m):
    p = np.pad(m, 1, constant_values=False)  # outside the image counts as background
    h, w = m.shape
    out = np.ones_like(m)
    for dy in range(3):
        for dx in range(3):
            out &= p[dy:dy + h, dx:dx + w]
    return out


def _dilate(m):
    p = np.pad(m, 1, constant_values=False)
    h, w = m.shape
    out = np.zeros_like(m)
    for dy in range(3):
        for dx in range(3):
            out |= p[dy:dy + h, dx:dx + w]
    return out


def label8(m):
    """8-connected component labels (0 = background). Any correct labelling gives the same components."""
    from scipy.ndimage import label
    lab, n = label(m, structure=np.ones((3, 3), int))
    return lab, n


def lung_mask(hu):
    """Lung mask [H,W] bool: pixels below thresholdHu, opened, 8-connected components of at least
    minComponentFraction of the image that do not touch the border (air around the patient, the table) and whose
    mean HU is at least minMeanHu (pure air inside the image: trachea, bowel gas, air pockets beside the neck),
    holes filled."""
    c = CFG["crop"]
    hu = np.asarray(hu, np.float64)
    h, w = hu.shape
    m = hu < c["thresholdHu"]
    for _ in range(c["openingIterations"]):
        m = _dilate(_erode(m))
    lab, n = label8(m)
    keep = np.zeros(n + 1, bool)
    if n:
        area = np.bincount(lab.ravel(), minlength=n + 1)
        total = np.bincount(lab.ravel(), weights=hu.ravel(), minlength=n + 1)
        keep = (area >= c["minComponentFraction"] * h * w) & (total >= c["minMeanHu"] * np.maximum(area, 1))
        if c["dropBorderComponents"]:
            border = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))
            keep[border] = False
        keep[0] = False
    return fill_holes(keep[lab])


def fill_holes(m):
    """The mask plus every region of non-mask pixels that does not reach the image border (4-connected): vessels,
    nodules and enclosed infection inside the lung count as lung."""
    from scipy.ndimage import label
    lab, _ = label(~m)
    border = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))
    outside = np.isin(lab, border[border > 0])
    return ~outside


def crop_box(hu, km=None):
    """Returns (y0, y1, x0, x1), inclusive-exclusive, of the lung mask's bounding box with margin (whole image when
    the slice has no lung)."""
    c = CFG["crop"]
    km = lung_mask(hu) if km is None else km
    h, w = km.shape
    if not km.any():
        return 0, h, 0, w
    ys = np.nonzero(km.any(1))[0]
    xs = np.nonzero(km.any(0))[0]
    mg = int(np.floor(c["marginFraction"] * max(h, w)))
    y0, y1 = max(0, ys[0] - mg), min(h, ys[-1] + 1 + mg)
    x0, x1 = max(0, xs[0] - mg), min(w, xs[-1] + 1 + mg)
    if (y1 - y0) * (x1 - x0) < c["minBoxFraction"] * h * w:
        return 0, h, 0, w
    return int(y0), int(y1), int(x0), int(x1)


def resize_bilinear(a, oh, ow):
    """Bilinear, half-pixel centres (align_corners=False), source coordinate clamped to [0, n-1], no antialias."""
    a = np.asarray(a, np.float64)
    h, w = a.shape

    def axis(n_in, n_out):
        s = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
        s = np.clip(s, 0, n_in - 1)
        i0 = np.floor(s).astype(int)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, s - i0

    y0, y1, fy = axis(h, oh)
    x0, x1, fx = axis(w, ow)
    top = a[y0][:, x0] * (1 - fx) + a[y0][:, x1] * fx
    bot = a[y1][:, x0] * (1 - fx) + a[y1][:, x1] * fx
    return top * (1 - fy)[:, None] + bot * fy[:, None]


def crop_resize(hu):
    """HU image -> (cropped + resized HU [size,size] float64, box)."""
    y0, y1, x0, x1 = crop_box(hu)
    s = CFG["size"]
    return resize_bilinear(np.asarray(hu, np.float64)[y0:y1, x0:x1], s, s), (y0, y1, x0, x1)


def window(hu_r, center, width):
    """Window to [0,1] then network range [-1,1]; 3 identical channels."""
    v = np.clip((hu_r - (center - width / 2.0)) / width, 0.0, 1.0)
    v = v * CFG["normalisation"]["scale"] + CFG["normalisation"]["offset"]
    return np.repeat(v[None], 3, 0)


def preprocess(hu):
    """HU image -> float32 [W,3,S,S], one tensor per inference window, and the crop box."""
    r, box = crop_resize(hu)
    x = np.stack([window(r, w["center"], w["width"]) for w in CFG["windows"]]).astype(np.float32)
    return x, box


def load_figure_grey(path):
    from PIL import Image
    im = Image.open(path)
    a = np.asarray(im.convert("RGBA") if im.mode not in ("L", "RGB", "RGBA") else im, np.float64)
    if a.ndim == 3:
        a = a[..., :3].mean(2)
    return a


def load_dicom_hu(path):
    import pydicom
    ds = pydicom.dcmread(path)
    return ds.pixel_array.astype(np.float64) * float(getattr(ds, "RescaleSlope", 1)) + float(getattr(ds, "RescaleIntercept", 0))
