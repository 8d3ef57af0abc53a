"""Preprocessing nodes: detection (cached), normalisation, splits, previews."""

from __future__ import annotations

import hashlib
import json
import logging
import time
import zlib
from collections.abc import Callable
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from fer_da.detect import Detection, build_detector
from fer_da.facesets import FaceSet
from fer_da.ingest import RawTree
from fer_da.labels import label_set
from fer_da.preprocess.image import (
    centre_box,
    choose_face,
    crop_face,
    eye_angle,
    square_box,
    to_grey,
    to_rgb,
)
from fer_da.preprocess.splits import assign_split

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

logger = logging.getLogger(__name__)
DETECTOR_KEYS = ("weights", "min_score", "max_size", "min_face_size", "nms_iou")


def _materialise(manifests: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """PartitionedDataset hands over loaders; tests hand over frames."""
    return {k: (v() if callable(v) else v) for k, v in sorted(manifests.items())}


def faces_to_json(faces: list[Detection]) -> str:
    return json.dumps([{"box": [round(float(v), 3) for v in f.box],
                        "landmarks": [[round(float(c), 3) for c in p] for p in f.landmarks]
                        if not np.isnan(f.landmarks).any() else None,
                        "score": round(float(f.score), 5)} for f in faces])


def faces_from_json(text: str) -> list[Detection]:
    return [Detection(tuple(f["box"]),
                      np.array(f["landmarks"], dtype=float) if f["landmarks"] is not None
                      else np.full((5, 2), np.nan), float(f["score"])) for f in json.loads(text)]


def detector_signature(name: str, params: dict[str, Any]) -> str:
    """The detection settings that change boxes; crop settings are deliberately absent."""
    return json.dumps({"backend": name, **{k: params.get(k) for k in DETECTOR_KEYS}},
                      sort_keys=True)


def detect_faces(
    manifests: dict[str, Callable[[], pd.DataFrame] | pd.DataFrame],
    raw: dict[str, RawTree],
    cache: pd.DataFrame,
    params: dict[str, Any],
    detector_factory: Callable[..., Any] = build_detector,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Boxes, landmarks and scores for every manifest image.

    Keyed on the image content hash and the detector settings: images already in ``cache``
    are not detected again. Returns (detections of this run, new cache entries).
    """
    cfg = dict(params["detector"])
    detector = detector_factory(cfg.pop("backend"), cfg.pop("fallback", None), **cfg)
    signature = detector_signature(detector.name, params["detector"])
    known = dict(zip(cache.get("key", []), cache.get("faces", []), strict=False))
    rows, todo = [], []
    for domain, manifest in _materialise(manifests).items():
        tree = raw[domain]
        for image_id, path in zip(manifest["image_id"], manifest["path"], strict=True):
            key = hashlib.sha256((tree.content_hash(path) + signature).encode()).hexdigest()
            rows.append({"image_id": image_id, "domain": domain, "key": key,
                         "detector": detector.name})
            if key not in known:
                todo.append((len(rows) - 1, tree, path))
    logger.info("Face detection with %s: %d images, %d cached, %d to detect",
                detector.name, len(rows), len(rows) - len(todo), len(todo))
    batch_size = int(params["detector"].get("batch_size", 16))
    new = {}
    start = time.perf_counter()
    with tqdm(total=len(todo), desc=f"detect ({detector.name})", unit="img",
              disable=not todo) as bar:
        for b in range(0, len(todo), batch_size):
            chunk = todo[b: b + batch_size]
            images = [to_rgb(tree.open_image(path)) for _, tree, path in chunk]
            for (i, _, _), faces in zip(chunk, detector.detect(images), strict=True):
                new[rows[i]["key"]] = faces_to_json(faces)
            bar.update(len(chunk))
    if todo:
        rate = len(todo) / max(time.perf_counter() - start, 1e-9)
        logger.info("Detected %d images at %.1f images/s", len(todo), rate)
    known.update(new)
    detections = pd.DataFrame(rows)
    detections["faces"] = detections["key"].map(known)
    new_entries = pd.DataFrame({"key": list(new), "detector": detector.name,
                                "faces": list(new.values())})
    return detections, new_entries


def normalise_faces(
    manifests: dict[str, Callable[[], pd.DataFrame] | pd.DataFrame],
    raw: dict[str, RawTree],
    detections: pd.DataFrame,
    params: dict[str, Any],
    labels: dict[str, Any],
) -> tuple[dict[str, FaceSet], pd.DataFrame, pd.DataFrame]:
    """Grey, square crop with margin, optional eye alignment, resize, split. uint8 out."""
    size, margin = int(params["image_size"]), float(params["margin"])
    align, no_face = bool(params.get("align", False)), params.get("no_face", "reject")
    if no_face not in ("reject", "centre_crop"):
        raise ValueError("preprocessing.no_face must be 'reject' or 'centre_crop'")
    vocabulary = label_set(bool(labels.get("keep_contempt", False)))
    split_cfg = params["split"]
    by_id = detections.set_index("image_id")
    out, rejects, counts = {}, [], []
    for domain, manifest in _materialise(manifests).items():
        tree, crops, rows = raw[domain], [], []
        for rec in manifest.to_dict("records"):
            det = by_id.loc[rec["image_id"]]
            faces = faces_from_json(det["faces"])
            face = choose_face(faces)
            flag = "multiple_faces" if len(faces) > 1 else ""
            rgb = to_rgb(tree.open_image(rec["path"]))
            if face is None:
                if no_face == "reject":
                    rejects.append({"domain": domain, "path": rec["path"], "reason": "no_face",
                                    "detail": f"{det['detector']} found no face"})
                    continue
                box, angle, score, flag = centre_box(*rgb.shape[:2]), 0.0, np.nan, "centre_crop"
            else:
                box = square_box(face.box, margin)
                angle = eye_angle(face.landmarks) if align else 0.0
                score = face.score
            crops.append(crop_face(to_grey(rgb), box, size, angle))
            rows.append({"image_id": rec["image_id"], "domain": domain, "role": rec["role"],
                         "subject": rec["subject"], "label": rec["label"],
                         "label_idx": vocabulary.index(rec["label"]),
                         "detector": det["detector"], "n_faces": len(faces), "score": score,
                         "flag": flag, "box": [float(v) for v in box],
                         "source_split": rec.get("source_split")})
        if not rows:
            raise ValueError(f"domain {domain!r}: no face survived preprocessing")
        table = pd.DataFrame(rows)
        seed = int(split_cfg.get("seed", 0)) + zlib.crc32(domain.encode())
        table["split"] = assign_split(table, split_cfg.get("mode", "subject"),
                                      float(split_cfg.get("val_fraction", 0.2)), seed)
        out[domain] = FaceSet(np.stack(crops), table)
        counts.append(table.groupby(["split", "label"]).size().rename("n").reset_index()
                      .assign(domain=domain))
        logger.info("%s: %d faces (%d train / %d val), %d flagged", domain, len(table),
                    (table["split"] == "train").sum(), (table["split"] == "val").sum(),
                    (table["flag"] != "").sum())
    summary = pd.concat(counts, ignore_index=True)[["domain", "split", "label", "n"]]
    return out, pd.DataFrame(rejects, columns=["domain", "path", "reason", "detail"]), summary


def contact_sheet(face_sets: dict[str, FaceSet], per_label: int = 2) -> plt.Figure:
    """A grid of crops: one row per domain, ``per_label`` columns per expression."""
    vocabulary = sorted({lab for fs in face_sets.values() for lab in fs.table["label"]})
    cols = len(vocabulary) * per_label
    fig, axes = plt.subplots(len(face_sets), cols, figsize=(cols * 0.9, len(face_sets) * 1.1),
                             squeeze=False)
    for r, (domain, fs) in enumerate(sorted(face_sets.items())):
        for c in range(cols):
            ax = axes[r][c]
            ax.axis("off")
            label = vocabulary[c // per_label]
            idx = np.flatnonzero(fs.table["label"].to_numpy() == label)
            if len(idx) > c % per_label:
                ax.imshow(fs.images[idx[c % per_label]], cmap="gray", vmin=0, vmax=255)
            if r == 0 and c % per_label == 0:
                ax.set_title(label, fontsize=7, loc="left")
        axes[r][0].text(-0.1, 0.5, domain, transform=axes[r][0].transAxes, ha="right",
                        va="center", fontsize=8)
    fig.tight_layout()
    return fig
