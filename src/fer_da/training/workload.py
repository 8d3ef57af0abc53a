"""How much a grid of runs trains: images per epoch and in total, and the time that takes.

Pure arithmetic on run plans and training-split sizes; used to project the wall time of an
experiment grid from a measured (or assumed) throughput.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from fer_da.training.batching import balanced_steps
from fer_da.training.config import RunPlan


def epoch_images(plan: RunPlan, train_sizes: Mapping[str, int]) -> int:
    """Images one epoch of ``plan`` pushes through the model (forward and backward).

    DANN: balanced aggregated steps of ``batch_size`` per domain, as many as the longest
    domain needs (shorter ones are cycled). Supervised: one pass over the pooled domains.
    """
    missing = sorted(set(plan.train_domains) - set(train_sizes))
    if missing:
        raise ValueError(f"{plan.run_id}: no training-split size for {missing}")
    sizes = [int(train_sizes[d]) for d in plan.train_domains]
    if min(sizes) < 1:
        raise ValueError(f"{plan.run_id}: every training domain needs images, got {sizes}")
    if plan.mode == "dann":
        return balanced_steps(sizes, plan.config.batch_size) * plan.config.batch_size * len(sizes)
    return sum(sizes)


def grid_images(plans: Iterable[RunPlan], train_sizes: Mapping[str, int]) -> dict[str, int]:
    """Training images of each run over all its epochs, keyed by run id."""
    return {p.run_id: epoch_images(p, train_sizes) * p.config.epochs for p in plans}


def seconds_at_throughput(images: int, images_per_s: float) -> float:
    """Wall time of ``images`` training images at a measured throughput."""
    if not images_per_s > 0:
        raise ValueError(f"throughput must be positive, got {images_per_s}")
    return images / images_per_s


def seconds_at_mfu(images: int, flops_per_image: float, peak_tflops: float,
                   mfu: float) -> float:
    """Wall time if training ran at ``mfu`` (0-1] of a device's ``peak_tflops``."""
    if not (0 < mfu <= 1) or peak_tflops <= 0 or flops_per_image <= 0:
        raise ValueError("need 0 < mfu <= 1, peak_tflops > 0 and flops_per_image > 0")
    return images * flops_per_image / (mfu * peak_tflops * 1e12)


def format_duration(seconds: float) -> str:
    """``'1 h 05 min'``, ``'9.4 min'`` or ``'42 s'``."""
    if not math.isfinite(seconds):
        return "n/a"
    if seconds >= 3600:
        hours, rest = divmod(round(seconds / 60), 60)
        return f"{hours} h {rest:02d} min"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s"
