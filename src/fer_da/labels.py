"""Canonical expression labels shared by every parser, model and report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fer_da.validate import ConfigError, as_bool, as_str_list, check_keys

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
KNOWN_LABELS: tuple[str, ...] = (*CANONICAL_LABELS, CONTEMPT)
LABEL_KEYS = ("classes", "keep_contempt")  # params:labels


def label_set(keep_contempt: bool = False) -> tuple[str, ...]:
    """The label vocabulary in index order; contempt is appended when kept."""
    return CANONICAL_LABELS + ((CONTEMPT,) if keep_contempt else ())


def vocabulary(labels: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The classes of every model, in index order, from ``params:labels``.

    ``classes`` chooses them (default: the 7 canonical labels); ``keep_contempt: true`` appends
    contempt. Images of any other label are ``excluded_label`` rejects at ingestion.
    """
    cfg = check_keys(labels, LABEL_KEYS, "labels")
    keep = as_bool(cfg.get("keep_contempt", False), "labels.keep_contempt")
    classes = cfg.get("classes")
    if classes is None:
        return label_set(keep)
    names = as_str_list(classes, "labels.classes")
    if len(set(names)) != len(names) or len(names) < 2:
        raise ConfigError(f"labels.classes must hold at least two distinct names, got {names}")
    if keep and CONTEMPT not in names:
        names.append(CONTEMPT)
    return tuple(names)


def label_index(labels: Sequence[str], vocabulary: Sequence[str]) -> list[int]:
    """Map label names to integer indices, raising on a name outside the vocabulary."""
    lookup = {name: i for i, name in enumerate(vocabulary)}
    unknown = sorted({name for name in labels if name not in lookup})
    if unknown:
        raise ValueError(f"labels {unknown} are not in the vocabulary {list(vocabulary)}")
    return [lookup[name] for name in labels]
