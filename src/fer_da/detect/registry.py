"""The registry of detector backends and the factory (imports each backend on demand)."""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fer_da.detect.base import (
    RETINAFACE_WEIGHTS_URL,
    Detector,
    DetectorUnavailable,
    NoDetector,
)

AUTO = "auto"  # face crops are not detected, other images by AUTO_DETECTS (preprocess/crops.py)
AUTO_DETECTS = "retinaface"

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


def torch_hub_checkpoints() -> Path:
    """``torch.hub.get_dir()/checkpoints`` worked out without importing torch."""
    if os.environ.get("TORCH_HOME"):
        base = Path(os.environ["TORCH_HOME"])
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "torch"
    return base / "hub" / "checkpoints"


def _retinaface_ready(weights: str | None = None, download: bool = True,
                      **_: Any) -> bool | None:
    if weights:
        return Path(weights).is_file() or False
    if not download:  # as retinaface.load_weights: no weights file and download off
        return False
    if (torch_hub_checkpoints() / RETINAFACE_WEIGHTS_URL.rsplit("/", 1)[-1]).is_file():
        return True
    return None  # online or not is only known by trying


# Without building a backend (no torch import): True if it would build, False if it would
# be unavailable, None if only building tells.
READY: dict[str, Callable[..., bool | None]] = {
    "none": lambda **_: True,
    "mtcnn": lambda **_: importlib.util.find_spec("facenet_pytorch") is not None or None,
    "retinaface": _retinaface_ready,
}


def resolve_backend(backend: str, fallback: str | None = None, **kwargs: Any) -> str | None:
    """The name of the detector :func:`build_detector` would build, when that is known
    without building it (a run whose every image is cached then imports no torch); None
    when only building tells. Warns of a fallback as :func:`build_detector` does."""
    backend = AUTO_DETECTS if backend == AUTO else backend
    if backend not in BACKENDS:
        raise ValueError(f"unknown detector {backend!r}; choose one of {sorted(BACKENDS)}")
    ready = READY[backend](**kwargs)
    if ready:
        return backend
    if ready is None or not fallback:
        return None
    found = resolve_backend(fallback, None, **kwargs)
    if found is not None:  # a prediction: the warning comes once, when it is built
        logger.info("Face detector %r has no weights file here: %r will detect (every "
                    "preprocessed row records the detector that produced it)", backend, found)
    return found


def build_detector(backend: str, fallback: str | None = None, **kwargs: Any) -> Detector:
    """Build ``backend``; when it is unavailable, warn once and build ``fallback`` instead.
    ``auto`` (an image with no recorded choice, e.g. at inference) detects as
    :data:`AUTO_DETECTS`."""
    backend = AUTO_DETECTS if backend == AUTO else backend
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
