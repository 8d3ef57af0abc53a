"""``params:reporting``, validated once (by the reporting nodes and, before any work, by
the preflight); no torch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fer_da.reporting.paper_tables import METRICS
from fer_da.validate import ConfigError, as_bool, as_choice, as_int, check_keys

REPORTING_KEYS = ("paper_reference", "names", "tsne_max_points", "metric", "mixed_provenance",
                  "reference", "reference_backbone")
MAX_TSNE_POINTS = 1_000_000  # t-SNE is quadratic in its points: more never finishes


def reporting_config(reporting: Mapping[str, Any] | None) -> dict[str, Any]:
    """The section with its unknown keys refused and each value checked, naming its key."""
    cfg = check_keys(reporting, REPORTING_KEYS, "reporting")
    as_choice(cfg.get("metric", "accuracy"), "reporting.metric", METRICS[:-1])
    as_choice(cfg.get("mixed_provenance", "refuse"), "reporting.mixed_provenance",
              ("refuse", "mark"))
    as_choice(cfg.get("reference", "none"), "reporting.reference", ("none", "cdfer"))
    as_choice(cfg.get("reference_backbone", "ResNet-50"), "reporting.reference_backbone",
              ("ResNet-50", "ResNet-18"))
    as_bool(cfg.get("paper_reference", False), "reporting.paper_reference")
    as_int(cfg.get("tsne_max_points", 2000), "reporting.tsne_max_points", minimum=2,
           maximum=MAX_TSNE_POINTS)
    names = cfg.get("names") or {}
    if not isinstance(names, Mapping) or not all(isinstance(v, str) for v in names.values()):
        raise ConfigError("reporting.names must map domain names to the names the tables "
                          f"show (e.g. {{kdef: KDEF}}), got {names!r}")
    return cfg
