"""Reporting nodes: the paper's tables, figures, A-distances and one readable report."""

from __future__ import annotations

import html
import logging
import re
from typing import Any

import pandas as pd

from fer_da.ingest import parse_domain_specs
from fer_da.labels import vocabulary
from fer_da.pipelines._types import Figure
from fer_da.reporting.config import reporting_config as _reporting
from fer_da.reporting.tables import (
    CDFER_SOURCE,
    TABLES,
    beside_cdfer,
    build_tables,
    cdfer_reference,
    cdfer_test_sets,
    collapse_summary,
    collapsed_runs,
    flagged,
    mechanism_summary,
    method_comparison,
    method_pivot,
    paired_with_controls,
    paper_reference,
    pivot,
    provenance_summary,
)

logger = logging.getLogger(__name__)
SETUPS = ("baseline", "joint", "finetune", "dann")
def summarise_collapse(history: pd.DataFrame) -> pd.DataFrame:
    """Per adversarial run of the dann setup: the epochs its domain classifier was flagged
    collapsed, why, and its last epoch's diagnostics (training/diagnostics.py)."""
    summary = collapse_summary(history)
    for r in summary[flagged(summary)].to_dict("records") if len(summary) else []:
        logger.warning("%s: adversary collapsed at epochs %s (%s); its numbers are marked %s",
                       r["run_id"], r["collapsed_epochs"], r["reasons"], "†")
    return summary


def summarise_mechanisms(jm: pd.DataFrame, atf: pd.DataFrame, ed2l: pd.DataFrame,
                         sna: pd.DataFrame, hagan: pd.DataFrame) -> pd.DataFrame:
    """Per sibling-method run: the diagnostic that shows its mechanism acting (identity
    accuracy, the dispeller's accuracy, the masked share, the generator's spread) at the
    first and last epoch."""
    return mechanism_summary({"jm": jm, "atf": atf, "ed2l": ed2l, "sna": sna, "hagan": hagan})


def make_tables(baseline: pd.DataFrame, joint: pd.DataFrame, finetune: pd.DataFrame,
                dann: pd.DataFrame, collapse: pd.DataFrame,
                reporting: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tables I-IV in long form (ours; mean and std across seeds; a run whose adversary
    collapsed marked †) and the provenance of every number in them (refused when mixed,
    unless ``reporting.mixed_provenance: mark``)."""
    cfg = _reporting(reporting)
    metrics = {"baseline": baseline, "joint": joint, "finetune": finetune, "dann": dann}
    tables = build_tables(metrics, cfg.get("names", {}),
                          mixed=cfg.get("mixed_provenance", "refuse"),
                          collapsed=collapsed_runs(collapse))
    return tables, provenance_summary(pd.concat(metrics.values(), ignore_index=True))


def compare_methods(baseline: pd.DataFrame, dann: pd.DataFrame, jm: pd.DataFrame,
                    atf: pd.DataFrame, ed2l: pd.DataFrame, sna: pd.DataFrame,
                    hagan: pd.DataFrame, collapse: pd.DataFrame,
                    reporting: dict[str, Any]) -> pd.DataFrame:
    """Source-only, DANN and the sibling papers' methods in one table: accuracy and
    balanced accuracy per domain, mean and std over seeds (test split); † = collapsed."""
    cfg = _reporting(reporting)
    return method_comparison({"baseline": baseline, "dann": dann, "jm": jm, "atf": atf,
                              "ed2l": ed2l, "sna": sna, "hagan": hagan},
                             cfg.get("names", {}), collapsed=collapsed_runs(collapse))


def compare_with_source_only(baseline: pd.DataFrame, dann: pd.DataFrame,
                             reporting: dict[str, Any]) -> pd.DataFrame:
    """Every adaptation run against source-only and against ``erm_mixed`` (source-only on
    the same mixed batches) per target: paired over seeds, with a 95 % interval of the
    difference, in ``reporting.metric``."""
    return paired_with_controls(baseline, dann, _reporting(reporting).get("metric",
                                                                          "accuracy"))


def _ran(*frames: pd.DataFrame) -> list[pd.DataFrame]:
    """The setups' tables that hold runs (a setup not run loads as an empty table)."""
    return [f for f in frames if len(f) and "run_id" in f.columns]


def _feature_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith("f") and c[1:].isdigit()]


def a_distances(baseline: pd.DataFrame, finetune: pd.DataFrame, dann: pd.DataFrame,
                domains: dict[str, Any]) -> pd.DataFrame:
    """Proxy A-distance between the source's and each target's test features."""
    from fer_da.reporting.adistance import proxy_a_distance

    specs = parse_domain_specs(domains)
    sources = [s.name for s in specs if s.role == "source"]
    targets = [s.name for s in specs if s.role == "target"]
    rows = []
    for preds in _ran(baseline, finetune, dann):
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
                 reporting: dict[str, Any]) -> tuple[dict[str, Figure], list[str]]:
    """Latent space of the baseline, the first fine-tuned model and every DANN run.

    Returns the figures (saved as ``<name>.png``) and their names, for the report.
    """
    from fer_da.reporting.figures import tsne_figure

    classes = vocabulary(labels)
    chosen = [baseline, *(f[f["run_id"] == f["run_id"].min()] for f in _ran(finetune)),
              dann]
    cap = int(reporting.get("tsne_max_points", 2000))
    figures = {}
    for preds in _ran(*chosen):
        cols = _feature_columns(preds)
        for run_id, group in preds.groupby("run_id", sort=True):
            p = group.sample(cap, random_state=0) if len(group) > cap else group
            names = [classes[i] for i in p["label_idx"]]
            figures[figure_name("tsne", run_id)] = tsne_figure(
                p[cols].to_numpy(), names, p["eval_domain"].tolist(), f"t-SNE: {run_id}")
    return figures, sorted(figures)


def dann_loss_figure(history: pd.DataFrame) -> Figure:
    """Domain and classification losses per epoch for every DANN run (Fig. 4 and 5)."""
    from fer_da.reporting.figures import loss_curves

    return loss_curves(history)


def confusion_figures(baseline: pd.DataFrame, joint: pd.DataFrame, finetune: pd.DataFrame,
                      dann: pd.DataFrame,
                      labels: dict[str, Any]) -> tuple[dict[str, Figure], list[str]]:
    """A confusion matrix per model and evaluated domain (figures and their names)."""
    from fer_da.reporting.figures import confusion_grid

    classes = vocabulary(labels)
    out = {}
    for preds in _ran(baseline, joint, finetune, dann):
        for run_id, p in preds.groupby("run_id", sort=True):
            out[figure_name("confusion", run_id)] = confusion_grid(p, classes, run_id)
    return out, sorted(out)


def _inline_html(text: str) -> str:
    """Escaped text with the Markdown the report's prose uses (**bold**, `code`) as HTML."""
    out = html.escape(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


def _drop_empty(frame: pd.DataFrame) -> pd.DataFrame:
    """Without the columns that hold nothing (std and intervals of single-seed tables)."""
    return frame.loc[:, [c for c in frame.columns if frame[c].notna().any()
                         and not (frame[c].astype(str) == "").all()]]


def _md_table(frame: pd.DataFrame) -> str:
    head = [frame.index.name or ""] + [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for idx, row in frame.iterrows():
        lines.append("| " + " | ".join([str(idx)] + [str(v) for v in row]) + " |")
    return "\n".join(lines)


def _protocol_md(protocol: pd.DataFrame, split_summary: pd.DataFrame) -> tuple[str, str]:
    cols = ["role", "layout", "data", "detector", "detector_choice", "split_mode", "n_train",
            "n_val", "n_test",
            "missing_classes"]
    frame = protocol.set_index("domain")[[c for c in cols if c in protocol.columns]].fillna("")
    counts = split_summary.pivot_table(index=["domain", "split"], columns="label", values="n",
                                       aggfunc="sum", fill_value=0)
    counts.index = [f"{d} / {s}" for d, s in counts.index]
    counts.index.name = "domain / split"
    return (_md_table(frame) + "\n\nImages per split and class:\n\n" + _md_table(counts),
            frame.to_html() + "<p>Images per split and class:</p>" + counts.to_html())


def _cdfer_section(methods: pd.DataFrame, reporting: dict[str, Any],
                   protocol: pd.DataFrame) -> tuple[list[str], str]:
    """The cross-domain FER benchmark's published accuracies beside this run's, and each
    dataset's test set in both (the protocol's ``data`` column: stand-ins marked)."""
    backbone = reporting.get("reference_backbone", "ResNet-50")
    sets = cdfer_test_sets(protocol, reporting.get("names", {}))
    stand_ins = sorted(sets.loc[sets["data"] == "synthetic", "domain"])
    ours = "fer-da (synthetic stand-ins)" if stand_ins else "fer-da"
    table = beside_cdfer(methods, cdfer_reference(), backbone, ours)
    text = (f"Published: {CDFER_SOURCE}; backbone {backbone} (IR-50 pretrained on "
            "MS-Celeb-1M for ResNet-50), the benchmark's own test sets; it publishes no "
            f"source-only or DANN row. `{ours}`: this run's methods, accuracy % on each "
            "target's test split as split in the protocol above (mean over seeds). "
            + (f"Synthetic stand-ins, not the benchmark's datasets: {', '.join(stand_ins)} "
               "(their rows show the layout of the comparison, not a result)."
               if stand_ins else
               "Compare a target's numbers only where the test-set table below says the "
               "test set is the benchmark's."))
    sets_text = ("Test sets: the benchmark's beside this run's, per dataset (docs/labs.md, "
                 "\"The cross-domain FER benchmark\").")
    shown = sets.set_index("dataset")
    table = table.reset_index().set_index("kind")
    return (["## Cross-domain FER benchmark beside fer-da", "", text, "", _md_table(table), "",
             sets_text, "", _md_table(shown), ""],
            "<h2>Cross-domain FER benchmark beside fer-da</h2>"
            f"<p>{_inline_html(text)}</p>" + table.to_html(na_rep="")
            + f"<p>{_inline_html(sets_text)}</p>" + shown.to_html())


def render_report(tables: pd.DataFrame, adist: pd.DataFrame, tsne: list[str],
                  confusion: list[str], reporting: dict[str, Any],
                  training: dict[str, Any], protocol: pd.DataFrame,
                  split_summary: pd.DataFrame, provenance: pd.DataFrame,
                  paired: pd.DataFrame, methods: pd.DataFrame,
                  collapse: pd.DataFrame, mechanisms: pd.DataFrame) -> tuple[str, str]:
    """One Markdown and one HTML report (figures linked from ``figures/``)."""
    reporting = _reporting(reporting)
    metric = reporting.get("metric", "accuracy")
    reference = paper_reference() if reporting.get("paper_reference") else None
    md = ["# fer-da report", "",
          f"Backbone `{training.get('backbone')}`, {training.get('epochs')} epochs, seeds "
          f"{list(training.get('seeds', [0]))}. Tables in {metric.replace('_', ' ')} and loss "
          "(mean NLL) on the **test** split of every domain (nothing is tuned on it); cells "
          "are mean ± std when there are several seeds."
          + (" Each cell shows the paper's published number beside ours." if reference
             is not None and metric == "accuracy" else ""), ""]
    parts_html = [f"<h1>fer-da report</h1><p>{_inline_html(md[2])}</p>"]
    prov = provenance.set_index("provenance")
    note = ("Every number below traces back to one of these (a cell marked [P2] comes from "
            "P2; unmarked tables hold one provenance only):")
    md += ["## Provenance", "", note, "", _md_table(prov), ""]
    parts_html.append(f"<h2>Provenance</h2><p>{_inline_html(note)}</p>" + prov.to_html())
    proto_md, proto_html = _protocol_md(protocol, split_summary)
    md += ["## Protocol per domain", "", proto_md, ""]
    parts_html.append("<h2>Protocol per domain</h2>" + proto_html)
    if len(collapse):
        shown = collapse.assign(collapsed_epochs=collapse["collapsed_epochs"].fillna(
            "").astype(str).replace("", "none"), collapsed=flagged(collapse))
        alive = _drop_empty(shown.set_index("run_id")[[
            "epochs", "collapsed", "collapsed_epochs", "reasons", "last_dmn_acc",
            "last_majority", "last_clamped_frac", "best_select_score"]].round(3))
        dead = int(flagged(collapse).sum())
        text = (f"Is the adversary alive? {dead} of {len(collapse)} adversarial runs had a "
                "collapsed domain classifier (one domain predicted for ≥ 95 % of the faces, "
                "≥ 50 % of the samples clamped in the paper's clamp mode, or a domain "
                "accuracy at most half of chance, each over 3 epochs in a row; "
                "docs/training.md) at their last epoch or in at least half of their epochs. "
                "Such a run is source-only training on mixed batches: "
                "its numbers are marked † in every table below. best_select_score is the "
                "run's best model-selection score (source validation accuracy with select: "
                "source_val): far below erm_mixed's, the adversary has swamped the label "
                "classifier (lower training.adversarial_weight).")
        md += ["## Adversary diagnostics", "", text, "", _md_table(alive), ""]
        parts_html.append(f"<h2>Adversary diagnostics</h2><p>{_inline_html(text)}</p>"
                          + alive.to_html(na_rep=""))
    if len(mechanisms):
        mech = mechanisms.set_index("run_id").round(3)
        text = ("The sibling methods' mechanisms, read from their per-epoch histories (first "
                "and last epoch): a method whose diagnostic does not move the way its meaning "
                "says is not doing what its name claims (docs/training.md).")
        md += ["## Mechanism diagnostics (sibling methods)", "", text, "", _md_table(mech),
               ""]
        parts_html.append("<h2>Mechanism diagnostics (sibling methods)</h2>"
                          f"<p>{_inline_html(text)}</p>" + mech.to_html())
    for table, title in TABLES.items():
        for name in (metric, "loss"):
            frame = pivot(tables, table, name, reference)
            if frame.empty:
                continue
            heading = f"Table {table} — {title} ({name.replace('_', ' ')})"
            md += [f"## {heading}", "", _md_table(frame), ""]
            parts_html.append(f"<h2>{html.escape(heading)}</h2>" + frame.to_html())
    table = method_pivot(methods)
    if len(table):
        text = ("Source-only (baseline), DANN and the sibling papers' methods (jm, atf, ed2l, "
                "sna, hagan; docs/training.md) on each domain's test split: accuracy and "
                "balanced accuracy, %, mean ± std over seeds.")
        md += ["## Methods side by side", "", text, "", _md_table(table), ""]
        parts_html.append(f"<h2>Methods side by side</h2><p>{_inline_html(text)}</p>"
                          + table.to_html())
    if reporting.get("reference", "none") == "cdfer":
        md_part, html_part = _cdfer_section(methods, reporting, protocol)
        md += md_part
        parts_html.append(html_part)
    if len(paired):
        index = [c for c in ("control", "domain", "run") if c in paired]
        shown = _drop_empty(paired.set_index(index).round(2))
        text = (f"Each adaptation run against its controls on each target's test split "
                f"({metric.replace('_', ' ')}, %), paired by seed: `source-only` is the "
                "baseline (source batches alone); `erm_mixed` is the source-only loss on the "
                "very batches the adaptation runs see (batch norm over source and target "
                "faces, no adaptation term). Against source-only a difference mixes the "
                "batch-norm effect with the adaptation's; **against erm_mixed it is the "
                "adaptation term's alone**. diff is the mean of the per-seed differences, "
                "[ci_low, ci_high] its 95 % Student-t interval: a gain is real when the "
                "interval excludes 0; with one seed there is no interval (columns left out).")
        md += ["## Adaptation vs its controls (paired over seeds)", "", text, "",
               _md_table(shown), ""]
        parts_html.append("<h2>Adaptation vs its controls (paired over seeds)</h2>"
                          f"<p>{_inline_html(text)}</p>" + shown.to_html())
    if len(adist):
        a = adist.pivot_table(index="run_id", columns="target",
                              values=["a_distance", "a_distance_weak_probe"]).round(2)
        a.columns = [f"{t} ({'C=1e-4' if v.endswith('probe') else 'C=1'})"
                     for v, t in a.columns]
        text = ("Proxy A-distance between the source's and each target's test features: "
                "2(1 − 2ε), ε the 5-fold cross-validated balanced error of a logistic-regression "
                "probe telling them apart. ≈2 = separable (domain-specific features), ≈0 = "
                "indistinguishable. C=1 is a strong probe (it separates almost any two small "
                "sets of 600-d features); C=1e-4 a weak one that measures how far apart the "
                "bulk of the two distributions lies.")
        md += ["## Domain invariance (proxy A-distance)", "", text, "", _md_table(a), ""]
        parts_html.append(f"<h2>Domain invariance (proxy A-distance)</h2><p>{text}</p>"
                          + a.to_html())
    md += ["## Figures", "", "![contact sheet](contact_sheet.png)", "",
           "![DANN losses](figures/dann_losses.png)", "",
           "![HA-GAN translation](figures/hagan_translation.png)", ""]
    parts_html.append('<h2>Figures</h2><img src="contact_sheet.png" width="900">'
                      '<img src="figures/dann_losses.png" width="900">'
                      '<img src="figures/hagan_translation.png" width="900">')
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
