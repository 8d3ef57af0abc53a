"""From a raw tree to a manifest and a rejects list, with every file accounted for."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from fer_da.ingest.parsers import NEEDS_VOCABULARY, PARSERS, Parsed
from fer_da.ingest.tree import RawTree

logger = logging.getLogger(__name__)

MANIFEST_COLUMNS = ["domain", "image_id", "path", "subject", "label", "width", "height", "mode"]
REJECT_COLUMNS = ["domain", "path", "reason", "detail"]


@dataclass(frozen=True)
class DomainSpec:
    """One domain as declared in ``params:domains``."""

    name: str
    layout: str
    role: Literal["source", "target"]
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.layout not in PARSERS:
            raise ValueError(f"domain {self.name!r}: unknown layout {self.layout!r}; "
                             f"choose one of {sorted(PARSERS)}")
        if self.role not in ("source", "target"):
            raise ValueError(f"domain {self.name!r}: role must be 'source' or 'target', "
                             f"not {self.role!r}")


def parse_domain_specs(domains: Mapping[str, Mapping[str, Any]]) -> list[DomainSpec]:
    """Validate ``params:domains``: a mapping name -> {layout, role, options}."""
    if not domains:
        raise ValueError("params:domains is empty; declare at least one domain (docs/labs.md)")
    specs = []
    for name, body in domains.items():
        unknown = set(body) - {"layout", "role", "options"}
        if unknown:
            raise ValueError(f"domain {name!r}: unknown keys {sorted(unknown)}")
        specs.append(DomainSpec(name=name, layout=body.get("layout", ""),
                                role=body.get("role", "target"),
                                options=dict(body.get("options") or {})))
    if sum(s.role == "source" for s in specs) < 1:
        raise ValueError("params:domains declares no source domain")
    return specs


@dataclass
class IngestResult:
    manifest: pd.DataFrame
    rejects: pd.DataFrame
    seen: int
    metadata_files: int

    @property
    def counts(self) -> dict[str, int]:
        return {"seen": self.seen, "accepted": len(self.manifest),
                "metadata_files": self.metadata_files, "rejected": len(self.rejects)}


def _dedupe(parsed: Parsed) -> Parsed:
    kept: dict[str, str] = {}
    rows = []
    for row in sorted(parsed.rows, key=lambda r: r["path"]):
        key = row["key"].lower()
        if key in kept:
            parsed.reject(row["path"], "duplicate", f"same image as {kept[key]}")
        else:
            kept[key] = row["path"]
            rows.append(row)
    parsed.rows = rows
    return parsed


def _filter_labels(parsed: Parsed, vocabulary: tuple[str, ...]) -> Parsed:
    rows = []
    for row in parsed.rows:
        if row["label"] in vocabulary:
            rows.append(row)
        else:
            parsed.reject(row["path"], "excluded_label", f"label {row['label']!r} is not kept")
    parsed.rows = rows
    return parsed


def _validate_images(parsed: Parsed, tree: RawTree) -> Parsed:
    rows = []
    for row in parsed.rows:
        path = row["path"]
        if "#row=" not in path and (tree.root / path).stat().st_size == 0:
            parsed.reject(path, "empty_file", "zero bytes")
            continue
        try:
            img = tree.open_image(path)
        except Exception as exc:  # noqa: BLE001 - any decoder error means unreadable
            parsed.reject(path, "unreadable_image", f"{type(exc).__name__}: {exc}"[:200])
            continue
        rows.append({**row, "width": img.width, "height": img.height, "mode": img.mode})
    parsed.rows = rows
    return parsed


def ingest_domain(spec: DomainSpec, tree: RawTree, vocabulary: tuple[str, ...]) -> IngestResult:
    """Parse one domain; every file of the tree ends in the manifest, the metadata or rejects."""
    tree.check()
    parser = PARSERS[spec.layout]
    if spec.layout in NEEDS_VOCABULARY:
        parsed = parser(tree, spec.options, vocabulary=vocabulary + ("contempt",))
    else:
        parsed = parser(tree, spec.options)
    parsed = _validate_images(_filter_labels(_dedupe(parsed), vocabulary), tree)
    covered = ({r["path"] for r in parsed.rows} | {r["path"] for r in parsed.rejects}
               | set(parsed.metadata_files))
    for rel in tree.files:
        if rel not in covered:  # a parser bug must not lose a file
            parsed.reject(rel, "unaccounted", "the parser neither used nor rejected this file")
    manifest = pd.DataFrame(parsed.rows)
    if manifest.empty:
        manifest = pd.DataFrame(columns=[*MANIFEST_COLUMNS, "key"])
    manifest.insert(0, "domain", spec.name)
    manifest.insert(1, "image_id", spec.name + "/" + manifest["key"].astype(str))
    manifest = manifest.drop(columns="key")
    extras = [c for c in manifest.columns if c not in MANIFEST_COLUMNS]
    manifest = manifest[MANIFEST_COLUMNS + extras].sort_values("path").reset_index(drop=True)
    rejects = pd.DataFrame(parsed.rejects, columns=["path", "reason", "detail"])
    rejects.insert(0, "domain", spec.name)
    rejects = rejects.sort_values("path").reset_index(drop=True)
    result = IngestResult(manifest, rejects, seen=len(manifest) + len(rejects)
                          + len(parsed.metadata_files), metadata_files=len(parsed.metadata_files))
    c = result.counts
    logger.info("%s (%s): %d seen = %d accepted + %d label/index files + %d rejected",
                spec.name, spec.layout, c["seen"], c["accepted"], c["metadata_files"],
                c["rejected"])
    return result
