"""The detector interface and the registry of backends."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

logger = logging.getLogger(__name__)


class DetectorUnavailable(RuntimeError):
    """The backend cannot run here (weights missing offline, package absent)."""


@dataclass(frozen=True)
class Detection:
    """One face: box (x0, y0, x1, y1) in pixels, landmarks (5, 2) or NaN, confidence score.

    Landmarks follow the usual order: left eye, right eye, nose, left mouth corner, right
    mouth corner (left/right in the image).
    """

    box: tuple[float, float, float, float]
    landmarks: np.ndarray
    score: float

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.box
        return max(0.0, x1 - x0) * max(0.0, y1 - y0)


class Detector(Protocol):
    name: str

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Faces of each RGB uint8 image (H, W, 3)."""
        ...


class NoDetector:
    """``none``: the inputs are already face crops; the whole image is the face."""

    name = "none"

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        return [[Detection((0.0, 0.0, float(im.shape[1]), float(im.shape[0])),
                           np.full((5, 2), np.nan), 1.0)] for im in images]


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
