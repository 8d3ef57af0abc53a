"""What the report says, section by section (``reporting/report.py`` renders them): each
builder is a pure function of the reporting pipeline's tables, ``[]`` when it has nothing
to show."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from fer_da.reporting.cdfer import CDFER_SOURCE, beside_cdfer, cdfer_reference, cdfer_test_sets
from fer_da.reporting.comparisons import method_pivot
from fer_da.reporting.mechanisms import flagged
from fer_da.reporting.paper_tables import TABLES, pivot
from fer_da.reporting.report import Image, Section, drop_empty


def intro(training: Mapping[str, Any], metric: str, reference: bool) -> str:
    return (f"Backbone `{training.get('backbone')}`, {training.get('epochs')} epochs, seeds "
            f"{list(training.get('seeds', [0]))}. Tables in {metric.replace('_', ' ')} and "
            "loss (mean NLL) on the **test** split of every domain (nothing is tuned on it); "
            "cells are mean ± std when there are several seeds."
            + (" Each cell shows the paper's published number beside ours." if reference
               and metric == "accuracy" else ""))


def provenance(table: pd.DataFrame) -> list[Section]:
    note = ("Every number below traces back to one of these (a cell marked [P2] comes from "
            "P2; unmarked tables hold one provenance only):")
    fields = table.set_index("provenance").T  # a column per provenance: fits the page
    fields.index.name = "field"
    fields.columns.name = None
    return [Section("Provenance", [note, fields])]


def _named(values: pd.Series, names: Mapping[str, str]) -> pd.Series:
    """Domain ids as the tables call them (``reporting.names``; the id where unnamed)."""
    return values.map(lambda d: names.get(d, d))


def protocol(table: pd.DataFrame, split_summary: pd.DataFrame,
             names: Mapping[str, str] | None = None) -> list[Section]:
    names = names or {}
    table = table.assign(domain=_named(table["domain"], names))
    split_summary = split_summary.assign(domain=_named(split_summary["domain"], names))
    cols = ["role", "layout", "data", "detector", "detector_choice", "split_mode", "n_train",
            "n_val", "n_test", "missing_classes"]
    frame = table.set_index("domain")[[c for c in cols if c in table.columns]].fillna("")
    counts = split_summary.pivot_table(index=["domain", "split"], columns="label", values="n",
                                       aggfunc="sum", fill_value=0)
    counts.index = [f"{d} / {s}" for d, s in counts.index]
    counts.index.name = "domain / split"
    return [Section("Protocol per domain", [frame, "Images per split and class:", counts])]


def adversary(collapse: pd.DataFrame) -> list[Section]:
    if not len(collapse):
        return []
    shown = collapse.assign(collapsed_epochs=collapse["collapsed_epochs"].fillna(
        "").astype(str).replace("", "none"), collapsed=flagged(collapse))
    alive = drop_empty(shown.set_index("run_id")[[
        "epochs", "kept_epoch", "collapsed", "collapsed_epochs", "reasons", "last_dmn_acc",
        "last_majority", "last_clamped_frac", "best_select_score"]].round(3))
    dead = int(flagged(collapse).sum())
    text = (f"Is the adversary alive? {dead} of {len(collapse)} adversarial runs had a "
            "collapsed domain classifier (one domain predicted for ≥ 95 % of the faces by a "
            "confident or high-loss classifier, ≥ 50 % of the samples clamped in the paper's "
            "clamp mode, or a domain accuracy at most half of chance, each over 3 epochs in a "
            "row; docs/training.md) at the epoch their reported model was kept from "
            "(kept_epoch) or in at least half of their epochs. "
            "Such a run is source-only training on mixed batches: its numbers are marked † in "
            "every table below. best_select_score is the run's best model-selection score "
            "(source validation accuracy with select: source_val): far below erm_mixed's, the "
            "adversary has swamped the label classifier (lower training.adversarial_weight).")
    return [Section("Adversary diagnostics", [text, alive])]


def mechanisms(table: pd.DataFrame) -> list[Section]:
    if not len(table):
        return []
    text = ("The sibling methods' mechanisms, read from their per-epoch histories (first and "
            "last epoch): a method whose diagnostic does not move the way its meaning says "
            "is not doing what its name claims (docs/training.md).")
    return [Section("Mechanism diagnostics (sibling methods)",
                    [text, table.set_index("run_id").round(3)])]


def paper_tables(tables: pd.DataFrame, metric: str,
                 reference: pd.DataFrame | None) -> list[Section]:
    out = []
    for table, title in TABLES.items():
        for name in (metric, "loss"):
            frame = pivot(tables, table, name, reference)
            if not frame.empty:
                out.append(Section(f"Table {table} — {title} ({name.replace('_', ' ')})",
                                   [frame]))
    return out


def methods(table: pd.DataFrame) -> list[Section]:
    shown = method_pivot(table)
    if not len(shown):
        return []
    text = ("Source-only (baseline), DANN and the sibling papers' methods (jm, atf, ed2l, "
            "sna, hagan; docs/training.md) on each domain's test split: accuracy and "
            "balanced accuracy, %, mean ± std over seeds.")
    return [Section("Methods side by side", [text, shown])]


def cdfer(table: pd.DataFrame, reporting: Mapping[str, Any],
          protocol_table: pd.DataFrame) -> list[Section]:
    """The cross-domain FER benchmark's published accuracies beside this run's, and each
    dataset's test set in both (the protocol's ``data`` column: stand-ins marked)."""
    if reporting.get("reference", "none") != "cdfer":
        return []
    backbone = reporting.get("reference_backbone", "ResNet-50")
    sets = cdfer_test_sets(protocol_table, reporting.get("names", {}))
    stand_ins = sorted(sets.loc[sets["data"] == "synthetic", "domain"])
    ours = "fer-da (synthetic stand-ins)" if stand_ins else "fer-da"
    beside = beside_cdfer(table, cdfer_reference(), backbone, ours)
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
    return [Section("Cross-domain FER benchmark beside fer-da",
                    [text, beside.reset_index().set_index("kind"), sets_text,
                     sets.set_index("dataset")])]


def paired(table: pd.DataFrame, metric: str,
           names: Mapping[str, str] | None = None) -> list[Section]:
    if not len(table):
        return []
    table = table.assign(domain=_named(table["domain"], names or {}))
    index = [c for c in ("control", "domain", "run") if c in table]
    shown = drop_empty(table.set_index(index).round(2))
    text = (f"Each adaptation run against its controls on each target's test split "
            f"({metric.replace('_', ' ')}, %), paired by seed: `source-only` is the baseline "
            "(source batches alone); `erm_mixed` is the source-only loss on the very batches "
            "the adaptation runs see (batch norm over source and target faces, no adaptation "
            "term); an `_adabn` run is set against `erm_mixed_adabn`, the control scored with "
            "the targets' statistics too. Against source-only a difference mixes the "
            "batch-norm effect with the adaptation's; **against erm_mixed it is the "
            "adaptation term's alone**. diff is "
            "the mean of the per-seed differences, [ci_low, ci_high] its 95 % Student-t "
            "interval: a gain is real when the interval excludes 0; with one seed there is no "
            "interval (columns left out).")
    return [Section("Adaptation vs its controls (paired over seeds)", [text, shown])]


def selection(summary: pd.DataFrame, sweep: pd.DataFrame) -> list[Section]:
    """Each validator's picks against the oracle's (runs with ``training.validators``)."""
    if not len(summary):
        return []
    shown = summary.set_index(["validator", "eval_domain"]).round(2)
    text = ("Choosing a checkpoint without target labels: per validator, the mean target "
            "test accuracy (%) of the epochs it keeps, the oracle's (the epoch a labelled "
            "target test set would pick: an **upper bound** no honest protocol can use, and "
            "how published cross-domain FER tables select), the gap in points and Spearman's "
            "ρ of its scores with target accuracy over the epochs (1: it orders checkpoints "
            "as target accuracy does). `last` keeps the last epoch (docs/training.md).")
    blocks: list = [text, shown]
    if len(sweep):
        per = sweep.groupby("validator", sort=False).agg(
            choices=("gap", "size"), accuracy=("accuracy", "mean"),
            oracle_accuracy=("oracle_accuracy", "mean"), gap=("gap", "mean")).round(2)
        blocks += ["A sweep chosen without labels: per seed and target, the adaptation run "
                   "and epoch each validator scores best, against the oracle's choice over "
                   "the same candidates (accuracy %, gap in points).", per]
    return [Section("Choosing without target labels (validators vs the oracle)", blocks)]


def a_distances(table: pd.DataFrame, names: Mapping[str, str] | None = None
                ) -> list[Section]:
    if not len(table):
        return []
    table = table.assign(target=_named(table["target"], names or {}))
    a = table.pivot_table(index="run_id", columns="target",
                          values=["a_distance", "a_distance_weak_probe"]).round(2)
    a.columns = [f"{t} ({'C=1e-4' if v.endswith('probe') else 'C=1'})" for v, t in a.columns]
    text = ("Proxy A-distance between the source's and each target's test features: "
            "2(1 − 2ε), ε the 5-fold cross-validated balanced error of a logistic-regression "
            "probe telling them apart. ≈2 = separable (domain-specific features), ≈0 = "
            "indistinguishable. C=1 is a strong probe (it separates almost any two small "
            "sets of 600-d features); C=1e-4 a weak one that measures how far apart the "
            "bulk of the two distributions lies.")
    return [Section("Domain invariance (proxy A-distance)", [text, a])]


def figures(tsne: list[str], confusion: list[str], ran: frozenset[str] = frozenset()
            ) -> list[Section]:
    """The contact sheet, the figures of the setups that ran (``ran``), t-SNE and
    confusion matrices."""
    blocks: list = [Image("contact_sheet.png", title="The faces as the models see them")]
    if "dann" in ran:
        blocks.append(Image("figures/dann_losses.png", title="DANN losses per epoch"))
    if "hagan" in ran:
        blocks.append(Image("figures/hagan_translation.png",
                            title="HA-GAN: faces and the characters drawn for them"))
    for group, names in (("tsne", tsne), ("confusion", confusion)):
        blocks += [Image(f"figures/{group}/{name}", 700 if group == "tsne" else 900,
                         figure_title(group, name)) for name in names]
    return [Section("Figures", blocks)]


def report_sections(results: Mapping[str, Any], reporting: Mapping[str, Any], metric: str,
                    reference: pd.DataFrame | None) -> list[Section]:
    """Every section in the page's order, from the reporting pipeline's outputs by name:
    ``provenance``, ``protocol``, ``split_summary``, ``collapse``, ``mechanisms``,
    ``tables``, ``methods``, ``paired``, ``adist``, ``tsne``, ``confusion``."""
    r, names = results, reporting.get("names", {}) or {}
    return [*provenance(r["provenance"]), *protocol(r["protocol"], r["split_summary"], names),
            *adversary(r["collapse"]), *mechanisms(r["mechanisms"]),
            *paper_tables(r["tables"], metric, reference), *methods(r["methods"]),
            *cdfer(r["methods"], reporting, r["protocol"]), *paired(r["paired"], metric, names),
            *selection(r["validators"], r["sweep"]),
            *a_distances(r["adist"], names), *figures(r["tsne"], r["confusion"], ran(r))]


def ran(results: Mapping[str, Any]) -> frozenset[str]:
    """The setups with figures of their own whose history holds runs."""
    return frozenset(s for s in ("dann", "hagan")
                     if len(results.get(f"{s}_history", pd.DataFrame())))


def synthetic_note(protocol_table: pd.DataFrame) -> str:
    """A warning at the top of the page when the faces are the embedded synthetic ones."""
    data = set(protocol_table.get("data", pd.Series(dtype=str)).astype(str))
    if data == {"synthetic"}:
        return (" **These numbers are on the embedded synthetic faces**: they show that the "
                "pipelines work, not how any method does on real faces (docs/synthetic.md).")
    if "synthetic" in data:
        return " Some domains are synthetic stand-ins (the protocol's `data` column)."
    return ""


def figure_title(group: str, name: str) -> str:
    """``tsne_dann_clamp1_seed0.png`` as ``t-SNE: dann/clamp1/seed0``."""
    parts = name.removesuffix(".png").split("_")[1:]
    run = "/".join([parts[0], "_".join(parts[1:-1]), parts[-1]]) if len(parts) > 2 else \
        "/".join(parts)
    return f"{'t-SNE' if group == 'tsne' else 'Confusion matrices'}: {run}"


def headline(paired_table: pd.DataFrame, metric: str) -> str:
    """The adaptation runs whose difference to ``erm_mixed`` (or its AdaBN twin) has a 95 %
    interval excluding 0, either way; the others within the seeds' noise. Every run is
    counted: none is picked on its number."""
    if not len(paired_table) or "ci_low" not in paired_table:
        return ""
    vs = paired_table[paired_table["control"].astype(str).str.startswith("erm_mixed")]
    vs = vs.dropna(subset=["ci_low", "ci_high"])
    if not len(vs):
        return (" Headline: one seed only, so no difference to `erm_mixed` has an interval "
                "(the paired table below has the differences).")
    up = vs[vs["ci_low"] > 0]
    down = vs[vs["ci_high"] < 0]

    def listed(rows: pd.DataFrame) -> str:
        return ", ".join(f"{r['run']} on {r['domain']} {r['diff']:+.1f}" for r in
                         rows.to_dict("records")) or "none"

    return (f" Headline ({metric.replace('_', ' ')}, against `erm_mixed`, 95 % interval "
            f"excluding 0): gains — {listed(up)}; losses — {listed(down)}; "
            f"{len(vs) - len(up) - len(down)} of {len(vs)} run × target pairs within noise.")
