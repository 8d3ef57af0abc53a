"""Ingestion nodes."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from fer_da.ingest import RawTree, ingest_domain, parse_domain_specs
from fer_da.labels import vocabulary
from fer_da.validate import ConfigError

logger = logging.getLogger(__name__)


def ingest_domains(
    raw: dict[str, RawTree], domains: dict[str, Any], labels: dict[str, Any]
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, pd.DataFrame]:
    """Parse every declared domain into a manifest; collect rejects and per-domain counts."""
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
    manifests, rejects, summary = {}, [], []
    for spec in specs:
        result = ingest_domain(spec, raw[spec.name], classes)
        manifest = result.manifest.assign(role=spec.role)
        absent = sorted(set(classes) - set(manifest["label"]))
        if absent and len(manifest):
            logger.warning("%s has no image of %s", spec.name, absent)
        manifests[spec.name] = manifest
        rejects.append(result.rejects)
        summary.append({"domain": spec.name, "layout": spec.layout, "role": spec.role,
                        **result.counts, "subjects": manifest["subject"].nunique(),
                        "labels": manifest["label"].nunique(),
                        "missing_classes": ",".join(absent)})
    return manifests, pd.concat(rejects, ignore_index=True), pd.DataFrame(summary)


def require_images(manifests: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Refuse a domain whose every file was rejected (the rejects report is already written)."""
    empty = sorted(name for name, m in manifests.items() if len(m) == 0)
    if empty:
        raise ValueError(f"domains {empty}: every file was rejected; see "
                         "data/08_reporting/ingestion_rejects.csv for each file's reason")
    return manifests
