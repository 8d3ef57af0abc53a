"""Predictions on new images and video frames, with the training preprocessing.

Faces are found by :func:`fer_da.preprocess.faces.detect_robustly` and cut by
:func:`fer_da.preprocess.faces.normalise_face` (the code that made the training crops), with
the serving model's own settings; the classifier runs through
:func:`fer_da.training.evaluate.predict` (the evaluation's code, its flip averaging included).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from fer_da.detect import build_detector
from fer_da.inference.config import FACES, InferenceConfig  # noqa: F401 - re-exported
from fer_da.inference.media import REJECT_COLUMNS, Frame, Media, iter_frames
from fer_da.inference.serving import ServingModel
from fer_da.preprocess.faces import detect_robustly, normalise_face

logger = logging.getLogger(__name__)
BASE_COLUMNS = ["file", "frame", "time_s", "face", "n_faces", "x0", "y0", "x1", "y1",
                "detector", "score", "flag", "label", "label_idx", "probability", "run_id"]


def _chunks(items: Iterable, size: int) -> Iterable[list]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _faces_of(frame: Frame, faces: Any, detector_name: str, pre: Any, cfg: InferenceConfig,
              rows: list[dict[str, Any]], crops: list[np.ndarray], rejects: list[dict]) -> None:
    """The crops of one frame's detections (the largest face, or every face), its rows, or
    its rejects (detection failed, no face)."""
    where = {"file": frame.file, "frame": frame.frame}
    if isinstance(faces, Exception):
        rejects.append({**where, "reason": "detection_failed",
                        "detail": f"{type(faces).__name__}: {faces}"[:200]})
        return
    ordered = sorted(faces, key=lambda d: (d.area, d.score), reverse=True)
    chosen = [[d] for d in ordered] if cfg.faces == "all" else [ordered]
    if not ordered:
        chosen = [[]]  # no_face: reject, or the flagged centre crop
    for k, candidates in enumerate(chosen):
        crop = normalise_face(frame.rgb, candidates, detector_name, pre)
        if crop is None:
            rejects.append({**where, "reason": "no_face",
                            "detail": f"{detector_name} found no face"})
            continue
        crops.append(crop.image)
        rows.append({**where, "time_s": frame.time_s, "face": k, "n_faces": len(ordered),
                     **dict(zip(("x0", "y0", "x1", "y1"), crop.box, strict=True)),
                     "detector": detector_name, "score": crop.score,
                     "flag": crop.flag or ("multiple_faces" if len(ordered) > 1 else "")})


def detect_media(media: Media, cfg: InferenceConfig, pre: Any,
                 detector_factory: Callable[..., Any]) -> tuple[list, list, list]:
    """Every frame of ``media`` through the serving model's detector and crop: rows, crops
    and rejects (listing, decoding, detection, no face)."""
    det_cfg = pre.detector
    detector = detector_factory(det_cfg.backend, det_cfg.fallback, **det_cfg.build_args())
    rows: list[dict[str, Any]] = []
    crops: list[np.ndarray] = []
    rejects = list(media.rejects)
    frames = tqdm(iter_frames(media, cfg.every_s), desc="inference", unit="frame",
                  disable=None)
    for chunk in _chunks(frames, det_cfg.batch_size):
        good = [f for f in chunk if isinstance(f, Frame)]
        rejects += [f for f in chunk if not isinstance(f, Frame)]
        found = detect_robustly(detector, [f.rgb for f in good], det_cfg.upscale_below)
        for frame, faces in zip(good, found, strict=True):
            _faces_of(frame, faces, detector.name, pre, cfg, rows, crops, rejects)
    return rows, crops, rejects


def classify(serving: ServingModel, images: np.ndarray, cfg: InferenceConfig,
             source: str | None) -> np.ndarray:
    """Class probabilities of each face (N, K); AdaBN first with ``cfg.adapt_bn``."""
    from fer_da.training.evaluate import load_model, predict

    if not len(images):
        return np.zeros((0, len(serving.classes)))
    model = load_model(serving.trained.model_config, serving.trained.state)
    if cfg.adapt_bn:
        from fer_da.devices import resolve_device
        from fer_da.training.adabn import adapt_batchnorm

        if len(images) < 2:
            raise ValueError(f"inference.adapt_bn needs at least 2 faces in the input, "
                             f"found {len(images)} in {source or 'the input'}")
        model = adapt_batchnorm(model, images, cfg.batch_size, 0, resolve_device(cfg.device))
    logp, _, _ = predict(model, images, cfg.device, cfg.batch_size, serving.tta)
    return np.exp(logp.astype(np.float64))


def predict_media(serving: ServingModel, media: Media, cfg: InferenceConfig,
                  detector_factory: Callable[..., Any] = build_detector,
                  ) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """One row per face found (file, frame, box, label, probability per class, run id), the
    face crops in the same order, and the rejects (listing, decoding, no face).

    ``cfg.adapt_bn``: the model's batch-norm statistics are first re-estimated on all the
    faces found (AdaBN, ``training/adabn.py``), so each face's prediction depends on the
    others of the input; recorded in the ``bn_stats`` column."""
    pre = serving.preprocess_config()
    rows, crops, rejects = detect_media(media, cfg, pre, detector_factory)
    size = pre.image_size
    images = np.stack(crops) if crops else np.zeros((0, size, size), np.uint8)
    classes = serving.classes
    table = pd.DataFrame(rows, columns=BASE_COLUMNS[:12])
    probs = classify(serving, images, cfg, media.source)
    idx = probs.argmax(1) if len(probs) else np.zeros(0, np.int64)
    table["label"] = [classes[i] for i in idx]
    table["label_idx"] = idx.astype(np.int64)
    table["probability"] = probs.max(1) if len(probs) else []
    table["run_id"] = serving.run_id
    table["bn_stats"] = "input" if cfg.adapt_bn else "trained"
    for c, name in enumerate(classes):
        table[f"p_{name}"] = probs[:, c]
    listed = len(media.rejects)
    logger.info("Inference with %s: %d inputs (%d files read, %d refused while listing); "
                "%d faces predicted; %d rejects in all (the rejects table says why for each)",
                serving.run_id, len(media.files) + listed, len(media.files), listed,
                len(table), len(rejects))
    if not len(table):
        logger.warning("Inference: no face predicted in %s — every input is a reject (the "
                       "rejects table says why for each)", media.source or "the input")
    return table, images, pd.DataFrame(rejects, columns=REJECT_COLUMNS)
