"""Preprocessing nodes: detection (cached), normalisation, splits, the protocol, previews.
Thin wrappers of the library (preprocess/detection.py, preprocess/normalise.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from fer_da.datasets.cache_dataset import CacheShards
from fer_da.detect import build_detector
from fer_da.facesets import FaceSet
from fer_da.ingest import RawTree, parse_domain_specs
from fer_da.labels import vocabulary
from fer_da.pipelines._types import Figure
from fer_da.preprocess.config import PreprocessConfig, domain_configs
from fer_da.preprocess.detection import detect_all
from fer_da.preprocess.normalise import normalise_all
from fer_da.validate import as_int


def _materialise(manifests: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """Partitioned datasets hand over loaders; tests hand over frames."""
    return {k: (v() if callable(v) else v) for k, v in sorted(manifests.items())}


def _configs(params: dict[str, Any], domains: dict[str, Any]) -> dict[str, PreprocessConfig]:
    return domain_configs(params, {s.name: s.preprocessing for s in parse_domain_specs(domains)})


def detect_faces(
    manifests: dict[str, Callable[[], pd.DataFrame] | pd.DataFrame],
    raw: dict[str, RawTree],
    cache: pd.DataFrame,
    params: dict[str, Any],
    domains: dict[str, Any],
    detector_factory: Callable[..., Any] = build_detector,
    shards: CacheShards | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Boxes, landmarks and scores for every manifest image, with each domain's detector,
    keyed on the image content and the detector settings (the cache's images are not
    detected again); returns (detections, new cache entries not yet flushed)."""
    return detect_all(_materialise(manifests), raw, cache, _configs(params, domains),
                      detector_factory, shards)


def normalise_faces(
    manifests: dict[str, Callable[[], pd.DataFrame] | pd.DataFrame],
    raw: dict[str, RawTree],
    detections: pd.DataFrame,
    params: dict[str, Any],
    domains: dict[str, Any],
    labels: dict[str, Any],
    training: dict[str, Any],
    previous: dict[str, FaceSet] | None = None,
) -> tuple[dict[str, FaceSet], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Crops and splits per domain with that domain's settings: face sets, rejects, counts
    per split and label, the protocol; faces of the ``previous`` version reused."""
    seeds = [as_int(s, "training.seeds[]") for s in training.get("seeds", [0])]
    return normalise_all(_materialise(manifests), raw, detections, _configs(params, domains),
                         {s.name: s for s in parse_domain_specs(domains)},
                         list(vocabulary(labels)), seeds, previous)


def contact_sheet(face_sets: dict[str, FaceSet], reporting: dict[str, Any] | None = None,
                  per_label: int = 2) -> Figure:
    """A grid of crops: one row per domain (under its ``reporting.names`` display name),
    ``per_label`` columns per expression."""
    from fer_da.preprocess.sheet import contact_sheet as sheet

    return sheet(face_sets, per_label, (reporting or {}).get("names") or {})
