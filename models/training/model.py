"""MLung-Sys slice network on an ImageNet MobileNetV1-0.75 backbone, its models-2.0 infection decoder, and the
patient level over the volume evidence.

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
        # 1.2.0's location prototype for its output map; unused since 2.0 (the infection decoder) but kept in the
        # state_dict so that the 1.2.0 and 2.0 weights load into the same class.
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
        return self._head(x)

    def _head(self, x):
        n, c, h, w = x.shape
        g3 = x.mean((2, 3))
        protos = F.normalize(self.lesion_proto, dim=1)
        lesion_logits = self.lesion_scale * F.normalize(g3, dim=1) @ protos.t() + self.lesion_bias
        lmap = prototype_map(F.normalize(x, dim=1), protos[1])
        att = x * (1 + lmap.unsqueeze(1)) if self.use_lesion else x
        mch = lmap.unsqueeze(1) if self.use_lesion else torch.zeros_like(lmap).unsqueeze(1)
        cm = coord_maps(h, w, x.device).unsqueeze(0).expand(n, 3, h, w)
        if not self.use_coords:
            cm = torch.zeros_like(cm)
        y = self.fuse(torch.cat([att, mch, cm], 1))
        for b in self.stage4:
            y = b(y)
        g4 = y.mean((2, 3))
        hid = self.drop(g4)
        return {"lesion_logits": lesion_logits, "class_logits": self.cls(hid), "type_logits": self.types(hid),
                "prototype_map": lmap, "features": torch.cat([g3, g4], 1) / 6.0, "stage4": y}


class InfectionDecoder(nn.Module):
    """Light U-Net-style decoder: stage-3 features (stride 16) upsampled twice with skips from stride 8 and 4, one
    logit per position at 1/4 of the input resolution (56x56 for 224): the per-pixel infection probability."""

    def __init__(self, c4=96, c8=192, c16=384, mid=64):
        super().__init__()
        self.top = nn.Sequential(nn.Conv2d(c16, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU())
        self.lat8 = nn.Sequential(nn.Conv2d(c8, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU())
        self.lat4 = nn.Sequential(nn.Conv2d(c4, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU())
        self.mix8 = nn.Sequential(nn.Conv2d(mid, mid, 3, padding=1, groups=mid, bias=False), nn.Conv2d(mid, mid, 1, bias=False),
                                  nn.BatchNorm2d(mid), nn.ReLU())
        self.mix4 = nn.Sequential(nn.Conv2d(mid, mid, 3, padding=1, groups=mid, bias=False), nn.Conv2d(mid, mid, 1, bias=False),
                                  nn.BatchNorm2d(mid), nn.ReLU())
        self.out = nn.Conv2d(mid, 1, 1)
        nn.init.constant_(self.out.bias, -3.0)  # start near "no infection" everywhere

    def forward(self, f4, f8, f16):
        x = self.top(f16)
        x = self.mix8(F.interpolate(x, size=f8.shape[2:], mode="bilinear", align_corners=False) + self.lat8(f8))
        x = self.mix4(F.interpolate(x, size=f4.shape[2:], mode="bilinear", align_corners=False) + self.lat4(f4))
        return self.out(x)[:, 0]


class SegSliceNet(SliceNet):
    """Models 2.0 slice network: SliceNet plus the infection decoder over its stride-4/8/16 features."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.decoder = InfectionDecoder()

    def forward(self, x):
        x = F.relu6(self.conv1_bn(self.conv1(x)))
        skips = {}
        for i, b in enumerate(self.stage3):
            x = b(x)
            if i == 2:
                skips[4] = x
            elif i == 4:
                skips[8] = x
        o = self._head(x)
        o["infection_logits"] = self.decoder(skips[4], skips[8], x)
        return o


# Averaging with the horizontally flipped input (maps flipped back) doubles the network's work for +0.006 UCSD test
# AUC on 2.0 (inference_variants.py); off from 2.1.0 so the worker keeps 1.2.0's throughput (model card).
INFERENCE_FLIP = False


class SegSliceNetExport(nn.Module):
    """ONNX wrapper of the 2.x slice network, with the service contract's output names, optionally averaged with the
    horizontally flipped input (INFERENCE_FLIP). lesion_map = the calibrated infection probability per position (56x56
    over the crop)."""

    def __init__(self, net, flip=INFERENCE_FLIP):
        super().__init__()
        self.net, self.flip = net, flip

    def forward(self, x):
        o = self.net(x)
        lp = torch.softmax(o["lesion_logits"], 1)[:, 1]
        cp = torch.softmax(o["class_logits"], 1)
        tp = torch.sigmoid(o["type_logits"])
        im = torch.sigmoid(o["infection_logits"])
        f = o["features"]
        if self.flip:
            q = self.net(x.flip(3))
            lp = (lp + torch.softmax(q["lesion_logits"], 1)[:, 1]) / 2
            cp = (cp + torch.softmax(q["class_logits"], 1)) / 2
            tp = (tp + torch.sigmoid(q["type_logits"])) / 2
            im = (im + torch.sigmoid(q["infection_logits"]).flip(2)) / 2
            f = (f + q["features"]) / 2
        return lp, cp, tp, im, f


class VolumeEvidence(nn.Module):
    """Models 2.0 patient level over the slices' volume evidence. Inputs per slice: infected area, lung area (mm²),
    the slice classifier's class probabilities. Outputs: `infection_fraction` [1] = infected share of the lung, and
    `class_probs` [2] = the class probabilities averaged over the slices weighted by their infected area (the
    COVID-19 pattern as the classifier sees the infected slices; a plain mean when nothing is infected)."""

    def forward(self, infected_area_mm2, lung_area_mm2, slice_class_probs):
        w = infected_area_mm2.clamp(min=0) + 1e-6
        cp = (w.unsqueeze(1) * slice_class_probs).sum(0) / w.sum()
        frac = infected_area_mm2.clamp(min=0).sum() / lung_area_mm2.clamp(min=0).sum().clamp(min=1.0)
        return cp, frac.reshape(1)
