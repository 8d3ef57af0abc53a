"""Ingestion nodes."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from fer_da.ingest import RawTree, ingest_domain, parse_domain_specs
from fer_da.labels import label_set

logger = logging.getLogger(__name__)


def ingest_domains(
    raw: dict[str, RawTree], domains: dict[str, Any], labels: dict[str, Any]
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, pd.DataFrame]:
    """Parse every declared domain into a manifest; collect rejects and per-domain counts."""
    specs = parse_domain_specs(domains)
    missing = [s.name for s in specs if s.name not in raw]
    if missing:
        raise KeyError(f"domains {missing} are declared in params:domains but have no root in "
                       f"the catalog entry raw_domains (roots: {sorted(raw)}); see docs/labs.md")
    vocabulary = label_set(bool(labels.get("keep_contempt", False)))
    manifests, rejects, summary = {}, [], []
    for spec in specs:
        result = ingest_domain(spec, raw[spec.name], vocabulary)
        manifest = result.manifest.assign(role=spec.role)
        absent = sorted(set(vocabulary) - set(manifest["label"]))
        if absent:
            logger.warning("%s has no image of %s", spec.name, absent)
        manifests[spec.name] = manifest
        rejects.append(result.rejects)
        summary.append({"domain": spec.name, "layout": spec.layout, "role": spec.role,
                        **result.counts, "subjects": manifest["subject"].nunique(),
                        "labels": manifest["label"].nunique()})
    return manifests, pd.concat(rejects, ignore_index=True), pd.DataFrame(summary)
