"""Every declared domain read from its native layout into a manifest, with its rejects,
counts and the ingestion index (library code; the ingestion node is a thin wrapper)."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from fer_da.ingest.core import INDEX_COLUMNS, ingest_domain, parse_domain_specs
from fer_da.ingest.tree import RawTree
from fer_da.labels import vocabulary
from fer_da.validate import ConfigError

logger = logging.getLogger(__name__)


def ingest_all(
    raw: dict[str, RawTree], domains: dict[str, Any], labels: dict[str, Any],
    index: pd.DataFrame | None = None,
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Parse every declared domain into a manifest; collect rejects and per-domain counts.

    ``index``: what the last ingestion read of each file (content hash, size, mode) with
    the file's size, mtime and inode; unchanged files are not read again. Returns the
    manifests, rejects, summary and the new index (other roots' entries kept)."""
    specs = parse_domain_specs(domains)
    declared = {s.name for s in specs}
    missing = sorted(declared - set(raw))
    if missing:
        raise ConfigError(f"domains {missing} are declared in params:domains but have no root "
                          f"in the catalog entry raw_domains (roots: {sorted(raw)}); "
                          "see docs/labs.md")
    undeclared = sorted(set(raw) - declared)
    if undeclared:
        raise ConfigError(f"the catalog entry raw_domains has roots {undeclared} that no domain "
                          f"in params:domains declares (declared: {sorted(declared)}); declare "
                          "them or remove the roots (see docs/labs.md)")
    classes = vocabulary(labels)
    manifests, rejects, summary, probes = {}, [], [], []
    for spec in specs:
        result = ingest_domain(spec, raw[spec.name], classes, index)
        probes.append(result.index)
        manifest = result.manifest.assign(role=spec.role)
        absent = sorted(set(classes) - set(manifest["label"]))
        if absent and len(manifest):
            logger.warning("%s has no image of %s", spec.name, absent)
        manifests[spec.name] = manifest
        rejects.append(result.rejects)
        summary.append({"domain": spec.name, "layout": spec.layout, "role": spec.role,
                        **result.counts, "subjects": manifest["subject"].nunique(),
                        "labels": manifest["label"].nunique(), "read": result.rehashed,
                        "missing_classes": ",".join(absent)})
    return (manifests, pd.concat(rejects, ignore_index=True), pd.DataFrame(summary),
            merge_index(index, probes, [str(raw[s.name].root.resolve()) for s in specs]))


def merge_index(old: pd.DataFrame | None, new: list[pd.DataFrame],
                roots: list[str]) -> pd.DataFrame:
    """This run's probes of ``roots`` replace the old ones; other roots' entries stay (two
    envs sharing the index do not evict each other). Sorted: an unchanged index is the
    same bytes, so it is not rewritten."""
    kept = [] if old is None or old.empty else [old[~old["root"].isin(roots)]]
    frames = [f for f in kept + new if not f.empty]
    if not frames:
        return pd.DataFrame(columns=INDEX_COLUMNS)
    merged = pd.concat(frames, ignore_index=True)[INDEX_COLUMNS]
    return merged.sort_values(["root", "path"]).reset_index(drop=True)


def require_images(manifests: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Refuse a domain whose every file was rejected (the rejects report is already written)."""
    empty = sorted(name for name, m in manifests.items() if len(m) == 0)
    if empty:
        raise ValueError(f"domains {empty}: every file was rejected; the catalog's "
                         "ingestion_rejects (<data_root>/08_reporting/ingestion_rejects.csv "
                         "unless the env moves it) has each file's reason")
    return manifests
