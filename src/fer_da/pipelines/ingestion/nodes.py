"""Ingestion nodes: thin wrappers of the library (ingest/domains.py)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from fer_da.ingest import RawTree
from fer_da.ingest.domains import ingest_all


def ingest_domains(
    raw: dict[str, RawTree], domains: dict[str, Any], labels: dict[str, Any],
    index: pd.DataFrame | None = None,
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Every declared domain into a manifest: manifests, rejects, summary and the new
    ingestion index (files unchanged since ``index`` are not read again)."""
    return ingest_all(raw, domains, labels, index)
