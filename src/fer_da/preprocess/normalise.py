"""Faces cut from their images with each domain's settings, split, and the protocol row
of each domain (library code; the preprocessing node is a thin wrapper). A face whose
``crop_key`` (image content, detection, crop settings, crop code) the previous face-set
version holds is taken from it instead of being decoded and cropped again.
"""

from __future__ import annotations

import hashlib
import logging
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from fer_da.digest import crop_key
from fer_da.facesets import FaceSet
from fer_da.ingest import RawTree
from fer_da.preprocess.config import PreprocessConfig
from fer_da.preprocess.faces import FaceCrop, faces_from_json, normalise_face
from fer_da.preprocess.image import to_rgb
from fer_da.preprocess.splits import SPLITS, TRANSDUCTIVE, SplitError, assign_split, cap_train
from fer_da.validate import ConfigError

logger = logging.getLogger(__name__)
REJECT_COLUMNS = ["domain", "path", "reason", "detail"]


def split_columns(table: pd.DataFrame, cfg: PreprocessConfig, domain: str,
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


def crop_code_digest() -> str:
    """The source of the code that turns an image and its detection into a crop
    (``fer_da/preprocess``): a change of it makes every crop anew."""
    from pathlib import Path

    import fer_da.ingest.tree
    import fer_da.preprocess
    from fer_da.provenance import source_digest

    return source_digest(Path(fer_da.preprocess.__file__).parent) + hashlib.sha256(
        Path(fer_da.ingest.tree.__file__).read_bytes()).hexdigest()[:16]  # decoding




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




def _face(rec: dict, det: dict, cfg: PreprocessConfig, tree: RawTree, code: str,
          earlier: dict[str, tuple]) -> tuple[FaceCrop | None, str, dict | None]:
    """The face of one manifest row (reused, or cut anew), its crop key, or a reject."""
    if det["status"] != "ok":
        return None, "", {"reason": "detection_failed", "detail": det["detail"]}
    key = crop_key(det["key"] + str(det["faces"]), cfg, code)  # the boxes found too
    face = _reused_crop(earlier, key)
    if face is None:
        try:
            rgb = to_rgb(tree.open_image(rec["path"]))
        except Exception as exc:  # noqa: BLE001 - changed since ingestion
            return None, key, {"reason": "unreadable_image", "detail": str(exc)[:200]}
        face = normalise_face(rgb, faces_from_json(det["faces"]), det["detector"], cfg)
    if face is None:
        return None, key, {"reason": "no_face", "detail": f"{det['detector']} found no face"}
    return face, key, None


def _row(rec: dict, det: dict, face: FaceCrop, key: str, domain: str,
         classes: list[str]) -> dict[str, Any]:
    return {"image_id": rec["image_id"], "domain": domain, "role": rec["role"],
            "path": rec["path"], "subject": rec["subject"], "label": rec["label"],
            "label_idx": classes.index(rec["label"]), "detector": det["detector"],
            "n_faces": face.n_faces, "score": face.score, "flag": face.flag,
            "box": list(face.box), "source_split": rec.get("source_split"), "crop_key": key}


def cut_domain(domain: str, manifest: pd.DataFrame, tree: RawTree, cfg: PreprocessConfig,
               by_id: Mapping[str, dict], classes: list[str], earlier: dict[str, tuple],
               code: str) -> tuple[np.ndarray, pd.DataFrame, list[dict]]:
    """One domain's crops (uint8, N x S x S), their table, and its rejects."""
    crops, rows, rejects = [], [], []
    for rec in manifest.to_dict("records"):
        det = by_id[rec["image_id"]]
        face, key, reject = _face(rec, det, cfg, tree, code, earlier)
        if reject is not None:
            rejects.append({"domain": domain, "path": rec["path"], **reject})
            continue
        crops.append(face.image)
        rows.append(_row(rec, det, face, key, domain, classes))
    size = cfg.image_size
    images = np.stack(crops) if crops else np.zeros((0, size, size), np.uint8)
    table = pd.DataFrame(rows, columns=None if rows else ["image_id", "domain", "label",
                                                          "label_idx", "split"])
    return images, table, rejects


def protocol_row(domain: str, spec: Any, tree: RawTree, cfg: PreprocessConfig,
                 table: pd.DataFrame, manifest: pd.DataFrame, by_id: Mapping[str, dict],
                 classes: list[str]) -> dict[str, Any]:
    """What the report's protocol table says of a domain: layout, detector and its choice,
    split mode, counts per split, subjects, classes without an image."""
    per_split = {s: int((table["split"] == s).sum()) if len(table) else 0 for s in SPLITS}
    return {
        "domain": domain, "role": spec.role, "layout": spec.layout,
        "data": "synthetic" if getattr(tree, "synthetic", False) else "real",
        "detector": "+".join(sorted(set(table.get("detector", [])))) or "",
        "detector_backend": cfg.detector.backend,
        "detector_choice": next((by_id[i]["detail"] for i in manifest["image_id"]
                                 if str(by_id[i]["detail"]).startswith("auto:")), ""),
        "margin": cfg.margin, "split_mode": cfg.split.mode, "split_seed": cfg.split.seed,
        "vary_with_seed": cfg.split.vary_with_seed, "images": len(table),
        **{f"n_{s}": n for s, n in per_split.items()},
        "n_unused": int((table["split"] == "unused").sum()) if len(table) else 0,
        "subjects": int(table["subject"].nunique()) if len(table) else 0,
        "missing_classes": ",".join(sorted(set(classes) - set(table["label"])))}


def _refuse_transductive_source(domain: str, cfg: PreprocessConfig, spec: Any) -> None:
    if cfg.split.mode == TRANSDUCTIVE and spec.role != "target":
        raise ConfigError(f"domains.{domain}.preprocessing.split.mode: transductive puts "
                          f"every image in the test split, so it is for an unlabelled "
                          f"target only; {domain!r} is a {spec.role}")


def normalise_all(manifests: dict[str, pd.DataFrame], raw: dict[str, RawTree],
                  detections: pd.DataFrame, configs: dict[str, PreprocessConfig],
                  specs: Mapping[str, Any], classes: list[str], seeds: list[int],
                  previous: dict[str, FaceSet] | None = None
                  ) -> tuple[dict[str, FaceSet], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Face sets (a domain may be empty: :func:`require_faces` refuses it after the rejects
    are written), rejects, counts per split and label, one protocol row per domain."""
    by_id = detections.set_index("image_id").to_dict("index")  # a dict: fast per row
    earlier, code = _earlier_crops(previous), crop_code_digest()
    out, rejects, counts, protocol = {}, [], [], []
    for domain, manifest in manifests.items():
        cfg = configs[domain]
        _refuse_transductive_source(domain, cfg, specs[domain])
        images, table, refused = cut_domain(domain, manifest, raw[domain], cfg, by_id,
                                            classes, earlier, code)
        rejects += refused
        if earlier:
            logger.info("%s: %d of %d crops taken from face-set version %s", domain,
                        int(table["crop_key"].isin(earlier).sum()) if len(table) else 0,
                        len(table), next(iter(previous.values())).version)
        if len(table):
            table = split_columns(table, cfg, domain, seeds)
            counts.append(table.groupby(["split", "label"]).size().rename("n").reset_index()
                          .assign(domain=domain))
        out[domain] = FaceSet(images, table).grouped_by_split()  # splits: contiguous rows
        row = protocol_row(domain, specs[domain], raw[domain], cfg, table, manifest, by_id,
                           classes)
        protocol.append(row)
        logger.info("%s: %d faces (%d train / %d val / %d test), split %s, detector %s",
                    domain, len(table), row["n_train"], row["n_val"], row["n_test"],
                    cfg.split.mode, row["detector"])
        if row["missing_classes"]:
            logger.warning("%s has no image of %s", domain, row["missing_classes"].split(","))
    summary = (pd.concat(counts, ignore_index=True)[["domain", "split", "label", "n"]]
               if counts else pd.DataFrame(columns=["domain", "split", "label", "n"]))
    return (out, pd.DataFrame(rejects, columns=REJECT_COLUMNS), summary,
            pd.DataFrame(protocol))
