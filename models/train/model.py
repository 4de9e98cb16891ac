"""A small anchor-free YOLO-style detector in plain PyTorch (YOLOv8-like, sized for a Raspberry Pi).

Why this shape: C2f/SPPF blocks and a decoupled head with DFL box regression are what YOLOv8 uses and
train well from scratch; strides 8/16/32 keep distant people (~15 px at 320) and thin fishing rods on
the stride-8 map; widths are cut (P5 at 128 channels, depthwise convs in the class branch) to stay near
1 GFLOP at 320x320.  `forward` returns raw maps for training; `Export` wraps the model so the ONNX output
is the YOLOv8 layout [1, 4 + C, N] (cx, cy, w, h in input pixels, sigmoid class scores).
"""

from __future__ import annotations

import math

import torch
from torch import nn

STRIDES = (8, 16, 32)
REG_MAX = 16


class Conv(nn.Module):
    """Conv2d + BatchNorm + SiLU."""

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, g: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, groups=g, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    def __init__(self, c: int, shortcut: bool = True):
        super().__init__()
        self.cv1, self.cv2 = Conv(c, c, 3), Conv(c, c, 3)
        self.add = shortcut

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    """YOLOv8's CSP block: split, n bottlenecks, concatenate every intermediate, fuse with 1x1."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = True):
        super().__init__()
        self.c = c2 // 2
        self.cv1 = Conv(c1, 2 * self.c, 1)
        self.cv2 = Conv((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, shortcut) for _ in range(n))

    def forward(self, x):
        y = list(self.cv1(x).chunk(2, 1))
        for m in self.m:
            y.append(m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    """Spatial pyramid pooling (fast): large receptive field for big vehicles and stalls, cheaply."""

    def __init__(self, c1: int, c2: int, k: int = 5):
        super().__init__()
        c_ = c1 // 2
        self.cv1, self.cv2 = Conv(c1, c_, 1), Conv(c_ * 4, c2, 1)
        self.m = nn.MaxPool2d(k, 1, k // 2)

    def forward(self, x):
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(self.m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class Head(nn.Module):
    """Decoupled head per level: box branch (4 x REG_MAX DFL logits) and class branch (C logits)."""

    def __init__(self, nc: int, chs: tuple[int, ...], c_box: int = 48, c_cls: int = 64):
        super().__init__()
        self.nc = nc
        self.box = nn.ModuleList(
            nn.Sequential(Conv(c, c_box, 3), Conv(c_box, c_box, 3), nn.Conv2d(c_box, 4 * REG_MAX, 1)) for c in chs)
        self.cls = nn.ModuleList(
            nn.Sequential(Conv(c, c, 3, g=c), Conv(c, c_cls, 1), Conv(c_cls, c_cls, 3, g=c_cls),
                          Conv(c_cls, c_cls, 1), nn.Conv2d(c_cls, nc, 1)) for c in chs)

    def init_bias(self, img_size: int = 320) -> None:
        """YOLOv8's prior: box logits 1, class logits so that ~5 objects per 640 image are expected."""
        for b, c, s in zip(self.box, self.cls, STRIDES, strict=True):
            b[-1].bias.data[:] = 1.0
            c[-1].bias.data[:] = math.log(5 / self.nc / (img_size / s) ** 2)

    def forward(self, feats):
        return [torch.cat((b(x), c(x)), 1) for x, b, c in zip(feats, self.box, self.cls, strict=True)]


class Detector(nn.Module):
    """Backbone (stride 2..32) + PAN neck + decoupled head.  widths: stem, P2, P3, P4, P5 channels."""

    def __init__(self, nc: int = 6, widths=(16, 32, 64, 96, 128), depths=(1, 2, 2, 1)):
        super().__init__()
        w0, w1, w2, w3, w4 = widths
        self.nc = nc
        self.stem = Conv(3, w0, 3, 2)
        self.s2 = nn.Sequential(Conv(w0, w1, 3, 2), C2f(w1, w1, depths[0]))
        self.s3 = nn.Sequential(Conv(w1, w2, 3, 2), C2f(w2, w2, depths[1]))
        self.s4 = nn.Sequential(Conv(w2, w3, 3, 2), C2f(w3, w3, depths[2]))
        self.s5 = nn.Sequential(Conv(w3, w4, 3, 2), C2f(w4, w4, depths[3]), SPPF(w4, w4))
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.td4 = C2f(w4 + w3, w3, 1, False)
        self.td3 = C2f(w3 + w2, w2, 1, False)
        self.dn3 = Conv(w2, w2, 3, 2)
        self.bu4 = C2f(w2 + w3, w3, 1, False)
        self.dn4 = Conv(w3, w3, 3, 2)
        self.bu5 = C2f(w3 + w4, w4, 1, False)
        self.head = Head(nc, (w2, w3, w4))
        self.head.init_bias()

    def forward(self, x):
        """Raw per-level maps [B, 4*REG_MAX + nc, H/s, W/s] for s in STRIDES."""
        p3 = self.s3(self.s2(self.stem(x)))
        p4 = self.s4(p3)
        p5 = self.s5(p4)
        t4 = self.td4(torch.cat((self.up(p5), p4), 1))
        t3 = self.td3(torch.cat((self.up(t4), p3), 1))
        b4 = self.bu4(torch.cat((self.dn3(t3), t4), 1))
        b5 = self.bu5(torch.cat((self.dn4(b4), p5), 1))
        return self.head([t3, b4, b5])


def make_anchors(feats, strides=STRIDES, offset: float = 0.5):
    """Anchor centres (in grid units of their level) and per-anchor stride, for all levels."""
    pts, strd = [], []
    for f, s in zip(feats, strides, strict=True):
        h, w = f.shape[2:]
        sy, sx = torch.meshgrid(torch.arange(h, dtype=torch.float32) + offset,
                                torch.arange(w, dtype=torch.float32) + offset, indexing="ij")
        pts.append(torch.stack((sx, sy), -1).view(-1, 2))
        strd.append(torch.full((h * w, 1), float(s)))
    return torch.cat(pts), torch.cat(strd)


def dfl_decode(box_logits: torch.Tensor) -> torch.Tensor:
    """[B, A, 4*REG_MAX] logits -> [B, A, 4] expected distances (grid units) left, top, right, bottom."""
    b, a, _ = box_logits.shape
    p = box_logits.view(b, a, 4, REG_MAX).softmax(-1)
    return p @ torch.arange(REG_MAX, dtype=p.dtype, device=p.device)


def split_outputs(maps, nc: int):
    """Flatten level maps to (box logits [B, A, 4*REG_MAX], class logits [B, A, nc])."""
    x = torch.cat([m.flatten(2) for m in maps], 2).permute(0, 2, 1)
    return x[..., : 4 * REG_MAX], x[..., 4 * REG_MAX:]


class Export(nn.Module):
    """Inference wrapper: [1, 3, H, W] RGB 0..1 -> [1, 4 + nc, N] YOLOv8 layout (no NMS)."""

    def __init__(self, model: Detector, img_size: int = 320):
        super().__init__()
        self.model = model
        with torch.no_grad():
            feats = model(torch.zeros(1, 3, img_size, img_size))
        anchors, strides = make_anchors(feats)
        self.register_buffer("anchors", anchors * strides)  # pixels
        self.register_buffer("strides", strides)
        self.register_buffer("proj", torch.arange(REG_MAX, dtype=torch.float32).view(1, 1, 1, REG_MAX))

    def forward(self, x):
        box, cls = split_outputs(self.model(x), self.model.nc)
        b, a, _ = box.shape
        d = (box.view(b, a, 4, REG_MAX).softmax(-1) * self.proj).sum(-1) * self.strides
        lt, rb = d[..., :2], d[..., 2:]
        xy = self.anchors + (rb - lt) / 2
        wh = lt + rb
        return torch.cat((xy, wh, cls.sigmoid()), -1).permute(0, 2, 1)


def fuse(model: nn.Module) -> nn.Module:
    """Fold every BatchNorm into its conv (inference only): smaller, faster ONNX."""
    for m in model.modules():
        if isinstance(m, Conv) and isinstance(m.bn, nn.BatchNorm2d):
            c, bn = m.conv, m.bn
            w = c.weight * (bn.weight / torch.sqrt(bn.running_var + bn.eps)).view(-1, 1, 1, 1)
            b = bn.bias - bn.running_mean * bn.weight / torch.sqrt(bn.running_var + bn.eps)
            fused = nn.Conv2d(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding,
                              groups=c.groups, bias=True)
            fused.weight.data, fused.bias.data = w.detach(), b.detach()
            m.conv, m.bn = fused, nn.Identity()
    return model


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_gflops(model: nn.Module, img_size: int = 320) -> float:
    """GFLOPs at img_size x img_size counted as 2 x multiply-accumulates of convs (ultralytics' way)."""
    macs = [0]

    def hook(m, _inp, out):
        k = m.kernel_size[0] * m.kernel_size[1] * m.in_channels // m.groups
        macs[0] += out.numel() * k

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    was = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, img_size, img_size))
    model.train(was)
    for h in hs:
        h.remove()
    return 2 * macs[0] / 1e9
