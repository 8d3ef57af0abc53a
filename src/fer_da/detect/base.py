"""The detector interface: what every backend returns. Backends live beside it; the
factory is :mod:`fer_da.detect.registry`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


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


# RetinaFace's published weights (ternaus/retinaface): the file name torch hub caches them as
RETINAFACE_WEIGHTS_URL = ("https://github.com/ternaus/retinaface/releases/download/0.01/"
                          "retinaface_resnet50_2020-07-20-f168fae3c.zip")
