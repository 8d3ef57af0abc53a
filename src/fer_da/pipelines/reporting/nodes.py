"""Reporting nodes: the paper's tables, figures, A-distances and one readable report."""

from __future__ import annotations

import html
import logging
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from fer_da.ingest import parse_domain_specs
from fer_da.labels import label_set
from fer_da.reporting.adistance import proxy_a_distance
from fer_da.reporting.figures import confusion_grid, loss_curves, tsne_figure
from fer_da.reporting.tables import TABLES, build_tables, paper_reference, pivot

logger = logging.getLogger(__name__)
SETUPS = ("baseline", "joint", "finetune", "dann")


def make_tables(baseline: pd.DataFrame, joint: pd.DataFrame, finetune: pd.DataFrame,
                dann: pd.DataFrame, reporting: dict[str, Any]) -> pd.DataFrame:
    """Tables I-IV in long form (ours; mean and std across seeds)."""
    metrics = {"baseline": baseline, "joint": joint, "finetune": finetune, "dann": dann}
    return build_tables(metrics, reporting.get("names", {}))


def _feature_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith("f") and c[1:].isdigit()]


def a_distances(baseline: pd.DataFrame, finetune: pd.DataFrame, dann: pd.DataFrame,
                domains: dict[str, Any]) -> pd.DataFrame:
    """Proxy A-distance between the source's and each target's validation features."""
    specs = parse_domain_specs(domains)
    sources = [s.name for s in specs if s.role == "source"]
    targets = [s.name for s in specs if s.role == "target"]
    rows = []
    for preds in (baseline, finetune, dann):
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


def tsne_figures(baseline: pd.DataFrame, finetune: pd.DataFrame, dann: pd.DataFrame,
                 labels: dict[str, Any],
                 reporting: dict[str, Any]) -> tuple[dict[str, plt.Figure], list[str]]:
    """Latent space of the baseline, the first fine-tuned model and every DANN run.

    Returns the figures (saved as ``<name>.png``) and their names, for the report.
    """
    vocabulary = label_set(bool(labels.get("keep_contempt", False)))
    chosen = [baseline, finetune[finetune["run_id"] == finetune["run_id"].min()], dann]
    cap = int(reporting.get("tsne_max_points", 2000))
    figures = {}
    for preds in chosen:
        cols = _feature_columns(preds)
        for run_id, group in preds.groupby("run_id", sort=True):
            p = group.sample(cap, random_state=0) if len(group) > cap else group
            names = [vocabulary[i] for i in p["label_idx"]]
            figures[figure_name("tsne", run_id)] = tsne_figure(
                p[cols].to_numpy(), names, p["eval_domain"].tolist(), f"t-SNE: {run_id}")
    return figures, sorted(figures)


def dann_loss_figure(history: pd.DataFrame) -> plt.Figure:
    """Domain and classification losses per epoch for every DANN run (Fig. 4 and 5)."""
    return loss_curves(history)


def confusion_figures(baseline: pd.DataFrame, joint: pd.DataFrame, finetune: pd.DataFrame,
                      dann: pd.DataFrame,
                      labels: dict[str, Any]) -> tuple[dict[str, plt.Figure], list[str]]:
    """A confusion matrix per model and evaluated domain (figures and their names)."""
    vocabulary = label_set(bool(labels.get("keep_contempt", False)))
    out = {}
    for preds in (baseline, joint, finetune, dann):
        for run_id, p in preds.groupby("run_id", sort=True):
            out[figure_name("confusion", run_id)] = confusion_grid(p, vocabulary, run_id)
    return out, sorted(out)


def _md_table(frame: pd.DataFrame) -> str:
    head = [frame.index.name or ""] + [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for idx, row in frame.iterrows():
        lines.append("| " + " | ".join([str(idx)] + [str(v) for v in row]) + " |")
    return "\n".join(lines)


def render_report(tables: pd.DataFrame, adist: pd.DataFrame, tsne: list[str],
                  confusion: list[str], reporting: dict[str, Any],
                  training: dict[str, Any]) -> tuple[str, str]:
    """One Markdown and one HTML report (figures linked from ``figures/``)."""
    reference = paper_reference() if reporting.get("paper_reference") else None
    md = ["# fer-da report", "",
          f"Backbone `{training.get('backbone')}`, {training.get('epochs')} epochs, seeds "
          f"{list(training.get('seeds', [0]))}. Accuracy and loss (mean NLL) on the validation "
          "split of every domain; cells are mean ± std when there are several seeds."
          + (" Each cell shows the paper's published number beside ours." if reference
             is not None else ""), ""]
    parts_html = [f"<h1>fer-da report</h1><p>{html.escape(md[2])}</p>"]
    for table, title in TABLES.items():
        for metric in ("accuracy", "loss"):
            frame = pivot(tables, table, metric, reference)
            if frame.empty:
                continue
            heading = f"Table {table} — {title} ({metric})"
            md += [f"## {heading}", "", _md_table(frame), ""]
            parts_html.append(f"<h2>{html.escape(heading)}</h2>" + frame.to_html())
    if len(adist):
        a = adist.pivot_table(index="run_id", columns="target",
                              values=["a_distance", "a_distance_weak_probe"]).round(2)
        a.columns = [f"{t} ({'C=1e-4' if v.endswith('probe') else 'C=1'})"
                     for v, t in a.columns]
        text = ("Proxy A-distance between the source's and each target's validation features: "
                "2(1 − 2ε), ε the 5-fold cross-validated balanced error of a logistic-regression "
                "probe telling them apart. ≈2 = separable (domain-specific features), ≈0 = "
                "indistinguishable. C=1 is a strong probe (it separates almost any two small "
                "sets of 600-d features); C=1e-4 a weak one that measures how far apart the "
                "bulk of the two distributions lies.")
        md += ["## Domain invariance (proxy A-distance)", "", text, "", _md_table(a), ""]
        parts_html.append(f"<h2>Domain invariance (proxy A-distance)</h2><p>{text}</p>"
                          + a.to_html())
    md += ["## Figures", "", "![contact sheet](contact_sheet.png)", "",
           "![DANN losses](figures/dann_losses.png)", ""]
    parts_html.append('<h2>Figures</h2><img src="contact_sheet.png" width="900">'
                      '<img src="figures/dann_losses.png" width="900">')
    for group, names in (("tsne", tsne), ("confusion", confusion)):
        for name in names:
            md += [f"![{name}](figures/{group}/{name})", ""]
            parts_html.append(f'<h3>{html.escape(name)}</h3>'
                              f'<img src="figures/{group}/{name}" width="700">')
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>fer-da report</title>"
            "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 6px}"
            "</style></head><body>" + "".join(parts_html) + "</body></html>")
    logger.info("Report: %d tables, %d figures", sum(p.startswith("<h2>Table") for p in
                                                     parts_html), len(tsne) + len(confusion))
    return "\n".join(md), page
