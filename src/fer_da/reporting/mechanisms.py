"""Is a method's mechanism acting? The adversary's collapse summary per adversarial run,
and each sibling method's diagnostic (its ``MethodSpec.diagnostic``) at the first and last
epoch."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from fer_da.methods.registry import METHODS


def kept_epochs(metrics: pd.DataFrame | None) -> dict[str, int]:
    """Per run id, the epoch its reported model was kept from (``selected_epoch`` of its
    metrics rows; runs without one are left out: their last epoch is the kept one)."""
    if metrics is None or not len(metrics) or "selected_epoch" not in metrics:
        return {}
    kept = metrics.dropna(subset=["selected_epoch"]).groupby("run_id")["selected_epoch"]
    return {run_id: int(e) for run_id, e in kept.first().items()}


def collapse_summary(history: pd.DataFrame, kept: dict[str, int] | None = None
                     ) -> pd.DataFrame:
    """Per adversarial run: the epochs its domain classifier was flagged collapsed
    (training/diagnostics.py), the signatures, the epoch its reported model was kept from
    (``kept``, default its last), its last epoch's domain accuracy and majority share, and
    its best model-selection score (source validation accuracy with ``select:
    source_val``: a label classifier swamped by the adversary shows here). Empty for
    histories without the flag."""
    columns = ["setup", "run", "seed", "run_id", "epochs", "kept_epoch", "collapsed_epochs",
               "reasons", "last_dmn_acc", "last_majority", "last_clamped_frac",
               "best_select_score"]
    if history is None or not len(history) or "collapsed" not in history:
        return pd.DataFrame(columns=columns)
    rows = []
    for run_id, group in history[history["collapsed"].notna()].groupby("run_id", sort=True):
        h = group.sort_values("epoch")
        hit = h[h["collapsed"] > 0]
        last = h.iloc[-1]
        rows.append({"setup": last["setup"], "run": last["run"], "seed": last["seed"],
                     "run_id": run_id, "epochs": len(h),
                     "kept_epoch": (kept or {}).get(run_id, int(last["epoch"])),
                     "collapsed_epochs": " ".join(str(int(e)) for e in hit["epoch"]),
                     "reasons": ", ".join(sorted(set(hit["collapse"].dropna().astype(str))
                                                 - {""})),
                     "last_dmn_acc": last.get("dmn_acc"),
                     "last_majority": last.get("dmn_majority"),
                     "last_clamped_frac": last.get("clamped_frac"),
                     "best_select_score": (h["select_score"].max() if "select_score" in h
                                           else float("nan"))})
    return pd.DataFrame(rows, columns=columns)


def flagged(summary: pd.DataFrame) -> pd.Series:
    """Per summary row: the run's adversary counts as collapsed — flagged at the epoch its
    reported model was kept from (``kept_epoch``; the last one for summaries without it) or
    in at least half of its epochs (a csv round trip turns "" into NaN: both are none)."""
    epochs = summary["collapsed_epochs"].fillna("").astype(str).str.split()
    total = summary["epochs"].astype(int)
    kept = (summary["kept_epoch"].fillna(total).astype(int) if "kept_epoch" in summary
            else total)
    return pd.Series([bool(e) and (str(k) in e or 2 * len(e) >= n)
                      for e, k, n in zip(epochs, kept, total, strict=True)],
                     index=summary.index)


def collapsed_runs(summary: pd.DataFrame) -> frozenset[tuple[str, str]]:
    """(setup, run) of every run whose adversary collapsed (``flagged``) in any seed."""
    if summary is None or not len(summary):
        return frozenset()
    hit = summary[flagged(summary)]
    return frozenset(zip(hit["setup"], hit["run"], strict=True))


def mechanism_summary(histories: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Per run of a sibling method: its mechanism's diagnostic (``MethodSpec.diagnostic``,
    methods/registry.py) at the first and the last epoch, with what it measures. Setups
    without a history are left out."""
    rows = []
    for setup, spec in METHODS.items():  # the registry's order
        frame = histories.get(setup)
        if spec.diagnostic is None or frame is None or not len(frame):
            continue
        column, h = spec.diagnostic, frame.copy()
        if column == "g_diversity_ratio" and {"g_diversity", "real_diversity"} <= set(h):
            h[column] = h["g_diversity"] / h["real_diversity"].where(h["real_diversity"] > 0)
        if column not in h:
            continue
        for run_id, group in h.groupby("run_id", sort=True):
            g = group.sort_values("epoch")
            rows.append({"setup": setup, "run_id": run_id, "diagnostic": column,
                         "first_epoch": g[column].iloc[0], "last_epoch": g[column].iloc[-1],
                         "meaning": spec.meaning})
    return pd.DataFrame(rows, columns=["setup", "run_id", "diagnostic", "first_epoch",
                                       "last_epoch", "meaning"])
