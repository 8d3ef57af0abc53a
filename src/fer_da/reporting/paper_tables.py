"""Tables I-IV of the paper from tidy metrics tables, with the paper's numbers beside ours."""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources

import pandas as pd

from fer_da.reporting.provenance_table import provenance_summary, tag_provenance

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


METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "loss")


PERCENT = ("accuracy", "balanced_accuracy", "macro_f1")


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


LONG_COLUMNS = ["table", "metric", "domain", "column", "value", "std", "seeds", "provenance",
                "row_key", "col_key"]


def build_tables(metrics: Mapping[str, pd.DataFrame], names: Mapping[str, str],
                 split: str = "test", mixed: str = "refuse",
                 collapsed: frozenset[tuple[str, str]] = frozenset()) -> pd.DataFrame:
    """Long table: table, metric, domain, column, value, std, seeds (ours, on ``split``).

    Rows of different face-set versions or code digests are not put in one table: refused
    (``mixed: refuse``, an error naming each provenance and its setups) or each cell marked
    with its provenance id (``mixed: mark``).
    """
    frames = [m for m in metrics.values() if m is not None and len(m)]
    if not frames:  # no setup of the tables ran
        return pd.DataFrame(columns=LONG_COLUMNS)
    every = pd.concat(frames, ignore_index=True)
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
        return pd.DataFrame(columns=LONG_COLUMNS)
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


def cell(value: float, std: float, seeds: int, metric: str) -> str:
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
    cells = part.assign(text=[cell(v, s, n, metric) + (f" [{p}]" if p else "")
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
