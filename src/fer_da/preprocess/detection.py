"""Face detection over every manifest image, cached by content (library code; the
preprocessing node is a thin wrapper): the cache keys, the ``auto`` probe that decides
whether a domain is face crops, the detectors built only when an image needs one, batches
with per-image failures, and new entries flushed to the cache as detection goes.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from fer_da.datasets.cache_dataset import CacheShards
from fer_da.detect import build_detector
from fer_da.detect.registry import AUTO, AUTO_DETECTS, resolve_backend
from fer_da.digest import detection_cache_key
from fer_da.ingest import RawTree
from fer_da.preprocess.config import DetectorConfig, PreprocessConfig
from fer_da.preprocess.crops import coverage, decide, outsized, probe_sample, tiny_images
from fer_da.preprocess.faces import detect_robustly, faces_from_json, faces_to_json
from fer_da.preprocess.image import to_rgb

logger = logging.getLogger(__name__)
BOX_KEYS = ("weights", "min_score", "max_size", "min_face_size", "nms_iou", "upscale_below")
Item = tuple[str, str, RawTree, str, str]  # image id, domain, tree, path, content hash


def detector_signature(name: str, cfg: DetectorConfig) -> str:
    """The detection settings that change boxes; crop settings are deliberately absent."""
    return json.dumps({"backend": name, **{k: getattr(cfg, k) for k in BOX_KEYS}},
                      sort_keys=True)




def cache_entries(entries: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({"key": list(entries), "faces": list(entries.values())})


@dataclass
class Detectors:
    """The detectors of one run: built only when an image needs detecting (a run whose
    every image is cached imports no torch), and what each detector configuration runs."""

    factory: Callable[..., Any] = build_detector
    built: dict[tuple, Any] = field(default_factory=dict)
    names: dict[tuple, str] = field(default_factory=dict)

    def build(self, cfg: DetectorConfig) -> Any:
        if cfg.signature() not in self.built:
            self.built[cfg.signature()] = self.factory(cfg.backend, cfg.fallback,
                                                       **cfg.build_args())
        return self.built[cfg.signature()]

    def name(self, cfg: DetectorConfig) -> str:
        """The backend this configuration runs, without building it when that can be known;
        else built here, once."""
        if cfg.signature() in self.built:
            return self.built[cfg.signature()].name
        if self.factory is build_detector:
            name = resolve_backend(cfg.backend, cfg.fallback, **cfg.build_args())
            if name is not None:
                return name
        return self.build(cfg).name


def _hashes(rows: pd.DataFrame, tree: RawTree) -> list[str]:
    return list(rows["sha256"] if "sha256" in rows else rows["path"].map(tree.content_hash))


def _detect_into(detector: Any, cfg: DetectorConfig, tree: RawTree, paths: list[str],
                 keys: list[str], known: dict[str, str], new: dict[str, str]) -> None:
    """Detect the readable images of ``paths`` (an unreadable one is left out: normalisation
    rejects it later, naming the file); a detector failure is left out too (retried)."""
    images, readable = [], []
    for i, path in enumerate(paths):
        try:
            images.append(to_rgb(tree.open_image(path)))
            readable.append(i)
        except Exception:  # noqa: BLE001
            continue
    for b in range(0, len(readable), cfg.batch_size):
        chunk = readable[b: b + cfg.batch_size]
        found = detect_robustly(detector, images[b: b + cfg.batch_size], cfg.upscale_below)
        for i, faces in zip(chunk, found, strict=True):
            if not isinstance(faces, Exception):
                known[keys[i]] = new[keys[i]] = faces_to_json(faces)


def resolve_auto(cfg: DetectorConfig, manifest: pd.DataFrame, tree: RawTree,
                 known: dict[str, str], new: dict[str, str], detectors: Detectors
                 ) -> tuple[DetectorConfig, str]:
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
    hashes = _hashes(rows, tree)

    def keyed(name: str) -> list[str]:
        signature = detector_signature(name, real)
        return [detection_cache_key(sha, signature) for sha in hashes]

    keys = keyed(detectors.name(real))
    if any(k not in known for k in keys):
        keys = keyed(detectors.build(real).name)  # a fallback keys its own boxes
        missing = [i for i, k in enumerate(keys) if k not in known]
        _detect_into(detectors.build(real), real, tree,
                     [rows["path"].iloc[i] for i in missing], [keys[i] for i in missing],
                     known, new)
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


def key_rows(groups: dict[tuple, list[Item]], configs: dict[tuple, DetectorConfig],
             names: dict[tuple, str], known: dict[str, str]
             ) -> tuple[list[dict[str, Any]], dict[tuple, list]]:
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


Part = tuple[str, pd.DataFrame, DetectorConfig]  # domain, its images, their detector


def _grouped(parts: list[Part], raw: dict[str, RawTree], detectors: Detectors
             ) -> dict[tuple, list[Item]]:
    """The images of every part grouped by detector configuration."""
    groups: dict[tuple, list[Item]] = {}
    for domain, manifest, cfg in parts:
        tree = raw[domain]
        groups.setdefault(cfg.signature(), []).extend(
            (image_id, domain, tree, path, sha) for image_id, path, sha in
            zip(manifest["image_id"], manifest["path"], _hashes(manifest, tree), strict=True))
        if cfg.signature() not in detectors.names:
            detectors.names[cfg.signature()] = detectors.name(cfg)
    return groups


def split_outsized(domain: str, manifest: pd.DataFrame, cfg: DetectorConfig,
                   auto: DetectorConfig) -> tuple[list[Part], str]:
    """A domain ``auto`` judged face crops may still hold photographs (a few portraits
    among the crops): those are detected with ``auto``'s detector, the rest taken whole; a
    warning names them. Returns the parts and what the detail column adds."""
    big = outsized(manifest["width"], manifest["height"], auto.auto_below)
    if cfg.backend != "none" or not big.any():
        return [(domain, manifest, cfg)], ""
    named = manifest.loc[big, "path"].tolist()
    logger.warning("%s: %d of %d images are much larger than the domain's face crops and are "
                   "detected, not taken whole: %s%s", domain, len(named), len(manifest),
                   ", ".join(named[:10]), " …" if len(named) > 10 else "")
    return ([(domain, manifest[~big], cfg),
             (domain, manifest[big], replace(auto, backend=AUTO_DETECTS))],
            f"; {len(named)} larger images detected")


def plan_detection(groups: dict[tuple, list[Item]], by_signature: dict[tuple, DetectorConfig],
                   detectors: Detectors, known: dict[str, str]
                   ) -> tuple[list[dict[str, Any]], dict[tuple, list]]:
    """Rows and the images to detect; a detector is built for each configuration that has
    some (one that builds another backend than foreseen re-keys its rows)."""
    rows, todo = key_rows(groups, by_signature, detectors.names, known)
    for sig in [s for s in todo if s not in detectors.built]:  # something to detect
        detector = detectors.build(by_signature[sig])
        if detector.name != detectors.names[sig]:
            detectors.names[sig] = detector.name
            rows, todo = key_rows(groups, by_signature, detectors.names, known)
    return rows, todo


def _detect_batch(detector: Any, cfg: DetectorConfig, items: list, rows: list[dict],
                  found: dict[str, str]) -> None:
    """One batch: a failure to decode or detect is a ``failed`` row naming the error; the
    rest of the batch is kept (``found``: key -> faces)."""
    chunk, images = [], []
    for i, tree, path in items:
        try:
            images.append(to_rgb(tree.open_image(path)))
            chunk.append(i)
        except Exception as exc:  # noqa: BLE001 - a reject naming the file
            rows[i].update(status="failed", detail=f"decode: {exc}"[:200])
    for i, faces in zip(chunk, detect_robustly(detector, images, cfg.upscale_below),
                        strict=True):
        if isinstance(faces, Exception):
            rows[i].update(status="failed", detail=f"{type(faces).__name__}: {faces}"[:200])
        else:
            found[rows[i]["key"]] = faces_to_json(faces)


def run_detection(todo: dict[tuple, list], detectors: dict[tuple, tuple[Any, DetectorConfig]],
                  rows: list[dict], new: dict[str, str], shards: CacheShards | None
                  ) -> dict[str, str]:
    """Detect every image of ``todo`` in batches; new entries go to ``new`` and, every N
    images or seconds, to ``shards`` (a killed run keeps them). Returns those not flushed."""
    pending: dict[str, str] = dict(new)  # detected, not yet flushed to the cache
    n_todo, start = sum(len(v) for v in todo.values()), time.perf_counter()
    with tqdm(total=n_todo, desc="detect", unit="img", disable=not n_todo) as bar:
        for signature, items in todo.items():
            detector, cfg = detectors[signature]
            for b in range(0, len(items), cfg.batch_size):
                found: dict[str, str] = {}
                _detect_batch(detector, cfg, items[b: b + cfg.batch_size], rows, found)
                new.update(found)
                pending.update(found)
                bar.update(len(items[b: b + cfg.batch_size]))
                if shards is not None and shards.due(len(pending)):
                    shards.append(cache_entries(pending))
                    pending = {}
    if n_todo:
        rate = n_todo / max(time.perf_counter() - start, 1e-9)
        logger.info("Detected %d images at %.1f images/s (%d flushed to the cache as they "
                    "came)", n_todo, rate, shards.written if shards is not None else 0)
    return pending


def detect_all(manifests: dict[str, pd.DataFrame], raw: dict[str, RawTree],
               cache: pd.DataFrame, configs: dict[str, PreprocessConfig],
               detector_factory: Callable[..., Any] = build_detector,
               shards: CacheShards | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Boxes, landmarks and scores for every manifest image, with each domain's detector:
    (detections of this run, new cache entries not yet flushed). Images already in
    ``cache`` are not detected again."""
    detectors, configs = Detectors(detector_factory), dict(configs)
    known = dict(zip(cache.get("key", []), cache.get("faces", []), strict=False))
    new: dict[str, str] = {}
    choices: dict[str, str] = {}  # backend auto: per domain, what was decided and why
    parts: list[Part] = []
    for domain, manifest in manifests.items():
        cfg = configs[domain].detector
        if cfg.backend != AUTO:
            parts.append((domain, manifest, cfg))
            continue
        decided, choices[domain] = resolve_auto(cfg, manifest, raw[domain], known, new,
                                                detectors)
        configs[domain] = replace(configs[domain], detector=decided)
        split, extra = split_outsized(domain, manifest, decided, cfg)
        parts += split
        choices[domain] += extra
    groups = _grouped(parts, raw, detectors)
    by_signature = {c.signature(): c for _, _, c in parts}
    rows, todo = plan_detection(groups, by_signature, detectors, known)
    for row in rows:
        row["detail"] = choices.get(row["domain"], "")
    logger.info("Face detection: %d images, %d cached, %d to detect", len(rows),
                len(rows) - sum(len(v) for v in todo.values()), sum(len(v) for v in todo.values()))
    built = {sig: (d, by_signature[sig]) for sig, d in detectors.built.items()
             if sig in by_signature}  # not a probe's detector whose domain was crops
    pending = run_detection(todo, built, rows, new, shards)
    known.update(new)
    detections = pd.DataFrame(rows, columns=["image_id", "domain", "key", "detector", "status",
                                             "detail"])
    detections["faces"] = detections["key"].map(known)
    return detections, cache_entries(pending if shards is not None else new)
