"""Per-image preprocessing: robust detection, the choice of face and its normalised crop.

Pure functions of arrays, detections and a :class:`PreprocessConfig`; the Kedro nodes only
loop over manifests and collect rows.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from fer_da.detect.base import Detection, Detector
from fer_da.preprocess.config import PreprocessConfig
from fer_da.preprocess.image import (
    centre_box,
    choose_face,
    crop_face,
    eye_angle,
    inner_square,
    square_box,
    to_grey,
)

logger = logging.getLogger(__name__)


def faces_to_json(faces: list[Detection]) -> str:
    return json.dumps([{"box": [round(float(v), 3) for v in f.box],
                        "landmarks": [[round(float(c), 3) for c in p] for p in f.landmarks]
                        if not np.isnan(f.landmarks).any() else None,
                        "score": round(float(f.score), 5)} for f in faces])


def faces_from_json(text: str) -> list[Detection]:
    return [Detection(tuple(f["box"]),
                      np.array(f["landmarks"], dtype=float) if f["landmarks"] is not None
                      else np.full((5, 2), np.nan), float(f["score"])) for f in json.loads(text)]


def upscale_for_detection(image: np.ndarray, min_side: int) -> tuple[np.ndarray, float]:
    """Enlarge an image whose shorter side is under ``min_side`` (detectors have a smallest
    input: MTCNN's scale pyramid is empty under ~20 px). Returns the image and the factor."""
    short = min(image.shape[:2])
    if not min_side or short >= min_side:
        return image, 1.0
    factor = min_side / max(short, 1)
    size = (max(1, round(image.shape[1] * factor)), max(1, round(image.shape[0] * factor)))
    big = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))
    return big, factor


def _scaled(det: Detection, factor: float) -> Detection:
    if factor == 1.0:
        return det
    return Detection(tuple(v / factor for v in det.box), det.landmarks / factor, det.score)


def detect_robustly(detector: Detector, images: Sequence[np.ndarray],
                    upscale_below: int = 0) -> list[list[Detection] | Exception]:
    """Faces of each image, or the exception that image raised.

    Small images are enlarged for the detector and their boxes scaled back. A batch that
    raises is retried image by image, so one bad image costs only itself.
    """
    prepared = [upscale_for_detection(im, upscale_below) for im in images]
    try:
        found: list = list(detector.detect([im for im, _ in prepared]))
    except Exception:  # noqa: BLE001 - isolate the image at fault below
        found = []
        for im, _ in prepared:
            try:
                found.append(detector.detect([im])[0])
            except Exception as exc:  # noqa: BLE001 - becomes a reject naming the file
                found.append(exc)
    return [f if isinstance(f, Exception) else [_scaled(d, factor) for d in f]
            for f, (_, factor) in zip(found, prepared, strict=True)]


@dataclass(frozen=True)
class FaceCrop:
    image: np.ndarray  # (S, S) uint8
    box: tuple[float, float, float, float]
    score: float
    flag: str
    n_faces: int


def normalise_face(rgb: np.ndarray, faces: list[Detection], detector: str,
                   cfg: PreprocessConfig) -> FaceCrop | None:
    """Grey, square crop with margin, optional eye alignment, resize. None: no face (reject).

    With the ``none`` detector the image is already a face crop: the crop is the largest
    centred square inside it (a negative margin zooms in), never padded with black.
    """
    h, w = rgb.shape[:2]
    flag = "multiple_faces" if len(faces) > 1 else ""
    if detector == "none":
        box, angle, score = inner_square(h, w, cfg.margin), 0.0, 1.0
    else:
        face = choose_face(faces)
        if face is None:
            if cfg.no_face == "reject":
                return None
            box, angle, score, flag = centre_box(h, w), 0.0, float("nan"), "centre_crop"
        else:
            box = square_box(face.box, cfg.margin)
            angle = eye_angle(face.landmarks) if cfg.align else 0.0
            score = face.score
    crop = crop_face(to_grey(rgb), box, cfg.image_size, angle)
    return FaceCrop(crop, tuple(float(v) for v in box), float(score), flag, len(faces))
