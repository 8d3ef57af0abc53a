"""Schedules: pure functions of training progress p = n / N in [0, 1]."""

from __future__ import annotations

import math


def factor(progress: float, alpha: float = 10.0) -> float:
    """The paper's factor function (eq. 5): 2 / (1 + exp(-alpha * p)) - 1, from 0 to ~1."""
    return 2.0 / (1.0 + math.exp(-alpha * progress)) - 1.0


def clamp_limit(progress: float, clamp: float, alpha: float = 10.0) -> float:
    """Scheduled clamping (eq. 6): the cap on each per-sample domain loss term."""
    return clamp * factor(progress, alpha)


def lr_factor(step: int, total: int, schedule: str = "constant", warmup: float = 0.0) -> float:
    """Learning-rate multiplier at ``step`` of ``total``: linear warm-up over the first
    ``warmup`` fraction, then ``constant`` (1) or ``cosine`` (to 0 at the end)."""
    warm = int(round(warmup * total))
    if step < warm:
        return (step + 1) / warm
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        progress = (step - warm) / max(1, total - warm)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    raise ValueError(f"unknown schedule {schedule!r}; choose constant or cosine")
