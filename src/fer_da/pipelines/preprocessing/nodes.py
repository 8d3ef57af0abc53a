"""Preprocessing nodes: detection (cached), normalisation, splits, the protocol, previews."""

from __future__ import annotations

import hashlib
import json
import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from fer_da.datasets.cache import CacheShards
from fer_da.detect import build_detector
from fer_da.detect.registry import AUTO, AUTO_DETECTS, resolve_backend
from fer_da.facesets import FaceSet
from fer_da.ingest import RawTree, parse_domain_specs
from fer_da.labels import vocabulary
from fer_da.pipelines._types import Figure
from fer_da.preprocess.config import DetectorConfig, PreprocessConfig, domain_configs
from fer_da.preprocess.crops import coverage, decide, probe_sample, tiny_images
from fer_da.preprocess.faces import (
    FaceCrop,
    detect_robustly,
    faces_from_json,
    faces_to_json,
    normalise_face,
)
from fer_da.preprocess.image import to_rgb
from fer_da.preprocess.splits import (
    SPLITS,
    TRANSDUCTIVE,
    SplitError,
    assign_split,
    cap_train,
)
from fer_da.validate import ConfigError, as_int

logger = logging.getLogger(__name__)
REJECT_COLUMNS = ["domain", "path", "reason", "detail"]
BOX_KEYS = ("weights", "min_score", "max_size", "min_face_size", "nms_iou", "upscale_below")


def _materialise(manifests: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """Partitioned datasets hand over loaders; tests hand over frames."""
    return {k: (v() if callable(v) else v) for k, v in sorted(manifests.items())}


def _configs(params: dict[str, Any], domains: dict[str, Any]) -> dict[str, PreprocessConfig]:
    return domain_configs(params, {s.name: s.preprocessing for s in parse_domain_specs(domains)})


def detector_signature(name: str, cfg: DetectorConfig) -> str:
    """The detection settings that change boxes; crop settings are deliberately absent."""
    return json.dumps({"backend": name, **{k: getattr(cfg, k) for k in BOX_KEYS}},
                      sort_keys=True)


def detection_cache_key(sha: str, signature: str) -> str:
    """The detection cache's key of an image: its content hash and the detector's settings."""
    return hashlib.sha256((sha + signature).encode()).hexdigest()


def detect_faces(
    manifests: dict[str, Callable[[], pd.DataFrame] | pd.DataFrame],
    raw: dict[str, RawTree],
    cache: pd.DataFrame,
    params: dict[str, Any],
    domains: dict[str, Any],
    detector_factory: Callable[..., Any] = build_detector,
    shards: CacheShards | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Boxes, landmarks and scores for every manifest image, with each domain's detector.

    Keyed on the image content hash and the detector settings: images already in ``cache``
    are not detected again. An image the detector fails on is a ``failed`` row naming the
    error (a reject at normalisation); the rest of its batch is kept. ``shards``: new
    entries are flushed to the cache as detection goes (every N images or seconds), so a
    killed run keeps them. Returns (detections of this run, new cache entries not yet
    flushed).
    """
    configs = _configs(params, domains)
    built: dict[tuple, Any] = {}  # detectors, built only when an image needs detecting
    names: dict[tuple, str] = {}  # the backend that runs for each detector configuration
    known = dict(zip(cache.get("key", []), cache.get("faces", []), strict=False))
    groups: dict[tuple, list[tuple[str, str, RawTree, str, str]]] = {}
    manifests = _materialise(manifests)
    new: dict[str, str] = {}
    choices: dict[str, str] = {}  # backend auto: per domain, what was decided and why
    for domain, manifest in manifests.items():
        if configs[domain].detector.backend == AUTO:
            detector, choices[domain] = _resolve_auto(
                configs[domain].detector, manifest, raw[domain], known, new,
                detector_factory, built)
            configs[domain] = replace(configs[domain], detector=detector)
    for domain, manifest in manifests.items():
        cfg = configs[domain].detector
        tree = raw[domain]
        hashes = (manifest["sha256"] if "sha256" in manifest
                  else manifest["path"].map(tree.content_hash))
        groups.setdefault(cfg.signature(), []).extend(
            (image_id, domain, tree, path, sha) for image_id, path, sha in
            zip(manifest["image_id"], manifest["path"], hashes, strict=True))
        if cfg.signature() not in names:
            names[cfg.signature()] = _backend_name(cfg, detector_factory, built)
    by_signature = {c.detector.signature(): c.detector for c in configs.values()}
    rows, todo = _key_rows(groups, by_signature, names, known)
    for sig in [s for s in todo if s not in built]:  # something to detect: build it now
        cfg = by_signature[sig]
        built[sig] = detector_factory(cfg.backend, cfg.fallback, **cfg.build_args())
        if built[sig].name != names[sig]:  # built another backend than foreseen: re-key
            names[sig] = built[sig].name
            rows, todo = _key_rows(groups, by_signature, names, known)
    built = {sig: (detector, by_signature[sig]) for sig, detector in built.items()
             if sig in by_signature}  # not a probe's detector whose domain was crops
    for row in rows:
        row["detail"] = choices.get(row["domain"], "")
    n_todo = sum(len(v) for v in todo.values())
    logger.info("Face detection: %d images, %d cached, %d to detect", len(rows),
                len(rows) - n_todo, n_todo)
    pending: dict[str, str] = dict(new)  # detected, not yet flushed to the cache
    start = time.perf_counter()
    with tqdm(total=n_todo, desc="detect", unit="img", disable=not n_todo) as bar:
        for signature, items in todo.items():
            detector, cfg = built[signature]
            for b in range(0, len(items), cfg.batch_size):
                chunk, images = [], []
                for i, tree, path in items[b: b + cfg.batch_size]:
                    try:
                        images.append(to_rgb(tree.open_image(path)))
                        chunk.append(i)
                    except Exception as exc:  # noqa: BLE001 - a reject naming the file
                        rows[i].update(status="failed", detail=f"decode: {exc}"[:200])
                for i, faces in zip(chunk, detect_robustly(detector, images, cfg.upscale_below),
                                    strict=True):
                    if isinstance(faces, Exception):
                        rows[i].update(status="failed",
                                       detail=f"{type(faces).__name__}: {faces}"[:200])
                    else:
                        new[rows[i]["key"]] = pending[rows[i]["key"]] = faces_to_json(faces)
                bar.update(len(items[b: b + cfg.batch_size]))
                if shards is not None and shards.due(len(pending)):
                    shards.append(_cache_entries(pending))
                    pending = {}
    if n_todo:
        rate = n_todo / max(time.perf_counter() - start, 1e-9)
        logger.info("Detected %d images at %.1f images/s (%d flushed to the cache as they "
                    "came)", n_todo, rate, shards.written if shards is not None else 0)
    known.update(new)
    detections = pd.DataFrame(rows, columns=["image_id", "domain", "key", "detector", "status",
                                             "detail"])
    detections["faces"] = detections["key"].map(known)
    return detections, _cache_entries(pending if shards is not None else new)


def _resolve_auto(cfg: DetectorConfig, manifest: pd.DataFrame, tree: RawTree,
                  known: dict[str, str], new: dict[str, str], factory: Callable[..., Any],
                  built: dict[tuple, Any]) -> tuple[DetectorConfig, str]:
    """``backend: auto`` for one domain: ``none`` when its images are face crops, else
    :data:`AUTO_DETECTS` (with the fallback). The probe's detections are cached (``known``
    and ``new``) like any other, so a re-run decides from the cache, building nothing."""
    if not len(manifest):  # no image: nothing to decide (require_faces refuses it later)
        return replace(cfg, backend=AUTO_DETECTS), "auto: no image"
    if tiny_images(manifest["width"], manifest["height"], cfg.auto_below):
        return replace(cfg, backend="none"), (
            f"auto: every image is at most {cfg.auto_below} px on its shorter side: face "
            "crops, not detected")
    real = replace(cfg, backend=AUTO_DETECTS)
    rows = manifest.iloc[probe_sample(len(manifest), cfg.auto_probe)]
    hashes = list(rows["sha256"] if "sha256" in rows else rows["path"].map(tree.content_hash))

    def keyed(name: str) -> list[str]:
        signature = detector_signature(name, real)
        return [detection_cache_key(sha, signature) for sha in hashes]

    keys = keyed(_backend_name(real, factory, built))
    missing = [i for i, k in enumerate(keys) if k not in known]
    if missing:
        if real.signature() not in built:
            built[real.signature()] = factory(real.backend, real.fallback, **real.build_args())
            keys = keyed(built[real.signature()].name)  # a fallback keys its own boxes
            missing = [i for i, k in enumerate(keys) if k not in known]
        images, readable = [], []
        for i in missing:  # an unreadable image is left out of the probe (normalisation
            try:           # rejects it later, naming the file)
                images.append(to_rgb(tree.open_image(rows["path"].iloc[i])))
                readable.append(i)
            except Exception:  # noqa: BLE001
                continue
        for b in range(0, len(readable), cfg.batch_size):
            chunk = readable[b: b + cfg.batch_size]
            found = detect_robustly(built[real.signature()], images[b: b + cfg.batch_size],
                                    real.upscale_below)
            for i, faces in zip(chunk, found, strict=True):
                if not isinstance(faces, Exception):  # a failure: retried, as in detection
                    known[keys[i]] = new[keys[i]] = faces_to_json(faces)
    covers = []
    for key, width, height in zip(keys, rows["width"], rows["height"], strict=True):
        if key not in known:  # unreadable, or the detector failed on it: no evidence
            continue
        faces = faces_from_json(known[key])
        best = max(faces, key=lambda f: f.score) if faces else None
        covers.append(coverage(best.box, width, height) if best else 0.0)
    crops, reason = decide(covers, cfg.auto_cover)
    logger.info("%s: %s", manifest["domain"].iloc[0] if "domain" in manifest else "", reason)
    return (replace(cfg, backend="none") if crops else real), reason


def _backend_name(cfg: DetectorConfig, factory: Callable[..., Any],
                  built: dict[tuple, Any]) -> str:
    """The backend this configuration runs, without building it when that can be known
    (then a run whose every image is cached imports no torch); else built here, once."""
    if cfg.signature() in built:
        return built[cfg.signature()].name
    if factory is build_detector:
        name = resolve_backend(cfg.backend, cfg.fallback, **cfg.build_args())
        if name is not None:
            return name
    built[cfg.signature()] = factory(cfg.backend, cfg.fallback, **cfg.build_args())
    return built[cfg.signature()].name


def _key_rows(groups: dict[tuple, list[tuple[str, str, RawTree, str, str]]],
              configs: dict[tuple, DetectorConfig], names: dict[tuple, str],
              known: dict[str, str]) -> tuple[list[dict[str, Any]], dict[tuple, list]]:
    """One row per image keyed on its content hash and its detector's settings, and per
    detector configuration the (row, tree, path) of the images the cache lacks."""
    rows: list[dict[str, Any]] = []
    todo: dict[tuple, list[tuple[int, RawTree, str]]] = {}
    for sig, items in groups.items():
        signature = detector_signature(names[sig], configs[sig])
        for image_id, domain, tree, path, sha in items:
            key = detection_cache_key(sha, signature)
            rows.append({"image_id": image_id, "domain": domain, "key": key,
                         "detector": names[sig], "status": "ok", "detail": ""})
            if key not in known:
                todo.setdefault(sig, []).append((len(rows) - 1, tree, path))
    return rows, todo


def _cache_entries(entries: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({"key": list(entries), "faces": list(entries.values())})


def _split_columns(table: pd.DataFrame, cfg: PreprocessConfig, domain: str,
                   seeds: list[int]) -> pd.DataFrame:
    split = cfg.split
    base = split.seed + zlib.crc32(domain.encode())
    where = f"domains.{domain}.preprocessing.split (or preprocessing.split)"
    try:
        def make(seed: int) -> pd.Series:
            made = assign_split(table, split.mode, split.fractions, seed, split.group_regex,
                                split.within)
            return cap_train(made, table["label"] if (table["role"] == "source").all()
                             else None, split.max_train, seed)  # a target: unstratified

        table["split"] = make(base)
        if split.mode == TRANSDUCTIVE:  # every image is test and, unlabelled, the pool
            table[TRANSDUCTIVE] = True
        if split.vary_with_seed:
            for s in seeds:
                table[f"split_seed{s}"] = make(base + s)
    except SplitError as exc:
        raise ConfigError(f"domain {domain!r}: {exc}; set {where}.mode to a mode this domain "
                          "supports (subject, group with group_regex, random, source or "
                          "transductive)"
                          ) from exc
    return table


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
    """Crops and splits per domain with that domain's settings; rejects; the protocol.

    Returns face sets (a domain may be empty: :func:`require_faces` refuses it after the
    rejects are written), rejects, counts per split and label, and one protocol row per
    domain (layout, detector, split mode, counts). ``previous``: the latest face-set
    version; a face whose ``crop_key`` (image content, detection, crop settings, crop
    code) it holds is taken from it instead of being decoded and cropped again.
    """
    configs = _configs(params, domains)
    specs = {s.name: s for s in parse_domain_specs(domains)}
    classes = vocabulary(labels)
    seeds = [as_int(s, "training.seeds[]") for s in training.get("seeds", [0])]
    by_id = detections.set_index("image_id").to_dict("index")  # a dict: fast per row
    earlier = _earlier_crops(previous)
    code = crop_code_digest()
    out, rejects, counts, protocol = {}, [], [], []
    for domain, manifest in _materialise(manifests).items():
        cfg, tree, crops, rows = configs[domain], raw[domain], [], []
        if cfg.split.mode == TRANSDUCTIVE and specs[domain].role != "target":
            raise ConfigError(f"domains.{domain}.preprocessing.split.mode: transductive puts "
                              f"every image in the test split, so it is for an unlabelled "
                              f"target only; {domain!r} is a {specs[domain].role}")
        for rec in manifest.to_dict("records"):
            det = by_id[rec["image_id"]]
            if det["status"] != "ok":
                rejects.append({"domain": domain, "path": rec["path"],
                                "reason": "detection_failed", "detail": det["detail"]})
                continue
            key = crop_key(det["key"] + str(det["faces"]), cfg, code)  # boxes found too
            face = _reused_crop(earlier, key)
            if face is None:
                try:
                    rgb = to_rgb(tree.open_image(rec["path"]))
                except Exception as exc:  # noqa: BLE001 - changed since ingestion
                    rejects.append({"domain": domain, "path": rec["path"],
                                    "reason": "unreadable_image", "detail": str(exc)[:200]})
                    continue
                face = normalise_face(rgb, faces_from_json(det["faces"]), det["detector"],
                                      cfg)
            if face is None:
                rejects.append({"domain": domain, "path": rec["path"], "reason": "no_face",
                                "detail": f"{det['detector']} found no face"})
                continue
            crops.append(face.image)
            rows.append({"image_id": rec["image_id"], "domain": domain, "role": rec["role"],
                         "path": rec["path"], "subject": rec["subject"], "label": rec["label"],
                         "label_idx": classes.index(rec["label"]),
                         "detector": det["detector"], "n_faces": face.n_faces,
                         "score": face.score, "flag": face.flag, "box": list(face.box),
                         "source_split": rec.get("source_split"), "crop_key": key})
        if earlier:
            logger.info("%s: %d of %d crops taken from face-set version %s", domain,
                        sum(r["crop_key"] in earlier for r in rows), len(rows),
                        next(iter(previous.values())).version)
        size = cfg.image_size
        images = np.stack(crops) if crops else np.zeros((0, size, size), np.uint8)
        table = pd.DataFrame(rows, columns=None if rows else ["image_id", "domain", "label",
                                                              "label_idx", "split"])
        if rows:
            table = _split_columns(table, cfg, domain, seeds)
            counts.append(table.groupby(["split", "label"]).size().rename("n").reset_index()
                          .assign(domain=domain))
        out[domain] = FaceSet(images, table).grouped_by_split()  # splits: contiguous rows
        per_split = {s: int((table["split"] == s).sum()) for s in SPLITS}
        missing = sorted(set(classes) - set(table["label"]))
        protocol.append({
            "domain": domain, "role": specs[domain].role, "layout": specs[domain].layout,
            "data": "synthetic" if getattr(tree, "synthetic", False) else "real",
            "detector": "+".join(sorted(set(table.get("detector", [])))) or "",
            "detector_backend": cfg.detector.backend,
            "detector_choice": next((by_id[i]["detail"] for i in manifest["image_id"]
                                     if str(by_id[i]["detail"]).startswith("auto:")), ""),
            "margin": cfg.margin,
            "split_mode": cfg.split.mode, "split_seed": cfg.split.seed,
            "vary_with_seed": cfg.split.vary_with_seed, "images": len(table),
            **{f"n_{s}": n for s, n in per_split.items()},
            "n_unused": int((table["split"] == "unused").sum()) if rows else 0,
            "subjects": int(table["subject"].nunique()) if rows else 0,
            "missing_classes": ",".join(missing)})
        logger.info("%s: %d faces (%d train / %d val / %d test), split %s, detector %s",
                    domain, len(table), per_split["train"], per_split["val"],
                    per_split["test"], cfg.split.mode, protocol[-1]["detector"])
        if missing:
            logger.warning("%s has no image of %s", domain, missing)
    summary = (pd.concat(counts, ignore_index=True)[["domain", "split", "label", "n"]]
               if counts else pd.DataFrame(columns=["domain", "split", "label", "n"]))
    return (out, pd.DataFrame(rejects, columns=REJECT_COLUMNS), summary,
            pd.DataFrame(protocol))


def crop_code_digest() -> str:
    """The source of the code that turns an image and its detection into a crop
    (``fer_da/preprocess``): a change of it makes every crop anew."""
    from pathlib import Path

    import fer_da.ingest.tree
    import fer_da.preprocess
    from fer_da.provenance import source_digest

    return source_digest(Path(fer_da.preprocess.__file__).parent) + hashlib.sha256(
        Path(fer_da.ingest.tree.__file__).read_bytes()).hexdigest()[:16]  # decoding


def crop_key(detection_key: str, cfg: PreprocessConfig, code: str) -> str:
    """What a crop depends on: the image content and detection settings (the detection
    key), the crop settings, and the crop code."""
    return hashlib.sha256(json.dumps([detection_key, cfg.margin, cfg.align, cfg.image_size,
                                      cfg.no_face, code]).encode()).hexdigest()


def _earlier_crops(previous: dict[str, FaceSet] | None) -> dict[str, tuple]:
    """crop_key -> (images, row, box, score, flag, n_faces) of the previous version."""
    out: dict[str, tuple] = {}
    for faces in (previous or {}).values():
        t = faces.table
        if "crop_key" in t.columns:
            out.update((k, (faces.images, i, box, score, flag, n)) for i, (k, box, score, flag, n)
                       in enumerate(zip(t["crop_key"], t["box"], t["score"], t["flag"],
                                        t["n_faces"], strict=True)))
    return out


def _reused_crop(earlier: dict[str, tuple], key: str) -> FaceCrop | None:
    if key not in earlier:
        return None
    images, i, box, score, flag, n_faces = earlier[key]
    return FaceCrop(np.array(images[i]), tuple(float(v) for v in box), float(score),
                    str(flag), int(n_faces))


def require_faces(face_sets: dict[str, FaceSet]) -> dict[str, FaceSet]:
    """Refuse a domain left without faces (its rejects are already written)."""
    empty = sorted(d for d, fs in face_sets.items() if len(fs.table) == 0)
    if empty:
        raise ValueError(f"domains {empty}: no face survived preprocessing; every image is in "
                         "the catalog's preprocessing_rejects (<data_root>/08_reporting/"
                         "preprocessing_rejects.csv unless the env moves it) with its reason "
                         "(for face crops, set domains.<name>.preprocessing.detector.backend: "
                         "none)")
    return face_sets


def contact_sheet(face_sets: dict[str, FaceSet], per_label: int = 2) -> Figure:
    """A grid of crops: one row per domain, ``per_label`` columns per expression (one
    mosaic image on one axis: cheap to draw however many domains and labels)."""
    from matplotlib.figure import Figure as MplFigure

    vocab = sorted({lab for fs in face_sets.values() for lab in fs.table["label"]})
    side = max((fs.images.shape[1] for fs in face_sets.values() if len(fs.images)), default=48)
    cell = side + max(2, side // 16)  # a thin white gutter between crops
    cols = len(vocab) * per_label
    mosaic = np.full((len(face_sets) * cell, max(cols, 1) * cell), 255, np.uint8)
    for r, (_, fs) in enumerate(sorted(face_sets.items())):
        labels = fs.table["label"].to_numpy()
        for c in range(cols):
            idx = np.flatnonzero(labels == vocab[c // per_label])
            if len(idx) > c % per_label:
                crop = fs.images[idx[c % per_label]]
                h, w = crop.shape
                mosaic[r * cell: r * cell + h, c * cell: c * cell + w] = crop
    fig = MplFigure(figsize=(max(cols, 1) * 0.9 + 1.2, len(face_sets) * 1.0 + 0.5))
    ax = fig.add_axes((0.1, 0.02, 0.89, 0.88))
    ax.imshow(mosaic, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_xticks([(i * per_label) * cell + side / 2 for i in range(len(vocab))],
                  vocab, fontsize=7, ha="left")
    ax.xaxis.tick_top()
    ax.set_yticks([r * cell + side / 2 for r in range(len(face_sets))],
                  sorted(face_sets), fontsize=8)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return fig
