"""Index plans for one epoch. Pure functions of sizes, batch size and a generator."""

from __future__ import annotations

import math

import numpy as np


def balanced_steps(sizes: list[int], batch_size: int) -> int:
    """Steps of a balanced epoch: as many as the longest domain needs."""
    return math.ceil(max(sizes) / batch_size)


def balanced_epoch(sizes: list[int], batch_size: int, rng: np.random.Generator,
                   steps: int | None = None) -> list[list[np.ndarray]]:
    """Balanced aggregated batches (III-F): every step takes ``batch_size`` from each domain.

    An epoch is as long as the longest domain needs (or ``steps``); shorter domains are
    cycled, reshuffled each time they run out. Returns steps x domains index arrays.
    """
    if min(sizes) < 1:
        raise ValueError(f"every domain needs at least one sample, got sizes {sizes}")
    steps = steps or balanced_steps(sizes, batch_size)
    plans = []
    for n in sizes:
        order = np.concatenate([rng.permutation(n)
                                for _ in range(math.ceil(steps * batch_size / n))])
        plans.append(order[: steps * batch_size].reshape(steps, batch_size))
    return [[plan[s] for plan in plans] for s in range(steps)]


def shuffled_epoch(size: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Plain shuffled mini-batches over one pooled set (the last batch may be short)."""
    order = rng.permutation(size)
    return [order[i: i + batch_size] for i in range(0, size, batch_size)]
