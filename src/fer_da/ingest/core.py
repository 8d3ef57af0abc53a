"""From a raw tree to a manifest and a rejects list, with every file accounted for."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from fer_da.ingest.parsers import LAYOUT_OPTIONS, NEEDS_VOCABULARY, PARSERS, Parsed
from fer_da.ingest.tree import (
    OversizedImageError,
    RawTree,
    frame_count,
    is_member,
    member_file,
)
from fer_da.labels import KNOWN_LABELS
from fer_da.preprocess.image import image_depth
from fer_da.validate import ConfigError, as_choice, check_keys

logger = logging.getLogger(__name__)

MANIFEST_COLUMNS = ["domain", "image_id", "path", "subject", "label", "width", "height", "mode",
                    "sha256"]
# what decoding a file told, reused while its (size, mtime_ns, inode, ctime_ns) stay the same
PROBED = ("width", "height", "mode", "bit_depth", "sha256")
SIGNATURE = ("size", "mtime_ns", "inode", "ctime_ns")  # RawTree.signature's order
INDEX_COLUMNS = ["root", "path", *SIGNATURE, *PROBED]
REJECT_COLUMNS = ["domain", "path", "reason", "detail"]
DOMAIN_KEYS = ("layout", "role", "options", "labels", "preprocessing")


@dataclass(frozen=True)
class DomainSpec:
    """One domain as declared in ``params:domains``.

    ``labels`` maps a label of this domain to another name, or to ``None`` to drop it (its
    images become ``excluded_label`` rejects); ``preprocessing`` overrides the global
    ``params:preprocessing`` for this domain (validated by the preprocessing stage).
    """

    name: str
    layout: str
    role: Literal["source", "target"]
    options: Mapping[str, Any] = field(default_factory=dict)
    labels: Mapping[str, str | None] = field(default_factory=dict)
    preprocessing: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        where = f"domains.{self.name}"
        as_choice(self.layout, f"{where}.layout", sorted(PARSERS))
        as_choice(self.role, f"{where}.role", ("source", "target"))
        check_keys(self.options, LAYOUT_OPTIONS[self.layout],
                   f"{where}.options (layout {self.layout!r})")
        for old, new in self.labels.items():
            if new is not None and not isinstance(new, str):
                raise ConfigError(f"{where}.labels.{old} must be a label name or null, "
                                  f"got {new!r}")


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a mapping, got {value!r}")
    return dict(value)


DOMAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def parse_domain_specs(domains: Mapping[str, Mapping[str, Any]]) -> list[DomainSpec]:
    """Validate ``params:domains``: a mapping name -> {layout, role, options, labels,
    preprocessing}."""
    if not domains:
        raise ConfigError("params:domains is empty; declare at least one domain (docs/labs.md)")
    specs = []
    for name, raw in domains.items():
        if not isinstance(name, str) or not DOMAIN_NAME.fullmatch(name):
            raise ConfigError(f"domains.{name}: a domain name becomes a folder and a file "
                              "name; use letters, digits, '_' and '-' (starting with a "
                              f"letter or digit), got {name!r}")
        body = check_keys(raw, DOMAIN_KEYS, f"domains.{name}")
        specs.append(DomainSpec(
            name=name, layout=body.get("layout", ""), role=body.get("role", "target"),
            options=_mapping(body.get("options"), f"domains.{name}.options"),
            labels=_mapping(body.get("labels"), f"domains.{name}.labels"),
            preprocessing=_mapping(body.get("preprocessing"), f"domains.{name}.preprocessing")))
    if sum(s.role == "source" for s in specs) < 1:
        raise ConfigError("params:domains declares no source domain (role: source)")
    return specs


@dataclass
class IngestResult:
    manifest: pd.DataFrame
    rejects: pd.DataFrame
    seen: int
    metadata_files: int
    index: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=INDEX_COLUMNS))
    rehashed: int = 0  # images read and decoded (the rest came from the index)

    @property
    def counts(self) -> dict[str, int]:
        return {"seen": self.seen, "accepted": len(self.manifest),
                "metadata_files": self.metadata_files, "rejected": len(self.rejects)}


def _dedupe_names(parsed: Parsed) -> Parsed:
    """One row per image name (case-insensitive): a second row of the same name with the
    same label is a ``duplicate``; rows of one name with different labels (a csv listing
    a file twice) are all ``conflicting_duplicate``: no label is guessed."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in sorted(parsed.rows, key=lambda r: r["path"]):
        groups.setdefault(row["key"].lower(), []).append(row)
    rows = []
    for copies in groups.values():
        labels = sorted({str(c.get("label")) for c in copies})
        if len(labels) > 1:
            for c in copies:
                parsed.reject(c["path"], "conflicting_duplicate",
                              f"listed {len(copies)} times with the labels {labels}")
            continue
        rows.append(copies[0])
        for c in copies[1:]:
            parsed.reject(c["path"], "duplicate", f"same image name as {copies[0]['path']}")
    parsed.rows = rows
    return parsed


def _map_labels(parsed: Parsed, spec: DomainSpec, vocabulary: tuple[str, ...]) -> Parsed:
    rows = []
    for row in parsed.rows:
        label = row["label"]
        if label in spec.labels:
            label = spec.labels[label]
            if label is None:
                parsed.reject(row["path"], "excluded_label",
                              f"label {row['label']!r} dropped by domains.{spec.name}.labels")
                continue
        if label in vocabulary:
            rows.append({**row, "label": label})
        else:
            parsed.reject(row["path"], "excluded_label",
                          f"label {label!r} is not in labels.classes {list(vocabulary)}")
    parsed.rows = rows
    return parsed


def _validate_images(parsed: Parsed, tree: RawTree,
                     index: Mapping[str, dict[str, Any]] | None = None
                     ) -> tuple[Parsed, list[dict[str, Any]], int]:
    """Decode every image once: size, mode and the sha256 of its content.

    ``index`` (path -> an earlier probe with the file's size, mtime_ns, inode, ctime_ns): a file
    whose signature is unchanged is not read again. Returns the parsed rows, this tree's
    index rows and how many files were read."""
    rows, index_rows, read = [], [], 0
    root = str(tree.root.resolve())
    for row in parsed.rows:
        path = row["path"]
        signature = tree.signature(path)
        earlier = (index or {}).get(path)
        if (signature is not None and earlier is not None
                and tuple(earlier.get(k) for k in SIGNATURE) == signature):
            probed = {k: earlier[k] for k in PROBED}
            rows.append({**row, **probed})
            index_rows.append(earlier)
            continue
        read += 1
        try:
            data = tree.content_bytes(path)
            if not data:
                parsed.reject(path, "empty_file", "zero bytes")
                continue
            img = tree.open_image(path, None if is_member(path) else data)
            frames = 1 if is_member(path) else frame_count(data)
        except OversizedImageError as exc:
            parsed.reject(path, "oversized_image", str(exc)[:200])
            continue
        except Exception as exc:  # noqa: BLE001 - any read or decoder error means unreadable
            parsed.reject(path, "unreadable_image", f"{type(exc).__name__}: {exc}"[:200])
            continue
        if frames > 1:
            parsed.reject(path, "multi_frame", f"{frames} frames (an animation or a "
                          "multi-page file): a face set takes still images; save the "
                          "frames as files (inference reads every frame)")
            continue
        probed = {"width": img.width, "height": img.height, "mode": img.mode,
                  "bit_depth": image_depth(img), "sha256": hashlib.sha256(data).hexdigest()}
        rows.append({**row, **probed})
        if signature is not None:
            index_rows.append({"root": root, "path": path,
                               **dict(zip(SIGNATURE, signature, strict=True)), **probed})
    parsed.rows = rows
    return parsed, index_rows, read


def _recheck_duplicates(parsed: Parsed, tree: RawTree, index: Mapping[str, dict[str, Any]],
                        index_rows: list[dict[str, Any]]
                        ) -> tuple[Parsed, list[dict[str, Any]], int]:
    """A duplicate verdict rests on the bytes, never on the index alone: rows that share a
    sha256 taken from the index are read again, and a file whose bytes disagree with its
    index entry (an edited or stale index) is probed afresh, with a warning naming it.
    Returns the rows, the index rows and how many files were probed again."""
    counts: dict[str, int] = {}
    for row in parsed.rows:
        counts[row["sha256"]] = counts.get(row["sha256"], 0) + 1
    suspects = {r["path"] for r in parsed.rows if counts[r["sha256"]] > 1 and r["path"] in index
                and index[r["path"]].get("sha256") == r["sha256"]
                and hashlib.sha256(tree.content_bytes(r["path"])).hexdigest() != r["sha256"]}
    if not suspects:
        return parsed, index_rows, 0
    logger.warning("%s: the ingestion index gave %d files a sha256 their bytes do not have "
                   "(%s); probed again", tree.root, len(suspects), ", ".join(sorted(suspects)[:5]))
    fresh = Parsed(rows=[r for r in parsed.rows if r["path"] in suspects])
    fresh, fresh_index, read = _validate_images(fresh, tree)
    parsed.rows = [r for r in parsed.rows if r["path"] not in suspects] + fresh.rows
    parsed.rejects += fresh.rejects
    kept = [r for r in index_rows if r["path"] not in suspects]
    return parsed, kept + fresh_index, read


def _dedupe_content(parsed: Parsed) -> Parsed:
    """Identical bytes under two names are one image; with conflicting labels, none."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in sorted(parsed.rows, key=lambda r: r["path"]):
        groups.setdefault(row["sha256"], []).append(row)
    rows = []
    for copies in groups.values():
        first = copies[0]
        labels = sorted({c["label"] for c in copies})
        if len(labels) > 1:
            for c in copies:
                others = ", ".join(f"{o['path']} ({o['label']})" for o in copies if o is not c)
                parsed.reject(c["path"], "conflicting_duplicate",
                              f"same bytes as {others}"[:300])
            continue
        rows.append(first)
        for c in copies[1:]:
            parsed.reject(c["path"], "duplicate", f"same bytes as {first['path']}")
    parsed.rows = rows
    return parsed


def ingest_domain(spec: DomainSpec, tree: RawTree, vocabulary: tuple[str, ...],
                  index: pd.DataFrame | None = None) -> IngestResult:
    """Parse one domain; every file of the tree ends in the manifest, the metadata or rejects.

    A domain whose every file is rejected returns an empty manifest; the caller decides
    (after writing the rejects) that this is an error. ``index``: earlier probes
    (:data:`INDEX_COLUMNS`, any roots); files of this root whose size, modification time and
    inode are unchanged are not read again.
    """
    tree.check()
    parser = PARSERS[spec.layout]
    recognised = tuple(dict.fromkeys(KNOWN_LABELS + vocabulary + tuple(
        v for v in spec.labels.values() if v)))
    if spec.layout in NEEDS_VOCABULARY:
        parsed = parser(tree, spec.options, vocabulary=recognised)
    else:
        parsed = parser(tree, spec.options)
    for problem in tree.problems:
        parsed.reject(problem.path, problem.reason, problem.detail)
    earlier = _index_of(index, tree)
    parsed, index_rows, read = _validate_images(
        _map_labels(_dedupe_names(parsed), spec, vocabulary), tree, earlier)
    parsed, index_rows, reread = _recheck_duplicates(parsed, tree, earlier, index_rows)
    read += reread
    parsed = _dedupe_content(parsed)
    covered = ({r["path"] for r in parsed.rows} | {r["path"] for r in parsed.rejects}
               | set(parsed.metadata_files))
    covered |= {member_file(p) for p in covered if is_member(p)}  # a photo of listed faces
    for rel in tree.files:
        if rel not in covered:  # a parser bug must not lose a file
            parsed.reject(rel, "unaccounted", "the parser neither used nor rejected this file")
    manifest = pd.DataFrame(parsed.rows, columns=None if parsed.rows else
                            [c for c in MANIFEST_COLUMNS if c not in ("domain", "image_id")]
                            + ["key"])
    manifest.insert(0, "domain", spec.name)
    manifest.insert(1, "image_id", spec.name + "/" + manifest["key"].astype(str))
    manifest = manifest.drop(columns="key")
    extras = [c for c in manifest.columns if c not in MANIFEST_COLUMNS]
    manifest = manifest[MANIFEST_COLUMNS + extras].sort_values("path").reset_index(drop=True)
    rejects = pd.DataFrame(parsed.rejects, columns=["path", "reason", "detail"])
    rejects.insert(0, "domain", spec.name)
    rejects = rejects.sort_values("path").reset_index(drop=True)
    result = IngestResult(manifest, rejects, seen=len(manifest) + len(rejects)
                          + len(parsed.metadata_files), metadata_files=len(parsed.metadata_files),
                          index=pd.DataFrame(index_rows, columns=INDEX_COLUMNS), rehashed=read)
    logger.info("%s", ingestion_line(spec.name, spec.layout, result.counts, rejects, read))
    return result


def by_reason(reasons: pd.Series) -> str:
    """``' (78 intermediate_frame, 54 unlabelled_sequence)'``, most frequent first."""
    counts = reasons.value_counts(sort=False)
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return f" ({', '.join(f'{n} {r}' for r, n in ordered)})" if ordered else ""


def ingestion_line(name: str, layout: str, c: Mapping[str, int], rejects: pd.DataFrame,
                   read: int) -> str:
    """What ingesting one domain did: files seen = accepted + label/index files + left out
    by the layout's protocol (by reason) + refused (by reason)."""
    designed = rejects["reason"].isin(BY_DESIGN)
    return (f"{name} ({layout}): {c['seen']} seen = {c['accepted']} accepted + "
            f"{c['metadata_files']} label/index files + {int(designed.sum())} left out by "
            f"the layout's protocol{by_reason(rejects.loc[designed, 'reason'])} + "
            f"{int((~designed).sum())} refused{by_reason(rejects.loc[~designed, 'reason'])} "
            f"({read} images read, the rest unchanged since the last ingestion; each row of "
            "the rejects table says why)")


# reject reasons that are the protocol working as designed, not a damaged or unknown file
BY_DESIGN = frozenset({"intermediate_frame", "after_peak_frame", "unlabelled_sequence",
                       "excluded_angle", "excluded_session", "other_variant",
                       "not_an_expression", "low_confidence", "excluded_label"})


def _index_of(index: pd.DataFrame | None, tree: RawTree) -> dict[str, dict[str, Any]]:
    """The earlier probes of this tree's root, by path."""
    if index is None or index.empty:
        return {}
    mine = index[index["root"] == str(tree.root.resolve())]
    return {r["path"]: r for r in mine.to_dict("records")}
