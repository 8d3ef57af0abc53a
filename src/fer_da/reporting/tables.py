"""Tables I-IV of the paper from tidy metrics tables, with the paper's numbers beside ours."""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources

import numpy as np
import pandas as pd

TABLES = {
    "I": "Joint training: test domain x training union",
    "II": "Fine-tuning: test domain x model (source baseline, then each target)",
    "III": "DANN: test domain x adaptation run (method, clamp value)",
    "IV": "Baseline vs the DANN runs",
}


def paper_reference() -> pd.DataFrame:
    """The published numbers (accuracy in %, loss), as transcribed from the paper."""
    with resources.files("fer_da.reporting").joinpath("paper_tables.csv").open() as f:
        return pd.read_csv(f)


CDFER_TARGETS = ("CK+", "JAFFE", "SFEW2.0", "FER2013", "ExpW")
CDFER_SOURCE = ("Chen et al., cross-domain FER benchmark, README of HCPLab-SYSU/"
                "CD-FER-Benchmark at bdd4bf2: RAF-DB source, accuracy % on each target")
# a domain's name (or its display name) -> the benchmark's target column
CDFER_ALIASES = {"ck": "CK+", "ckplus": "CK+", "jaffe": "JAFFE", "sfew": "SFEW2.0",
                 "sfew20": "SFEW2.0", "fer2013": "FER2013", "expw": "ExpW"}


def cdfer_reference() -> pd.DataFrame:
    """The benchmark's published accuracies (:data:`CDFER_SOURCE`): one row per backbone
    and method, the five targets and their mean. It publishes no source-only or DANN row."""
    with resources.files("fer_da.reporting").joinpath("cdfer_reference.csv").open() as f:
        return pd.read_csv(f)


# The benchmark's test set per dataset (its code, BulidDataloader's test branch, at d825cb8)
# and the fer-da split mode that reproduces it from the dataset's own release (None: its
# list ships with the benchmark's data package, not with the dataset).
CDFER_TEST_SETS = {
    "RAF-DB": ("its test_ images (source; the release's boxes on the original images)",
               "source"),
    "CK+": ("its own CK+ Val list (129 faces by the published accuracies)", None),
    "JAFFE": ("all 213 images, also the unlabelled training pool (transductive)",
              "transductive"),
    "SFEW2.0": ("the Val set (the release's 436 faces with the benchmark's boxes)", "source"),
    "FER2013": ("its own val_list.txt", None),
    "ExpW": ("its own val list", None),
}


def _key(name: str) -> str:
    return "".join(c for c in str(name).lower() if c.isalnum())


def _cdfer_target(name: str) -> str | None:
    return CDFER_ALIASES.get(_key(name))


def cdfer_test_sets(protocol: pd.DataFrame, names: dict[str, str] | None = None
                    ) -> pd.DataFrame:
    """Per benchmark dataset this run has: the benchmark's test set, this run's (split
    mode, test faces, real or synthetic) and whether they are the same protocol."""
    names = names or {}
    rows = []
    for rec in protocol.to_dict("records"):
        domain = str(rec["domain"])
        bench = ("RAF-DB" if _key(domain) in ("rafdb", "raf") or
                 _key(names.get(domain, "")) in ("rafdb", "raf")
                 else _cdfer_target(domain) or _cdfer_target(names.get(domain, "")))
        if bench is None:
            continue
        theirs, mode = CDFER_TEST_SETS[bench]
        ours = f"split {rec.get('split_mode')}: {int(rec.get('n_test', 0))} test faces"
        if rec.get("data") == "synthetic":
            same = "no: a synthetic stand-in"
        elif mode is None:
            same = "no: the benchmark's list is not in the dataset's release"
        elif rec.get("split_mode") == mode:
            same = "yes (preprocessing may differ: docs/labs.md)"
        else:
            same = f"no: split mode {mode} reproduces it"
        rows.append({"dataset": bench, "domain": domain, "benchmark's test set": theirs,
                     "this run's": ours, "data": rec.get("data", "real"),
                     "same test set": same})
    return pd.DataFrame(rows, columns=["dataset", "domain", "benchmark's test set",
                                       "this run's", "data", "same test set"])


def beside_cdfer(methods: pd.DataFrame, reference: pd.DataFrame, backbone: str = "ResNet-50",
                 ours: str = "fer-da") -> pd.DataFrame:
    """The benchmark's rows for ``backbone`` and this run's methods (accuracy, mean over
    seeds) on the targets both have; ``ours`` labels this run's rows (e.g. ``fer-da
    (synthetic stand-ins)``). Rows: (kind, method); columns: the benchmark's targets."""
    published = reference[reference["backbone"] == backbone].set_index("method")
    rows = {("published, " + backbone, m): published.loc[m, list(CDFER_TARGETS)].astype(float)
            for m in published.index}
    if len(methods):
        acc = methods[methods["metric"] == "accuracy"].assign(
            target=lambda f: f["domain"].map(_cdfer_target)).dropna(subset=["target"])
        twice = acc.groupby("target")["domain"].unique()
        twice = {t: sorted(map(str, d)) for t, d in twice.items() if len(d) > 1}
        if twice:
            raise ValueError(f"several domains map to one benchmark target: {twice}; rename "
                             "them (reporting.names) so that one domain is each target")
        for method, group in acc.groupby("method", sort=False):
            rows[(ours, method)] = group.set_index("target")["mean"].reindex(
                list(CDFER_TARGETS)).astype(float)
    if not rows:
        return pd.DataFrame(columns=list(CDFER_TARGETS))
    out = pd.DataFrame(rows).T
    out.index.names = ["kind", "method"]
    return out.round(2)


METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "loss")
PERCENT = ("accuracy", "balanced_accuracy", "macro_f1")


PROVENANCE_KEYS = ("faceset_version", "source_digest")
PROVENANCE_SHOWN = ("faceset_version", "source_digest", "git_commit", "git_dirty", "device",
                    "precision", "model_version", "tta")


def provenance_summary(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per distinct (face-set version, source digest): an id ``P1``, ``P2``, … with
    what it stands for and the setups whose numbers it produced."""
    m = metrics.copy()
    for col in PROVENANCE_SHOWN:
        if col not in m:
            m[col] = None
    m[list(PROVENANCE_SHOWN)] = m[list(PROVENANCE_SHOWN)].astype(object).where(
        m[list(PROVENANCE_SHOWN)].notna(), "unknown").astype(str)
    groups = m.groupby(list(PROVENANCE_KEYS), sort=True)
    rows = []
    for i, (key, g) in enumerate(groups, start=1):
        row = {"provenance": f"P{i}", **dict(zip(PROVENANCE_KEYS, key, strict=True))}
        for col in PROVENANCE_SHOWN[2:]:
            row[col] = ", ".join(sorted(set(g[col])))
        row["setups"] = ", ".join(sorted(set(g["setup"])))
        row["models"] = g["run_id"].nunique()
        rows.append(row)
    return pd.DataFrame(rows)


def tag_provenance(metrics: pd.DataFrame, summary: pd.DataFrame) -> pd.Series:
    """The provenance id of each metrics row."""
    keys = {tuple(r[k] for k in PROVENANCE_KEYS): r["provenance"]
            for r in summary.to_dict("records")}
    m = metrics.reindex(columns=list(PROVENANCE_KEYS)).astype(object)
    m = m.where(m.notna(), "unknown").astype(str)
    return pd.Series([keys[tuple(r)] for r in m.itertuples(index=False)], index=metrics.index)


def aggregate(metrics: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """Mean and std across seeds per (setup, run, eval_domain); rates in %, loss = NLL."""
    m = metrics[metrics["split"] == split].copy()
    for name in PERCENT:
        if name not in m:  # metrics written before balanced accuracy existed
            m[name] = float("nan")
        m[name] = m[name] * 100.0
    m["loss"] = m["nll"]
    g = m.groupby(["setup", "run", "eval_domain"], sort=False)
    spec = {}
    for name in METRICS:
        spec[name] = (name, "mean")
        spec[f"{name}_std"] = (name, "std")
    if "provenance" not in m:
        m["provenance"] = ""
    out = g.agg(**spec, seeds=("seed", "nunique"),
                provenance=("provenance", lambda p: "+".join(sorted(set(p)))))
    return out.reset_index()


COLLAPSED = " †"  # marks a column or method whose adversary collapsed (collapse_summary)


def _column_label(setup: str, run: str, names: Mapping[str, str]) -> str:
    if setup == "dann":
        if run == "adabn":
            return "AdaBN"
        if run.removesuffix("_adabn") == "erm_mixed":
            label = "source-only, mixed batches"
        else:
            label = run.removesuffix("_adabn").removesuffix("_paper").replace(
                "_clamp", " clamp").replace("clamp", "clamp = ")
            label += " (paper clamp)" if run.removesuffix("_adabn").endswith("_paper") else ""
        return f"{label} + AdaBN" if run.endswith("_adabn") else label
    if setup == "baseline":
        return "baseline"
    return " ".join(names.get(d, d) for d in run.split("+"))


def _frame(agg: pd.DataFrame, setups: tuple[str, ...], names: Mapping[str, str],
           baseline_label: str | None = None,
           collapsed: frozenset[tuple[str, str]] = frozenset()) -> pd.DataFrame:
    part = agg[agg["setup"].isin(setups)].copy()
    part["column"] = [(baseline_label if (s == "baseline" and baseline_label) else
                       _column_label(s, r, names)) + (COLLAPSED if (s, r) in collapsed else "")
                      for s, r in zip(part["setup"], part["run"], strict=True)]
    part["domain"] = part["eval_domain"].map(lambda d: names.get(d, d))
    order = list(names)
    part["row_key"] = part["eval_domain"].map(lambda d: order.index(d) if d in order else 99)
    part["col_key"] = [_column_key(s, r, order) for s, r in zip(part["setup"], part["run"],
                                                                strict=True)]
    return part


def _column_key(setup: str, run: str, order: list[str]) -> float:
    """Columns in the paper's order: baseline first, unions by size, targets, clamps by value."""
    if setup == "baseline":
        return -1.0
    if setup == "dann":
        if run.removesuffix("_adabn") == "erm_mixed":  # the control, right after baseline
            return -0.5 + 0.1 * run.endswith("_adabn")
        try:  # the paper clamp and target statistics right after the plain twin
            return (float(run.removesuffix("_adabn").removesuffix("_paper").removeprefix(
                "clamp")) + 0.25 * ("_paper" in run) + 0.5 * run.endswith("_adabn"))
        except ValueError:
            return float("inf")
    if setup == "joint":
        return float(len(run.split("+")))
    return float(order.index(run)) if run in order else 99.0


def build_tables(metrics: Mapping[str, pd.DataFrame], names: Mapping[str, str],
                 split: str = "test", mixed: str = "refuse",
                 collapsed: frozenset[tuple[str, str]] = frozenset()) -> pd.DataFrame:
    """Long table: table, metric, domain, column, value, std, seeds (ours, on ``split``).

    Rows of different face-set versions or code digests are not put in one table: refused
    (``mixed: refuse``, an error naming each provenance and its setups) or each cell marked
    with its provenance id (``mixed: mark``).
    """
    every = pd.concat([m for m in metrics.values() if m is not None and len(m)],
                      ignore_index=True)
    summary = provenance_summary(every)
    if len(summary) > 1:
        if mixed == "refuse":
            listing = "; ".join(f"{r['provenance']}: face sets {r['faceset_version']}, code "
                                f"{r['source_digest']} ({r['setups']})"
                                for r in summary.to_dict("records"))
            raise ValueError("the metrics come from different face-set versions or code: "
                             f"{listing}. Re-run the stale setups, or set "
                             "reporting.mixed_provenance: mark to mark each cell")
        every = every.assign(provenance=tag_provenance(every, summary))
    agg = aggregate(every, split)
    base = agg[agg["setup"] == "baseline"]
    source = base["run"].iloc[0] if len(base) else ""
    source_label = " ".join(names.get(d, d) for d in source.split("+"))
    ran = set(agg["setup"])
    parts = {"I": _frame(agg, ("baseline", "joint"), names, baseline_label=source_label),
             "II": _frame(agg, ("baseline", "finetune"), names, baseline_label=source_label),
             "III": _frame(agg, ("dann",), names, collapsed=collapsed),
             "IV": _frame(agg, ("baseline", "dann"), names, collapsed=collapsed)}
    # a table is shown when the setup it is about ran (not the baseline column alone)
    about = {"I": "joint", "II": "finetune", "III": "dann", "IV": "dann"}
    parts = {t: p for t, p in parts.items() if about[t] in ran}
    if not parts:
        return pd.DataFrame(columns=["table", "metric", "domain", "column", "value", "std",
                                     "seeds", "provenance", "row_key", "col_key"])
    rows = []
    for table, part in parts.items():
        for metric in METRICS:
            rows.append(pd.DataFrame({
                "table": table, "metric": metric, "domain": part["domain"],
                "column": part["column"], "value": part[metric],
                "std": part[f"{metric}_std"], "seeds": part["seeds"],
                "provenance": part["provenance"],
                "row_key": part["row_key"], "col_key": part["col_key"]}))
    return pd.concat(rows, ignore_index=True)


def _cell(value: float, std: float, seeds: int, metric: str) -> str:
    if pd.isna(value):
        return ""
    unit = "%" if metric in PERCENT else ""
    digits = 2
    text = f"{value:.{digits}f}"
    if seeds and seeds > 1 and not pd.isna(std):
        text += f" ± {std:.{digits}f}"
    return text + unit


def pivot(long: pd.DataFrame, table: str, metric: str,
          reference: pd.DataFrame | None = None) -> pd.DataFrame:
    """One of the paper's tables as text cells: rows = domains, columns as in the paper.

    With ``reference`` (the paper's numbers), each cell reads ``ours (paper: x)``.
    """
    part = long[(long["table"] == table) & (long["metric"] == metric)]
    marks = part["provenance"] if "provenance" in part else pd.Series("", index=part.index)
    cells = part.assign(text=[_cell(v, s, n, metric) + (f" [{p}]" if p else "")
                              for v, s, n, p in zip(part["value"], part["std"], part["seeds"],
                                                    marks.fillna(""), strict=True)])
    out = cells.pivot_table(index="domain", columns="column", values="text", aggfunc="first",
                            sort=False).fillna("")
    rows = cells.sort_values("row_key").drop_duplicates("domain")["domain"]
    cols = cells.sort_values("col_key", kind="stable").drop_duplicates("column")["column"]
    out = out.reindex(index=list(rows), columns=list(cols))
    if reference is not None:
        ref = reference[(reference["table"] == table) & (reference["metric"] == metric)]
        unit = "%" if metric in PERCENT else ""
        for rec in ref.itertuples():
            if rec.domain in out.index and rec.column in out.columns:
                ours = out.loc[rec.domain, rec.column] or "—"
                out.loc[rec.domain, rec.column] = f"{ours} (paper: {rec.value:.2f}{unit})"
    out.columns.name = None
    out.index.name = "domain"
    return out


def numeric_pivot(long: pd.DataFrame, table: str, metric: str) -> pd.DataFrame:
    part = long[(long["table"] == table) & (long["metric"] == metric)]
    return part.pivot_table(index="domain", columns="column", values="value", aggfunc="mean",
                            sort=False).astype(np.float64)


def paired_comparison(baseline: pd.DataFrame, adapted: pd.DataFrame, metric: str = "accuracy",
                      split: str = "test", roles: tuple[str, ...] = ("target",)) -> pd.DataFrame:
    """Each adaptation run against source-only, per target domain, paired by seed.

    Columns: domain, run, seeds (paired), source_only and run (mean and sample std, in %),
    diff (mean of the per-seed differences), diff_std, ci_low and ci_high (95 %, Student t
    on the paired differences; NaN with one seed). A gain is real when the interval
    excludes 0.
    """
    from scipy import stats

    def part(frame: pd.DataFrame) -> pd.DataFrame:
        if not {"split", "role", "run", "seed", "eval_domain", metric} <= set(frame.columns):
            # a setup that did not run loads as a frame without columns
            return pd.DataFrame(columns=["run", "seed", "eval_domain", metric, "value"])
        f = frame[(frame["split"] == split) & frame["role"].isin(roles)]
        return f[["run", "seed", "eval_domain", metric]].assign(value=f[metric] * 100.0)

    base = part(baseline).set_index(["eval_domain", "seed"])["value"]
    rows = []
    for (run, domain), group in part(adapted).groupby(["run", "eval_domain"], sort=True):
        g = group.set_index("seed")["value"]
        seeds = sorted(set(g.index) & set(base.loc[domain].index)) if domain in base else []
        if not seeds:
            continue
        ours, ref = g.loc[seeds].to_numpy(), base.loc[domain].loc[seeds].to_numpy()
        diff = ours - ref
        n = len(diff)
        half = (stats.t.ppf(0.975, n - 1) * diff.std(ddof=1) / np.sqrt(n)) if n > 1 \
            else float("nan")
        rows.append({"domain": domain, "run": run, "seeds": n,
                     "source_only": ref.mean(), "source_only_std": ref.std(ddof=1) if n > 1
                     else float("nan"), "adapted": ours.mean(),
                     "adapted_std": ours.std(ddof=1) if n > 1 else float("nan"),
                     "diff": diff.mean(), "diff_std": diff.std(ddof=1) if n > 1
                     else float("nan"), "ci_low": diff.mean() - half,
                     "ci_high": diff.mean() + half})
    return pd.DataFrame(rows, columns=["domain", "run", "seeds", "source_only",
                                       "source_only_std", "adapted", "adapted_std", "diff",
                                       "diff_std", "ci_low", "ci_high"])


def paired_with_controls(baseline: pd.DataFrame, dann: pd.DataFrame,
                         metric: str = "accuracy", control: str = "erm_mixed",
                         split: str = "test") -> pd.DataFrame:
    """Every adaptation run against both controls, per target, paired over seeds:
    ``source-only`` (the baseline: source batches alone) and ``erm_mixed`` (the source-only
    loss on the adaptation runs' mixed batches: same sampler, budget and batch-norm
    statistics over source and target faces). Against source-only a difference mixes the
    batch-norm effect with the adaptation's; against erm_mixed it is the adaptation term's
    alone. Column ``control`` names the reference; the reference's own mean is in
    ``source_only``."""
    out = [paired_comparison(baseline, dann, metric, split).assign(control="source-only")]
    if len(dann) and control in set(dann["run"]):
        mixed = dann[dann["run"] == control].assign(setup="baseline")
        others = dann[dann["run"] != control]
        out.append(paired_comparison(mixed, others, metric, split).assign(control=control))
    table = pd.concat(out, ignore_index=True)
    return table[["control", *[c for c in table.columns if c != "control"]]]


def collapse_summary(history: pd.DataFrame) -> pd.DataFrame:
    """Per adversarial run: the epochs its domain classifier was flagged collapsed
    (training/diagnostics.py), the signatures, its last epoch's domain accuracy and
    majority share, and its best model-selection score (source validation accuracy with
    ``select: source_val``: a label classifier swamped by the adversary shows here). Empty
    for histories without the flag."""
    columns = ["setup", "run", "seed", "run_id", "epochs", "collapsed_epochs", "reasons",
               "last_dmn_acc", "last_majority", "last_clamped_frac", "best_select_score"]
    if history is None or not len(history) or "collapsed" not in history:
        return pd.DataFrame(columns=columns)
    rows = []
    for run_id, group in history[history["collapsed"].notna()].groupby("run_id", sort=True):
        h = group.sort_values("epoch")
        flagged = h[h["collapsed"] > 0]
        last = h.iloc[-1]
        rows.append({"setup": last["setup"], "run": last["run"], "seed": last["seed"],
                     "run_id": run_id, "epochs": len(h),
                     "collapsed_epochs": " ".join(str(int(e)) for e in flagged["epoch"]),
                     "reasons": ", ".join(sorted(set(flagged["collapse"].dropna().astype(str))
                                                 - {""})),
                     "last_dmn_acc": last.get("dmn_acc"),
                     "last_majority": last.get("dmn_majority"),
                     "last_clamped_frac": last.get("clamped_frac"),
                     "best_select_score": (h["select_score"].max() if "select_score" in h
                                           else float("nan"))})
    return pd.DataFrame(rows, columns=columns)


def flagged(summary: pd.DataFrame) -> pd.Series:
    """Per summary row: the run's adversary counts as collapsed — flagged at its last epoch
    or in at least half of its epochs (a csv round trip turns "" into NaN: both are none)."""
    epochs = summary["collapsed_epochs"].fillna("").astype(str).str.split()
    last = summary["epochs"].astype(int).astype(str)
    return pd.Series([bool(e) and (e[-1] == n or 2 * len(e) >= int(n))
                      for e, n in zip(epochs, last, strict=True)], index=summary.index)


def collapsed_runs(summary: pd.DataFrame) -> frozenset[tuple[str, str]]:
    """(setup, run) of every run whose adversary collapsed (``flagged``) in any seed."""
    if summary is None or not len(summary):
        return frozenset()
    hit = summary[flagged(summary)]
    return frozenset(zip(hit["setup"], hit["run"], strict=True))


def method_comparison(metrics: Mapping[str, pd.DataFrame], names: Mapping[str, str],
                      split: str = "test",
                      collapsed: frozenset[tuple[str, str]] = frozenset()) -> pd.DataFrame:
    """Every setup's runs side by side: per (method, domain), accuracy and balanced accuracy
    as mean and std over seeds (%, long form). ``method`` is the setup, or ``setup/run``
    when a setup has several runs (DANN's clamps and methods)."""
    frames = [m for m in metrics.values() if len(m)]
    columns = ["method", "setup", "run", "domain", "metric", "mean", "std", "seeds"]
    if not frames:
        return pd.DataFrame(columns=columns)
    agg = aggregate(pd.concat(frames, ignore_index=True), split)
    runs = agg.groupby("setup")["run"].nunique()
    rows = []
    for r in agg.to_dict("records"):
        method = r["setup"] if runs[r["setup"]] == 1 else f"{r['setup']}/{r['run']}"
        method += COLLAPSED if (r["setup"], r["run"]) in collapsed else ""
        for metric in ("accuracy", "balanced_accuracy"):
            rows.append({"method": method, "setup": r["setup"], "run": r["run"],
                         "domain": names.get(r["eval_domain"], r["eval_domain"]),
                         "metric": metric, "mean": r[metric], "std": r[f"{metric}_std"],
                         "seeds": r["seeds"]})
    return pd.DataFrame(rows, columns=columns)


def method_pivot(long: pd.DataFrame) -> pd.DataFrame:
    """Rows = methods in setup order, columns = 'domain accuracy' / 'domain balanced'."""
    if long.empty:
        return pd.DataFrame()
    cells = long.assign(
        column=long["domain"] + np.where(long["metric"] == "accuracy", " acc", " bal acc"),
        text=[_cell(v, s, n, "accuracy") for v, s, n in zip(long["mean"], long["std"],
                                                             long["seeds"], strict=True)])
    out = cells.pivot_table(index="method", columns="column", values="text",
                            aggfunc="first", sort=False).fillna("")
    out = out.reindex(index=list(dict.fromkeys(cells["method"])),
                      columns=list(dict.fromkeys(cells["column"])))
    out.columns.name = None
    return out


# per sibling method: the logged term that shows its mechanism acting, and what it should be
MECHANISMS = {
    "jm": ("id_acc", "identity accuracy of the identity head (JM learns identity: high)"),
    "atf": ("id_acc", "identity accuracy behind the reversal (ATF removes identity: low)"),
    "ed2l": ("dispel_acc", "expression accuracy of the dispeller on f_p (aim: chance, 1/K)"),
    "sna": ("masked", "share of each batch masked by the neighbour divergence"),
    "hagan": ("g_diversity_ratio", "spread of G's characters across faces / the real "
                                   "characters' (≈0: one character for every face)"),
}


def mechanism_summary(histories: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Per run of a sibling method: its mechanism's diagnostic at the first and the last
    epoch (MECHANISMS), with what it measures. Setups without a history are left out."""
    rows = []
    for setup, (column, meaning) in MECHANISMS.items():
        h = histories.get(setup)
        if h is None or not len(h):
            continue
        h = h.copy()
        if column == "g_diversity_ratio" and {"g_diversity", "real_diversity"} <= set(h):
            h[column] = h["g_diversity"] / h["real_diversity"].where(h["real_diversity"] > 0)
        if column not in h:
            continue
        for run_id, group in h.groupby("run_id", sort=True):
            g = group.sort_values("epoch")
            rows.append({"setup": setup, "run_id": run_id, "diagnostic": column,
                         "first_epoch": g[column].iloc[0], "last_epoch": g[column].iloc[-1],
                         "meaning": meaning})
    return pd.DataFrame(rows, columns=["setup", "run_id", "diagnostic", "first_epoch",
                                       "last_epoch", "meaning"])
