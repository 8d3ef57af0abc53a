"""Methods side by side, and every adaptation run against its controls (source-only and
``erm_mixed``), paired over seeds."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from fer_da.reporting.paper_tables import COLLAPSED, aggregate, cell


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


def _against(control_rows: pd.DataFrame, runs: pd.DataFrame, label: str, metric: str,
             split: str) -> pd.DataFrame:
    return paired_comparison(control_rows.assign(setup="baseline"), runs, metric,
                             split).assign(control=label)


def paired_with_controls(baseline: pd.DataFrame, dann: pd.DataFrame,
                         metric: str = "accuracy", control: str = "erm_mixed",
                         split: str = "test") -> pd.DataFrame:
    """Every adaptation run against both controls, per target, paired over seeds:
    ``source-only`` (the baseline: source batches alone) and ``erm_mixed`` (the source-only
    loss on the adaptation runs' mixed batches: same sampler, budget and batch-norm
    statistics over source and target faces). Against source-only a difference mixes the
    batch-norm effect with the adaptation's; against erm_mixed it is the adaptation term's
    alone. A ``<method>_adabn`` run (scored with target batch-norm statistics) is set
    against its AdaBN twin ``erm_mixed_adabn`` (planned beside it), so that AdaBN's own
    effect is not counted as the method's; without the twin (runs made before it was
    planned) against ``erm_mixed``, labelled so. Column ``control`` names the reference;
    the reference's own mean is in ``source_only``."""
    out = [paired_comparison(baseline, dann, metric, split).assign(control="source-only")]
    if not len(dann):
        return _with_control_first(out)
    twin = f"{control}_adabn"
    runs = set(dann["run"])
    adapted = dann[~dann["run"].isin({control, twin})]
    with_bn = adapted["run"].str.endswith("_adabn") & (adapted["run"] != "adabn")
    if control in runs:
        plain = adapted[~with_bn] if twin in runs else adapted
        out.append(_against(dann[dann["run"] == control], plain, control, metric, split))
    if twin in runs:
        out.append(_against(dann[dann["run"] == twin], adapted[with_bn], twin, metric,
                            split))
    elif control in runs and with_bn.any():
        out[-1].loc[out[-1]["run"].str.endswith("_adabn"), "control"] = (
            f"{control} (no AdaBN twin: AdaBN's effect counted in)")
    return _with_control_first(out)


def _with_control_first(parts: list[pd.DataFrame]) -> pd.DataFrame:
    table = pd.concat(parts, ignore_index=True)
    return table[["control", *[c for c in table.columns if c != "control"]]]


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
        text=[cell(v, s, n, "accuracy") for v, s, n in zip(long["mean"], long["std"],
                                                             long["seeds"], strict=True)])
    out = cells.pivot_table(index="method", columns="column", values="text",
                            aggfunc="first", sort=False).fillna("")
    out = out.reindex(index=list(dict.fromkeys(cells["method"])),
                      columns=list(dict.fromkeys(cells["column"])))
    out.columns.name = None
    return out
