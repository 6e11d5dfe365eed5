"""MLung-Sys slice network on an ImageNet MobileNetV1-0.75 backbone, plus the patient heads.

Backbone layout matches /work/shared/data/pretrained/mobilenet_v1_0.75_224_imagenet.pt exactly
(loads with strict=True): TF "same" padding, BN eps 1e-3, ReLU6.
Paper mapping: ResBlocks 1-3 = conv1 + blocks 0..10 (stride 16, 384 ch, 14x14 for 224 input);
ResBlock 4 = blocks 11..12 (stride 32, 768 ch, 7x7).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

ALPHA_CH = [(24, 48, 1), (48, 96, 2), (96, 96, 1), (96, 192, 2), (192, 192, 1), (192, 384, 2),
            (384, 384, 1), (384, 384, 1), (384, 384, 1), (384, 384, 1), (384, 384, 1),
            (384, 768, 2), (768, 768, 1)]
STAGE3_END = 11  # blocks[0:11] -> stride 16
N_LESION_TYPES = 5


class SameConv(nn.Module):
    """Conv2d with TF 'same' padding: stride-2 3x3 pads (0,1,0,1), stride-1 3x3 pads 1, 1x1 pads 0."""

    def __init__(self, cin, cout, k, stride, groups=1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, padding=0, groups=groups, bias=False)
        self.pad = (0, 1, 0, 1) if (k == 3 and stride == 2) else ((1, 1, 1, 1) if k == 3 else (0, 0, 0, 0))

    def forward(self, x):
        if any(self.pad):
            x = F.pad(x, self.pad)
        return self.conv(x)


class DWBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.dw = SameConv(cin, cin, 3, stride, groups=cin)
        self.dw_bn = nn.BatchNorm2d(cin, eps=1e-3)
        self.pw = SameConv(cin, cout, 1, 1)
        self.pw_bn = nn.BatchNorm2d(cout, eps=1e-3)

    def forward(self, x):
        x = F.relu6(self.dw_bn(self.dw(x)))
        return F.relu6(self.pw_bn(self.pw(x)))


class MobileNetV1(nn.Module):
    """Exact key layout of the pretrained state_dict (conv1, conv1_bn, blocks.N.*, conv_preds)."""

    def __init__(self, num_classes=1000):
        super().__init__()
        self.conv1 = SameConv(3, 24, 3, 2)
        self.conv1_bn = nn.BatchNorm2d(24, eps=1e-3)
        self.blocks = nn.ModuleList([DWBlock(a, b, s) for a, b, s in ALPHA_CH])
        self.conv_preds = nn.Conv2d(768, num_classes, 1)

    def forward(self, x):
        x = F.relu6(self.conv1_bn(self.conv1(x)))
        for b in self.blocks:
            x = b(x)
        return self.conv_preds(x.mean((2, 3), keepdim=True)).flatten(1)


def load_pretrained(path):
    net = MobileNetV1()
    net.load_state_dict(torch.load(path, map_location="cpu"), strict=True)
    return net


def coord_maps(h, w, device=None):
    """x, y in [-1,1] (pixel centres) and r = distance to centre / sqrt(2), in [0,1]."""
    ys = (torch.arange(h, dtype=torch.float32, device=device) + 0.5) / h * 2 - 1
    xs = (torch.arange(w, dtype=torch.float32, device=device) + 0.5) / w * 2 - 1
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    rr = torch.sqrt(xx * xx + yy * yy) / (2 ** 0.5)
    return torch.stack([xx, yy, rr], 0)


def prototype_map(fn, proto):
    """Negative distance of each normalised position feature [N,C,H,W] to a unit prototype [C], min-max normalised
    per image to [0,1] (1 = closest)."""
    n, c = fn.shape[:2]
    d = (fn - proto.view(1, c, 1, 1)).pow(2).sum(1)  # [N,H,W], in [0,4]
    dflat = d.flatten(1)
    dmin = dflat.min(1)[0].view(n, 1, 1)
    dmax = dflat.max(1)[0].view(n, 1, 1)
    return (dmax - d) / (dmax - dmin + 1e-6)


class SliceNet(nn.Module):
    """Multi-task slice network.

    lesion head (stage 3) -> prototype-distance lesion map -> residual attention on stage-3 features
    -> concat [attended features, map, coord maps] -> 1x1 fuse (identity-initialised) -> stage 4
    -> COVID class head + LA-DNN 5-lesion multi-label head. features = [GAP stage3, GAP stage4] / 6.
    """

    def __init__(self, n_classes=2, use_lesion=True, use_coords=True, dropout=0.2):
        super().__init__()
        bb = MobileNetV1()
        self.conv1, self.conv1_bn = bb.conv1, bb.conv1_bn
        self.stage3 = nn.ModuleList(bb.blocks[:STAGE3_END])
        self.stage4 = nn.ModuleList(bb.blocks[STAGE3_END:])
        self.use_lesion, self.use_coords = use_lesion, use_coords
        # lesion classifier rows are the two prototypes: 0 = without lesion, 1 = with lesion.
        # Cosine classifier so that the prototype distance used for the map is the same geometry.
        self.lesion_proto = nn.Parameter(torch.randn(2, 384) * 0.05)
        self.lesion_scale = nn.Parameter(torch.tensor(10.0))
        self.lesion_bias = nn.Parameter(torch.zeros(2))
        # Output lesion-location map: the same prototype-distance map, but to a location prototype fitted on the
        # COVID-SemiSeg infection masks (fit_location.py). All zeros (never fitted): the classifier's lesion prototype.
        self.register_buffer("location_proto", torch.zeros(384))
        self.fuse = nn.Conv2d(384 + 4, 384, 1, bias=False)
        with torch.no_grad():  # identity on the image channels keeps the pretrained stage 4 intact at start
            self.fuse.weight.zero_()
            self.fuse.weight[:, :384, 0, 0] = torch.eye(384)
        self.drop = nn.Dropout(dropout)
        self.cls = nn.Linear(768, n_classes)
        self.types = nn.Linear(768, N_LESION_TYPES)

    def load_backbone(self, path):
        bb = load_pretrained(path)
        self.conv1.load_state_dict(bb.conv1.state_dict())
        self.conv1_bn.load_state_dict(bb.conv1_bn.state_dict())
        for i, b in enumerate(self.stage3):
            b.load_state_dict(bb.blocks[i].state_dict())
        for i, b in enumerate(self.stage4):
            b.load_state_dict(bb.blocks[STAGE3_END + i].state_dict())

    def forward(self, x):
        x = F.relu6(self.conv1_bn(self.conv1(x)))
        for b in self.stage3:
            x = b(x)
        n, c, h, w = x.shape
        g3 = x.mean((2, 3))
        protos = F.normalize(self.lesion_proto, dim=1)
        lesion_logits = self.lesion_scale * F.normalize(g3, dim=1) @ protos.t() + self.lesion_bias
        # lesion map: negative distance of each normalised position feature to the lesion prototype,
        # min-max normalised per image to [0,1] (1 = closest to the 'with lesion' prototype).
        fn = F.normalize(x, dim=1)
        lmap = prototype_map(fn, protos[1])
        # constant per model: ONNX tracing records the branch taken
        omap = prototype_map(fn, F.normalize(self.location_proto, dim=0)) if bool(self.location_proto.any()) else lmap
        if self.use_lesion:
            att = x * (1 + lmap.unsqueeze(1))
            mch = lmap.unsqueeze(1)
        else:
            att = x
            mch = torch.zeros_like(lmap).unsqueeze(1)
        cm = coord_maps(h, w, x.device).unsqueeze(0).expand(n, 3, h, w)
        if not self.use_coords:
            cm = torch.zeros_like(cm)
        y = self.fuse(torch.cat([att, mch, cm], 1))
        for b in self.stage4:
            y = b(y)
        g4 = y.mean((2, 3))
        hid = self.drop(g4)
        return {
            "lesion_logits": lesion_logits,
            "class_logits": self.cls(hid),
            "type_logits": self.types(hid),
            "lesion_map": omap,
            "prototype_map": lmap,
            "features": torch.cat([g3, g4], 1) / 6.0,  # GAP of ReLU6 maps, scaled to [0,1]
            "stage4": y,
        }


class SliceNetExport(nn.Module):
    """ONNX wrapper: probabilities and the exact output names of the service contract."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        o = self.net(x)
        return (torch.softmax(o["lesion_logits"], 1)[:, 1], torch.softmax(o["class_logits"], 1),
                torch.sigmoid(o["type_logits"]), o["lesion_map"], o["features"])


# ---------------------------------------------------------------- patient level (paper III-C, App. A)

class NonParametric(nn.Module):
    """Appendix A over slice outputs. A slice is 'abnormal' when lesion_prob >= 0.5. If the normal share
    >= alpha, the patient is taken as normal and p(covid) = mean_i(lesion_i * covid_i) (small unless many
    slices are covid-like); otherwise p(covid) = mean covid prob over the abnormal slices."""

    def __init__(self, alpha=0.9, lesion_threshold=0.5):
        super().__init__()
        self.alpha, self.thr = alpha, lesion_threshold

    def forward(self, lesion_prob, class_probs):
        a = (lesion_prob >= self.thr).float()
        n = a.sum()
        s = torch.ones_like(lesion_prob).sum()
        pc = class_probs[:, 1]
        p_abn = (a * pc).sum() / n.clamp(min=1.0)
        p_norm = (lesion_prob * pc).sum() / s
        p = torch.where((s - n) / s >= self.alpha, p_norm, p_abn)
        return torch.stack([1 - p, p])


def _parts(n_ref, scale):
    """Part index floor(i*scale/S) of each of the S slices, computed from tensors (dynamic S in ONNX)."""
    ones = torch.ones_like(n_ref)
    i = torch.cumsum(ones, 0) - 1
    s = ones.sum()
    return torch.floor(i * scale / s)


class Refine(nn.Module):
    """Multi-head self-attention refinement within parts (block mask), FC back to D, residual."""

    def __init__(self, dim, d, heads):
        super().__init__()
        self.h, self.d = heads, d
        self.q, self.k, self.v = (nn.Linear(dim, d * heads) for _ in range(3))
        self.o = nn.Linear(d * heads, dim)

    def forward(self, x, same):  # x [B,S,D], same [S,S] bool
        b, s, _ = x.shape
        q = self.q(x).view(b, s, self.h, self.d).transpose(1, 2)
        k = self.k(x).view(b, s, self.h, self.d).transpose(1, 2)
        v = self.v(x).view(b, s, self.h, self.d).transpose(1, 2)
        att = q @ k.transpose(2, 3) / (self.d ** 0.5)
        att = att.masked_fill(~same, -1e4).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(b, s, self.h * self.d)
        return F.relu(x + self.o(y))


class Aggregate(nn.Module):
    """Single-head attention pooling with a learnable query; returns [B,P,d] and weights [B,P,S]."""

    def __init__(self, dim, d):
        super().__init__()
        self.query = nn.Parameter(torch.randn(d) * 0.1)
        self.k, self.v = nn.Linear(dim, d), nn.Linear(dim, d)
        self.d = d

    def forward(self, x, member):  # member [P,S] bool
        sc = (self.k(x) @ self.query) / (self.d ** 0.5)  # [B,S]
        sc = sc.unsqueeze(1).masked_fill(~member.unsqueeze(0), -1e4)
        w = sc.softmax(-1)
        return w @ self.v(x), w


class AttentionMIL(nn.Module):
    """Multi-scale feature refinement and aggregation head. Input: window-averaged slice features
    [B,S,F] and lesion_prob [B,S] (appended as one more feature)."""

    def __init__(self, in_dim=1152, dim=128, d=64, heads=4, scales=(1, 2, 3, 4), n_classes=2, dropout=0.3):
        super().__init__()
        self.scales = scales
        self.inp = nn.Sequential(nn.LayerNorm(in_dim + 1), nn.Dropout(dropout), nn.Linear(in_dim + 1, dim), nn.ReLU())
        self.ref1, self.ref2 = Refine(dim, d, heads), Refine(dim, d, heads)
        self.agg = Aggregate(dim, d)
        self.fc = nn.Sequential(nn.Linear(d * sum(scales), dim), nn.ReLU(), nn.Dropout(dropout))
        self.cls = nn.Linear(dim, n_classes)

    def forward(self, feats, lesion_prob):
        x = self.inp(torch.cat([feats, lesion_prob.unsqueeze(-1)], -1))
        outs, w1 = [], None
        for sc in self.scales:
            part = _parts(lesion_prob[0], sc)
            same = part.unsqueeze(0) == part.unsqueeze(1)
            member = torch.arange(sc, dtype=part.dtype).unsqueeze(1) == part.unsqueeze(0)
            y = self.ref2(self.ref1(x, same), same)
            a, w = self.agg(y, member)
            outs.append(a.flatten(1))
            if w1 is None:
                w1 = w[:, 0]
        return self.cls(self.fc(torch.cat(outs, 1))), w1


class AttentionMILExport(nn.Module):
    """The deployed patient head: logits divided by the temperature fitted on validation bags (calibration)."""

    def __init__(self, net, temperature=1.0):
        super().__init__()
        self.net = net
        self.temperature = float(temperature)

    def forward(self, features, lesion_prob):
        logits, w = self.net(features.unsqueeze(0), lesion_prob.unsqueeze(0))
        return torch.softmax(logits / self.temperature, -1)[0], w[0]
