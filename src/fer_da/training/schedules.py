"""Schedules: pure functions of training progress p = n / N in [0, 1]."""

from __future__ import annotations

import math


def factor(progress: float, alpha: float = 10.0) -> float:
    """The paper's factor function (eq. 5): 2 / (1 + exp(-alpha * p)) - 1, from 0 to ~1."""
    return 2.0 / (1.0 + math.exp(-alpha * progress)) - 1.0


def clamp_limit(progress: float, clamp: float, alpha: float = 10.0) -> float:
    """Scheduled clamping (eq. 6): the cap on each per-sample domain loss term."""
    return clamp * factor(progress, alpha)
