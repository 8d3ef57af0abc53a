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


def class_balanced_epoch(labels: np.ndarray, batch_size: int,
                         rng: np.random.Generator) -> list[np.ndarray]:
    """Class-balanced mini-batches (selective learning, paper 002): each batch takes an
    equal share of every present class (the remainder to randomly chosen classes); classes
    are cycled and reshuffled when they run out. As many steps as a shuffled epoch, so the
    labelled budget is unchanged."""
    classes = np.unique(labels)
    if not len(classes):
        raise ValueError("class-balanced batches need at least one labelled sample")
    members = [np.flatnonzero(labels == c) for c in classes]
    steps = math.ceil(len(labels) / batch_size)
    queues = [np.concatenate([rng.permutation(m) for _ in range(
        math.ceil(steps * batch_size / len(m)) + 1)]) for m in members]
    heads = [0] * len(classes)
    out = []
    for _ in range(steps):
        share = np.full(len(classes), batch_size // len(classes))
        share[rng.choice(len(classes), batch_size % len(classes), replace=False)] += 1
        parts = []
        for k, n in enumerate(share):
            parts.append(queues[k][heads[k]: heads[k] + n])
            heads[k] += n
        out.append(rng.permutation(np.concatenate(parts)))
    return out
