"""Training loop: AdamW, linear warm-up then cosine LR, EMA of weights, resumable checkpoints.

Why resumable: a CPU run takes hours on a shared 2-core box; `last.pt` is written every epoch and every
few minutes (atomically), and `--resume` continues from it with the same LR schedule.
"""

from __future__ import annotations

import copy
import json
import math
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from models.train.augment import make_sample
from models.train.dataset import load_index
from models.train.loss import DetectionLoss
from models.train.model import Detector, Export, count_gflops, count_params
from simulator import CLASSES


class FrameDataset(Dataset):
    """Cached frames -> augmented 320x320 samples; a fresh random view of each frame every epoch."""

    def __init__(self, root: str | Path, size: int = 320, seed: int = 0, p_full: float = 0.5):
        self.root = Path(root)
        self.recs = load_index(root)
        self.size, self.seed, self.p_full = size, seed, p_full
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.recs)

    def _load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        r = self.recs[i]
        img = cv2.imread(str(self.root / "images" / r["file"]), cv2.IMREAD_COLOR)
        return img, np.array(r["boxes"], np.float32).reshape(-1, 5)

    def __getitem__(self, i: int):
        rng = np.random.default_rng([self.seed, self.epoch, i])
        img, boxes = self._load(i)
        other = lambda: self._load(int(rng.integers(len(self.recs))))  # noqa: E731
        out, b = make_sample(img, boxes, rng, other, self.size, self.p_full)
        x = torch.from_numpy(np.ascontiguousarray(out[..., ::-1].transpose(2, 0, 1)))
        return x, torch.from_numpy(b.astype(np.float32))


def collate(batch):
    imgs = torch.stack([b[0] for b in batch]).float() / 255.0
    t = [torch.cat((torch.full((len(b[1]), 1), float(i)), b[1]), 1) for i, b in enumerate(batch)]
    return imgs, torch.cat(t) if t else torch.zeros(0, 6)


class EMA:
    """Exponential moving average of weights (buffers copied); decay ramps up over the first steps."""

    def __init__(self, model: torch.nn.Module, decay: float = 0.9995, tau: float = 1000.0, updates: int = 0):
        self.ema = copy.deepcopy(model).eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        self.decay, self.tau, self.updates = decay, tau, updates

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.tau))
        msd = model.state_dict()
        for k, v in self.ema.state_dict().items():
            if v.dtype.is_floating_point:
                v.mul_(d).add_(msd[k].detach(), alpha=1 - d)
            else:
                v.copy_(msd[k])


def lr_at(it: int, total: int, warmup: int, lr0: float, lrf: float) -> float:
    if it < warmup:
        return lr0 * (it + 1) / warmup
    p = (it - warmup) / max(1, total - warmup)
    return lr0 * (lrf + (1 - lrf) * 0.5 * (1 + math.cos(math.pi * min(p, 1.0))))


def train_step(model: torch.nn.Module, opt: torch.optim.Optimizer, ema: EMA, loss_fn, imgs, targets,
               lr: float) -> torch.Tensor:
    """One optimisation step at learning rate `lr` (clipped gradients, EMA updated); the loss parts."""
    for group in opt.param_groups:
        group["lr"] = lr
    loss, parts = loss_fn(model(imgs), targets)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
    opt.step()
    ema.update(model)
    return parts


def make_optimizer(model: torch.nn.Module, lr: float, wd: float) -> torch.optim.Optimizer:
    """Weight decay on conv weights only (not on BatchNorm or biases), as YOLO does."""
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (decay if p.ndim > 1 and ".bn." not in n else no_decay).append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}],
                             lr=lr, betas=(0.937, 0.999))


def _save_ckpt(path: Path, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def train(data: str | Path, out: str | Path, epochs: int = 20, batch: int = 16, lr: float = 2e-3,
          wd: float = 5e-4, seed: int = 0, workers: int = 1, resume: bool = False, max_iters: int | None = None,
          eval_every: int = 0, eval_step: int = 40, threads: int | None = None, ckpt_minutes: float = 10.0,
          widths=(16, 32, 64, 96, 128), depths=(1, 2, 2, 1), log=print) -> Path:
    """Train, checkpointing to out/last.pt (resumable) and the EMA weights to out/best.pt at the end."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    ds = FrameDataset(data, seed=seed)
    model = Detector(len(CLASSES), widths, depths)
    opt = make_optimizer(model, lr, wd)
    ema = EMA(model)
    loss_fn = DetectionLoss(len(CLASSES))
    start_epoch, it, prior_s = 0, 0, 0.0
    last = out / "last.pt"
    if resume and last.exists():
        ck = torch.load(last, map_location="cpu", weights_only=False)
        model.load_state_dict(ck["model"])
        ema.ema.load_state_dict(ck["ema"])
        ema.updates = ck["ema_updates"]
        opt.load_state_dict(ck["opt"])
        start_epoch, it, prior_s = ck["epoch"], ck["iter"], ck.get("elapsed_s", 0.0)
        log(f"resumed from {last}: epoch {start_epoch}, iteration {it}")
    per_epoch = len(ds) // batch
    total = epochs * per_epoch if max_iters is None else max_iters
    warmup = min(500, max(1, total // 10))
    meta = {"params": count_params(model), "gflops": round(count_gflops(model), 3), "images": len(ds),
            "epochs": epochs, "batch": batch, "lr": lr, "seed": seed, "widths": list(widths), "depths": list(depths)}
    log(json.dumps({"train": meta}))
    history = json.loads((out / "history.json").read_text()) if resume and (out / "history.json").exists() else []
    t_start, t_ckpt = time.time() - prior_s, time.time()  # elapsed time carries over a resume

    def checkpoint(epoch_done: int) -> None:
        _save_ckpt(last, {"model": model.state_dict(), "ema": ema.ema.state_dict(), "ema_updates": ema.updates,
                          "opt": opt.state_dict(), "epoch": epoch_done, "iter": it, "meta": meta,
                          "elapsed_s": time.time() - t_start})

    for epoch in range(start_epoch, epochs):
        ds.epoch = epoch
        order = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed * 1000 + epoch)).tolist()
        done = max(0, it - epoch * per_epoch) if epoch == start_epoch else 0  # batches done before a resume
        dl = DataLoader(ds, batch_size=batch, sampler=order[done * batch:], num_workers=workers,
                        collate_fn=collate, drop_last=True)
        model.train()
        t0, seen, run = time.time(), 0, torch.zeros(3)
        for bi, (imgs, targets) in enumerate(dl, done):
            parts = train_step(model, opt, ema, loss_fn, imgs, targets, lr_at(it, total, warmup, lr, 0.02))
            it += 1
            seen += len(imgs)
            run = run * 0.98 + parts * 0.02 if seen > len(imgs) else parts
            if bi % 20 == 0:
                el = time.time() - t0
                log(f"epoch {epoch + 1}/{epochs} iter {bi}/{per_epoch} ({it}/{total}) loss box {run[0]:.3f} "
                    f"cls {run[1]:.3f} dfl {run[2]:.3f} lr {opt.param_groups[0]['lr']:.2e} "
                    f"{seen / max(el, 1e-6):.1f} img/s elapsed {(time.time() - t_start) / 60:.1f} min")
            if time.time() - t_ckpt > ckpt_minutes * 60:
                checkpoint(epoch)
                t_ckpt = time.time()
            if it >= total:
                break
        checkpoint(epoch + 1)
        t_ckpt = time.time()
        rec = {"epoch": epoch + 1, "iter": it, "loss": [round(float(v), 4) for v in run],
               "epoch_s": round(time.time() - t0, 1), "elapsed_min": round((time.time() - t_start) / 60, 1)}
        if eval_every and ((epoch + 1) % eval_every == 0 or epoch + 1 == epochs):
            from models.train.evaluate import evaluate, torch_predictor

            torch.save({"model": ema.ema.state_dict(), "meta": meta}, out / f"ema_epoch{epoch + 1}.pt")
            res = evaluate(torch_predictor(Export(ema.ema).eval()), step=eval_step, progress=False)
            rec["eval_map50"] = res["full_frame"]["map50"]
            rec["eval_ap50"] = res["full_frame"]["per_class_ap50"]
        history.append(rec)
        (out / "history.json").write_text(json.dumps(history, indent=1))
        log(json.dumps(rec))
        if it >= total:
            break
    final = out / "best.pt"
    torch.save({"model": ema.ema.state_dict(), "meta": meta, "history": history}, final)
    log(f"done: {it} iterations in {(time.time() - t_start) / 60:.1f} min -> {final}")
    sys.stdout.flush()
    return final


def load_model(path: str | Path) -> Detector:
    """A trained Detector (EMA weights) from best.pt / ema_epochN.pt, or the EMA inside last.pt."""
    ck = torch.load(path, map_location="cpu", weights_only=False)
    meta = ck.get("meta", {})
    m = Detector(len(CLASSES), tuple(meta.get("widths", (16, 32, 64, 96, 128))),
                 tuple(meta.get("depths", (1, 2, 2, 1))))
    m.load_state_dict(ck["ema"] if "ema" in ck else ck["model"])
    return m.eval()
