"""Reporting nodes: the paper's tables, figures, A-distances and one readable report.
Each takes the setups' tables by setup name (the pipeline wires every setup of the registry,
methods/registry.py); a setup that did not run arrives as an empty table."""

from __future__ import annotations

import logging
import re
from typing import Any

import pandas as pd

from fer_da.ingest import parse_domain_specs
from fer_da.labels import vocabulary
from fer_da.pipelines._types import Figure
from fer_da.reporting.comparisons import method_comparison, paired_with_controls
from fer_da.reporting.config import reporting_config
from fer_da.reporting.mechanisms import (
    collapse_summary,
    collapsed_runs,
    flagged,
    kept_epochs,
    mechanism_summary,
)
from fer_da.reporting.paper_tables import build_tables, paper_reference
from fer_da.reporting.provenance_table import provenance_summary
from fer_da.reporting.report import to_html, to_markdown
from fer_da.reporting.sections import headline, intro, report_sections, synthetic_note

logger = logging.getLogger(__name__)


def summarise_collapse(history: pd.DataFrame, metrics: pd.DataFrame) -> pd.DataFrame:
    """Per adversarial run of the dann setup: the epochs its domain classifier was flagged
    collapsed, why, the epoch its reported model was kept from (``metrics``) and its last
    epoch's diagnostics (training/diagnostics.py)."""
    summary = collapse_summary(history, kept_epochs(metrics))
    for r in summary[flagged(summary)].to_dict("records") if len(summary) else []:
        logger.warning("%s: adversary collapsed at epochs %s (%s); its numbers are marked %s",
                       r["run_id"], r["collapsed_epochs"], r["reasons"], "†")
    return summary


def summarise_mechanisms(**histories: pd.DataFrame) -> pd.DataFrame:
    """Per sibling-method run: the diagnostic that shows its mechanism acting (its
    ``MethodSpec.diagnostic``) at the first and last epoch."""
    return mechanism_summary(histories)


def make_tables(collapse: pd.DataFrame, reporting: dict[str, Any],
                **metrics: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tables I-IV in long form (ours; mean and std across seeds; a run whose adversary
    collapsed marked †) and the provenance of every number in them (refused when mixed,
    unless ``reporting.mixed_provenance: mark``)."""
    cfg = reporting_config(reporting)
    tables = build_tables(metrics, cfg.get("names", {}),
                          mixed=cfg.get("mixed_provenance", "refuse"),
                          collapsed=collapsed_runs(collapse))
    return tables, provenance_summary(pd.concat(metrics.values(), ignore_index=True))


def compare_methods(collapse: pd.DataFrame, reporting: dict[str, Any],
                    **metrics: pd.DataFrame) -> pd.DataFrame:
    """Source-only, the adaptation runs and the sibling papers' methods in one table:
    accuracy and balanced accuracy per domain, mean and std over seeds (test split)."""
    cfg = reporting_config(reporting)
    return method_comparison(metrics, cfg.get("names", {}), collapsed=collapsed_runs(collapse))


def compare_with_source_only(baseline: pd.DataFrame, dann: pd.DataFrame,
                             reporting: dict[str, Any]) -> pd.DataFrame:
    """Every adaptation run against source-only and against ``erm_mixed`` (source-only on
    the same mixed batches) per target: paired over seeds, with a 95 % interval of the
    difference, in ``reporting.metric``."""
    return paired_with_controls(baseline, dann,
                                reporting_config(reporting).get("metric", "accuracy"))


def _ran(*frames: pd.DataFrame) -> list[pd.DataFrame]:
    """The setups' tables that hold runs (a setup not run loads as an empty table)."""
    return [f for f in frames if len(f) and "run_id" in f.columns]


def _feature_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith("f") and c[1:].isdigit()]


def a_distances(domains: dict[str, Any], **predictions: pd.DataFrame) -> pd.DataFrame:
    """Proxy A-distance between the source's and each target's test features, per model."""
    from fer_da.reporting.adistance import proxy_a_distance

    specs = parse_domain_specs(domains)
    sources = [s.name for s in specs if s.role == "source"]
    targets = [s.name for s in specs if s.role == "target"]
    rows = []
    for preds in _ran(*predictions.values()):
        cols = _feature_columns(preds)
        for run_id, p in preds.groupby("run_id", sort=True):
            src = p[p["eval_domain"].isin(sources)][cols].to_numpy()
            for t in targets:
                tgt = p[p["eval_domain"] == t][cols].to_numpy()
                rows.append({"run_id": run_id, "source": "+".join(sources), "target": t,
                             "a_distance": proxy_a_distance(src, tgt, c=1.0),
                             "a_distance_weak_probe": proxy_a_distance(src, tgt, c=1e-4)})
    return pd.DataFrame(rows)


def figure_name(kind: str, run_id: str) -> str:
    return f"{kind}_{run_id.replace('/', '_')}.png"


def tsne_figures(labels: dict[str, Any], reporting: dict[str, Any],
                 **predictions: pd.DataFrame) -> tuple[dict[str, Figure], list[str]]:
    """Latent space of every model of the given setups (of ``finetune``: the first
    fine-tuned model only). Returns the figures (saved as ``<name>.png``) and their names."""
    from fer_da.reporting.figures import tsne_figure

    classes = vocabulary(labels)
    chosen = [f[f["run_id"] == f["run_id"].min()] if setup == "finetune" and len(f) else f
              for setup, f in predictions.items() if len(f) and "run_id" in f.columns]
    cap = int(reporting.get("tsne_max_points", 2000))
    shown = reporting.get("names") or {}
    figures = {}
    for preds in _ran(*chosen):
        cols = _feature_columns(preds)
        for run_id, group in preds.groupby("run_id", sort=True):
            p = group.sample(cap, random_state=0) if len(group) > cap else group
            names = [classes[i] for i in p["label_idx"]]
            figures[figure_name("tsne", run_id)] = tsne_figure(
                p[cols].to_numpy(), names, [shown.get(d, d) for d in p["eval_domain"]],
                f"t-SNE: {run_id}", classes=classes)
    return figures, sorted(figures, key=run_order)


def dann_loss_figure(history: pd.DataFrame) -> Figure:
    """Domain and classification losses per epoch for every DANN run (Fig. 4 and 5)."""
    from fer_da.reporting.figures import loss_curves

    return loss_curves(history)


def confusion_figures(labels: dict[str, Any], reporting: dict[str, Any],
                      **predictions: pd.DataFrame) -> tuple[dict[str, Figure], list[str]]:
    """A confusion matrix per model and evaluated domain (figures and their names)."""
    from fer_da.reporting.figures import confusion_grid

    classes, shown = vocabulary(labels), reporting.get("names") or {}
    out = {}
    for preds in _ran(*predictions.values()):
        for run_id, p in preds.groupby("run_id", sort=True):
            out[figure_name("confusion", run_id)] = confusion_grid(p, classes, run_id, shown)
    return out, sorted(out, key=run_order)


NUMBER = re.compile(r"(\d+(?:[.p]\d+)?(?:e-?\d+)?)")


def run_order(name: str) -> list[Any]:
    """Names in natural order, part by part (``_``, ``/``): clamp1, clamp3, clamp3000 (not
    clamp1, clamp3000, clamp3); clamp0.05 before clamp0.1 (``p`` for a point, as in file
    names); a union before the larger ones that extend it (kdef+ckplus, then
    kdef+ckplus+jaffe)."""
    return [[(0, float(p.replace("p", "."))) if i % 2 else (1, p)
             for i, p in enumerate(NUMBER.split(part))] for part in re.split(r"[_/]", name)]


def render_report(reporting: dict[str, Any], training: dict[str, Any],
                  **results: Any) -> tuple[str, str]:
    """One Markdown and one HTML report (figures linked from ``figures/``), built once as
    sections (reporting/sections.py) and rendered to both formats."""
    cfg = reporting_config(reporting)
    metric = cfg.get("metric", "accuracy")
    reference = paper_reference() if cfg.get("paper_reference") else None
    text = (intro(training, metric, reference is not None) + synthetic_note(results["protocol"])
            + headline(results["paired"], metric))
    sections = report_sections(results, cfg, metric, reference)
    logger.info("Report: %d tables, %d figures",
                sum(s.title.startswith("Table") for s in sections),
                len(results["tsne"]) + len(results["confusion"]))
    return (to_markdown("fer-da report", text, sections),
            to_html("fer-da report", text, sections))


def study_selection(history: pd.DataFrame, trace: pd.DataFrame
                    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The selection study of the runs trained with ``training.validators``: each
    validator's pick per run against the oracle's, summarised per validator, and the
    sweep's choice (empty tables when no run recorded validators)."""
    from fer_da.reporting.selection_study import sweep_choice, validator_picks, validator_summary

    picks = validator_picks(history, trace)
    return picks, validator_summary(picks), sweep_choice(history, trace)
