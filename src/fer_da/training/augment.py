"""Augmentation on the device, seeded per run: one affine warp and a photometric jitter per
image, applied to a whole batch at once (no per-image Python loop). Off at evaluation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from fer_da.training.options import AugmentConfig  # noqa: F401 - re-exported


def _uniform(n: int, low: float, high: float, gen: torch.Generator,
             device: torch.device) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=gen, device=device)


def augment(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """(B, 1, H, W) uint8 or float in 0..255 -> float (B, 1, H, W) in 0..255, augmented.

    ``gen`` lives on ``x``'s device and is seeded once per run, so a run is reproducible.
    """
    x = x.float()
    if not cfg.enabled:
        return x
    b, dev = x.shape[0], x.device
    angle = _uniform(b, -cfg.rotate, cfg.rotate, gen, dev) * (math.pi / 180.0)
    zoom = _uniform(b, 1.0 - cfg.scale, 1.0 + cfg.scale, gen, dev)
    flip = (torch.where(torch.rand(b, generator=gen, device=dev) < 0.5, -1.0, 1.0)
            if cfg.flip else torch.ones(b, device=dev))
    shift = _uniform(2 * b, -cfg.translate, cfg.translate, gen, dev).view(b, 2) * 2.0
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos * flip, -sin, shift[:, 0]], 1),
                         torch.stack([sin * flip, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    v = x / 255.0
    mean = v.mean(dim=(1, 2, 3), keepdim=True)
    c = _uniform(b, 1.0 - cfg.contrast, 1.0 + cfg.contrast, gen, dev).view(b, 1, 1, 1)
    br = _uniform(b, -cfg.brightness, cfg.brightness, gen, dev).view(b, 1, 1, 1)
    g = torch.exp(_uniform(b, -cfg.gamma, cfg.gamma, gen, dev)).view(b, 1, 1, 1)
    v = ((v - mean) * c + mean + br).clamp(0.0, 1.0) ** g
    if cfg.erase > 0:
        h, w = x.shape[2:]
        eh = (_uniform(b, 0.1, 0.5, gen, dev) * h).long().clamp(min=1)
        ew = (_uniform(b, 0.1, 0.5, gen, dev) * w).long().clamp(min=1)
        y0 = (torch.rand(b, generator=gen, device=dev) * (h - eh + 1)).long()
        x0 = (torch.rand(b, generator=gen, device=dev) * (w - ew + 1)).long()
        rows = torch.arange(h, device=dev).view(1, h, 1)
        cols = torch.arange(w, device=dev).view(1, 1, w)
        box = ((rows >= y0.view(b, 1, 1)) & (rows < (y0 + eh).view(b, 1, 1))
               & (cols >= x0.view(b, 1, 1)) & (cols < (x0 + ew).view(b, 1, 1)))
        chosen = (torch.rand(b, generator=gen, device=dev) < cfg.erase).view(b, 1, 1)
        v = torch.where((box & chosen).unsqueeze(1), mean, v)
    return v * 255.0
