"""The registry of detector backends and the factory (imports each backend on demand)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fer_da.detect.base import Detector, DetectorUnavailable, NoDetector

logger = logging.getLogger(__name__)


def _mtcnn(**kwargs: Any) -> Detector:
    from fer_da.detect.mtcnn import MTCNNDetector

    return MTCNNDetector(**kwargs)


def _retinaface(**kwargs: Any) -> Detector:
    from fer_da.detect.retinaface import RetinaFaceDetector

    return RetinaFaceDetector(**kwargs)


BACKENDS: dict[str, Callable[..., Detector]] = {
    "none": lambda **_: NoDetector(),
    "mtcnn": _mtcnn,
    "retinaface": _retinaface,
}


def build_detector(backend: str, fallback: str | None = None, **kwargs: Any) -> Detector:
    """Build ``backend``; when it is unavailable, warn once and build ``fallback`` instead."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown detector {backend!r}; choose one of {sorted(BACKENDS)}")
    try:
        return BACKENDS[backend](**kwargs)
    except DetectorUnavailable as exc:
        if not fallback:
            raise
        logger.warning("Face detector %r is unavailable (%s); falling back to %r. Every "
                       "preprocessed row records the detector that produced it.",
                       backend, exc, fallback)
        return BACKENDS[fallback](**kwargs)
