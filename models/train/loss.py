"""Task-aligned assignment (as in YOLOv8/TOOD) and the detection loss (CIoU + DFL + BCE).

Why TAL: it picks, per ground-truth box, the anchors whose *current* class score and box IoU are both
high, so classification and localisation are trained on the same anchors.  One change from YOLOv8:
a box smaller than an anchor's stride still gets candidates (the gt box is grown to at least one stride
around its centre when testing "anchor centre inside the box"), so a 5-px crew member or a short rod is
never left without a positive anchor.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from models.train.model import REG_MAX, dfl_decode, make_anchors, split_outputs


def box_iou_pairwise(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """IoU of boxes a[..., 4] and b[..., 4] (xyxy), broadcast element-wise."""
    iw = (torch.minimum(a[..., 2], b[..., 2]) - torch.maximum(a[..., 0], b[..., 0])).clamp(0)
    ih = (torch.minimum(a[..., 3], b[..., 3]) - torch.maximum(a[..., 1], b[..., 1])).clamp(0)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / (area_a + area_b - inter + eps)


def ciou(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Complete IoU (IoU minus centre-distance and aspect-ratio penalties), element-wise."""
    iou = box_iou_pairwise(a, b, eps)
    w1, h1 = a[..., 2] - a[..., 0], a[..., 3] - a[..., 1] + eps
    w2, h2 = b[..., 2] - b[..., 0], b[..., 3] - b[..., 1] + eps
    cw = torch.maximum(a[..., 2], b[..., 2]) - torch.minimum(a[..., 0], b[..., 0])
    ch = torch.maximum(a[..., 3], b[..., 3]) - torch.minimum(a[..., 1], b[..., 1])
    c2 = cw**2 + ch**2 + eps
    rho2 = ((b[..., 0] + b[..., 2] - a[..., 0] - a[..., 2]) ** 2 + (b[..., 1] + b[..., 3] - a[..., 1] - a[..., 3]) ** 2) / 4
    v = (4 / math.pi**2) * (torch.atan(w2 / h2) - torch.atan(w1 / h1)).pow(2)
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - (rho2 / c2 + v * alpha)


class TaskAlignedAssigner:
    """Assign anchors to gt boxes by t = score^alpha * IoU^beta, top-k per gt, one gt per anchor."""

    def __init__(self, topk: int = 10, alpha: float = 0.5, beta: float = 6.0, eps: float = 1e-9):
        self.topk, self.alpha, self.beta, self.eps = topk, alpha, beta, eps

    @torch.no_grad()
    def __call__(self, pd_scores, pd_boxes, anchors, strides, gt_labels, gt_boxes, mask_gt):
        """pd_scores [B,A,C] (sigmoid), pd_boxes [B,A,4] px, anchors [A,2] px, strides [A,1],
        gt_labels [B,M,1], gt_boxes [B,M,4] px, mask_gt [B,M,1].
        Returns target boxes [B,A,4], target scores [B,A,C], foreground mask [B,A]."""
        b, a, c = pd_scores.shape
        m = gt_boxes.shape[1]
        if m == 0:
            return (torch.zeros_like(pd_boxes), torch.zeros_like(pd_scores),
                    torch.zeros(b, a, dtype=torch.bool, device=pd_scores.device))
        # candidates: anchor centre inside the gt box grown to >= 1 stride around its centre
        ctr = (gt_boxes[..., :2] + gt_boxes[..., 2:]) / 2  # [B,M,2]
        half = ((gt_boxes[..., 2:] - gt_boxes[..., :2]) / 2).unsqueeze(2)  # [B,M,1,2]
        half = torch.maximum(half, strides.view(1, 1, a, 1) / 2)
        d = (anchors.view(1, 1, a, 2) - ctr.unsqueeze(2)).abs()
        in_gts = (d <= half).all(-1) & mask_gt.bool()  # [B,M,A]

        # IoU floored at 1e-6 on candidates so a gt that no prediction overlaps yet still gets anchors
        overlaps = box_iou_pairwise(gt_boxes.unsqueeze(2), pd_boxes.unsqueeze(1)).clamp(min=1e-6) * in_gts
        lab = gt_labels.long().squeeze(-1).clamp(0, c - 1)  # [B,M]
        scores = pd_scores.gather(2, lab.unsqueeze(1).expand(b, a, m)).permute(0, 2, 1)  # [B,M,A]
        align = scores.pow(self.alpha) * overlaps.pow(self.beta) * in_gts

        k = min(self.topk, a)
        _, top_idx = align.topk(k, dim=-1)
        is_top = torch.zeros_like(align, dtype=torch.bool).scatter_(-1, top_idx, True)
        mask_pos = is_top & in_gts
        # one gt per anchor: the one with the highest IoU
        multi = mask_pos.sum(1, keepdim=True) > 1  # [B,1,A]
        if multi.any():
            best = overlaps.argmax(1, keepdim=True)  # [B,1,A]
            one = torch.zeros_like(mask_pos).scatter_(1, best, True)
            mask_pos = torch.where(multi, one & in_gts, mask_pos)
        fg = mask_pos.any(1)  # [B,A]
        gt_idx = mask_pos.float().argmax(1)  # [B,A]

        batch = torch.arange(b, device=gt_boxes.device).view(-1, 1)
        t_boxes = gt_boxes[batch, gt_idx]  # [B,A,4]
        t_labels = lab[batch, gt_idx]  # [B,A]
        t_scores = F.one_hot(t_labels, c).float() * fg.unsqueeze(-1)

        align = align * mask_pos
        pos_align_max = align.amax(-1, keepdim=True)  # [B,M,1]
        pos_iou_max = (overlaps * mask_pos).amax(-1, keepdim=True)
        norm = (align * pos_iou_max / (pos_align_max + self.eps)).amax(1)  # [B,A]
        return t_boxes, t_scores * norm.unsqueeze(-1), fg


class DetectionLoss:
    """Loss = 7.5 * (1 - CIoU) + 1.5 * DFL + 0.5 * BCE, each normalised by the sum of target scores."""

    def __init__(self, nc: int, box_gain: float = 7.5, cls_gain: float = 0.5, dfl_gain: float = 1.5,
                 cls_weights: torch.Tensor | None = None):
        self.nc = nc
        self.gains = (box_gain, cls_gain, dfl_gain)
        self.assigner = TaskAlignedAssigner()
        self.cls_weights = cls_weights

    def __call__(self, maps, targets: torch.Tensor):
        """maps: model outputs; targets [K, 6] = (image index, class, x1, y1, x2, y2) in input pixels.
        Returns (total loss scaled by batch size, detached [box, cls, dfl])."""
        box_logits, cls_logits = split_outputs(maps, self.nc)
        bsz = box_logits.shape[0]
        anchors, strides = make_anchors(maps)
        anchors, strides = anchors.to(box_logits.device), strides.to(box_logits.device)
        dist = dfl_decode(box_logits)  # grid units
        pd_boxes = torch.cat((anchors - dist[..., :2], anchors + dist[..., 2:]), -1) * strides  # px

        gt_labels, gt_boxes, mask_gt = self._pad(targets, bsz)
        t_boxes, t_scores, fg = self.assigner(cls_logits.detach().sigmoid(), pd_boxes.detach(),
                                              anchors * strides, strides, gt_labels, gt_boxes, mask_gt)
        t_sum = t_scores.sum().clamp(min=1.0)
        bce = F.binary_cross_entropy_with_logits(cls_logits, t_scores, reduction="none")
        if self.cls_weights is not None:
            bce = bce * self.cls_weights.to(bce.device)
        l_cls = bce.sum() / t_sum
        l_box = l_dfl = torch.zeros((), device=box_logits.device)
        if fg.any():
            w = t_scores.sum(-1)[fg]
            l_box = ((1.0 - ciou(pd_boxes[fg], t_boxes[fg])) * w).sum() / t_sum
            tb = t_boxes[fg] / strides[fg.nonzero()[:, 1]]
            anc = anchors[fg.nonzero()[:, 1]]
            ltrb = torch.cat((anc - tb[:, :2], tb[:, 2:] - anc), -1).clamp(0, REG_MAX - 1 - 0.01)
            l_dfl = (self._dfl(box_logits[fg].view(-1, REG_MAX), ltrb.view(-1)).view(-1, 4).mean(-1) * w).sum() / t_sum
        bg, cg, dg = self.gains
        total = bg * l_box + cg * l_cls + dg * l_dfl
        return total * bsz, torch.stack((l_box, l_cls, l_dfl)).detach()

    @staticmethod
    def _dfl(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Distribution focal loss: cross-entropy to the two bins around the continuous target."""
        tl = target.long()
        wl = tl + 1 - target
        return (F.cross_entropy(logits, tl, reduction="none") * wl
                + F.cross_entropy(logits, tl + 1, reduction="none") * (1 - wl))

    @staticmethod
    def _pad(targets: torch.Tensor, bsz: int):
        """[K,6] -> labels [B,M,1], boxes [B,M,4], mask [B,M,1] padded to the largest image's count."""
        counts = torch.bincount(targets[:, 0].long(), minlength=bsz) if len(targets) else torch.zeros(bsz, dtype=torch.long)
        m = int(counts.max()) if len(targets) else 0
        labels = torch.zeros(bsz, m, 1)
        boxes = torch.zeros(bsz, m, 4)
        mask = torch.zeros(bsz, m, 1)
        for i in range(bsz):
            sel = targets[targets[:, 0] == i]
            n = len(sel)
            labels[i, :n, 0] = sel[:, 1]
            boxes[i, :n] = sel[:, 2:6]
            mask[i, :n] = 1
        return labels, boxes, mask
