"""Canonical expression labels shared by every parser, model and report."""

from __future__ import annotations

from collections.abc import Sequence

CANONICAL_LABELS: tuple[str, ...] = (
    "anger",
    "disgust",
    "fear",
    "happiness",
    "sadness",
    "surprise",
    "neutral",
)
CONTEMPT = "contempt"


def label_set(keep_contempt: bool = False) -> tuple[str, ...]:
    """The label vocabulary in index order; contempt is appended when kept."""
    return CANONICAL_LABELS + ((CONTEMPT,) if keep_contempt else ())


def label_index(labels: Sequence[str], vocabulary: Sequence[str]) -> list[int]:
    """Map label names to integer indices, raising on a name outside the vocabulary."""
    lookup = {name: i for i, name in enumerate(vocabulary)}
    unknown = sorted({name for name in labels if name not in lookup})
    if unknown:
        raise ValueError(f"labels {unknown} are not in the vocabulary {list(vocabulary)}")
    return [lookup[name] for name in labels]
