"""Choosing a checkpoint without target labels, measured (issue 37): for each run trained
with ``training.validators``, the epoch each validator keeps, that epoch's target test
accuracy, the oracle's (the best epoch by target test accuracy: an upper bound no honest
protocol can use), the gap in points and each validator's rank correlation with target
accuracy over the epochs; and across a sweep of runs (every adaptation run of a seed), the
run and epoch each validator would choose against the oracle's."""

from __future__ import annotations

import numpy as np
import pandas as pd

PICK_COLUMNS = ["setup", "run", "seed", "run_id", "eval_domain", "validator", "epoch",
                "accuracy", "oracle_epoch", "oracle_accuracy", "gap", "spearman"]


def _rank_correlation(scores: pd.Series, accuracy: pd.Series) -> float:
    from fer_da.training.validators import spearman

    if scores.isna().any():  # a validator that failed at some epoch is not ranked
        return float("nan")
    return spearman(scores.to_numpy(), accuracy.to_numpy())


def _run_picks(h: pd.DataFrame, t: pd.DataFrame, validators: list[str]) -> list[dict]:
    """One run: per target and validator (and ``last``), the pick and the oracle's."""
    h = h.drop_duplicates("epoch").set_index("epoch").sort_index()
    rows = []
    for domain, td in t.groupby("eval_domain", sort=True):
        acc = td.drop_duplicates("epoch").set_index("epoch")["accuracy"].sort_index()
        epochs = acc.index.intersection(h.index)
        if not len(epochs):
            continue
        acc = acc.loc[epochs]
        best = int(acc.idxmax())  # ties: the earliest epoch
        for name in [*validators, "last"]:
            if name == "last":
                pick, rho = int(epochs.max()), float("nan")
            else:
                scores = h.loc[epochs, f"val_{name}"]
                if not scores.notna().any():  # not recorded for this run: no pick
                    continue
                pick, rho = int(scores.idxmax()), _rank_correlation(scores, acc)
            rows.append({"eval_domain": domain, "validator": name, "epoch": pick,
                         "accuracy": 100 * acc.loc[pick], "oracle_epoch": best,
                         "oracle_accuracy": 100 * acc.loc[best],
                         "gap": 100 * (acc.loc[best] - acc.loc[pick]), "spearman": rho})
    return rows


def _study_runs(trace: pd.DataFrame) -> pd.DataFrame:
    """The runs the study compares: an AdaBN run (``adabn``, ``<run>_adabn``) is scored with
    target statistics its validators were not computed with, so it is left out."""
    run = trace["run"].astype(str)
    return trace[~(run.eq("adabn") | run.str.endswith("_adabn"))]


def validator_picks(history: pd.DataFrame, trace: pd.DataFrame) -> pd.DataFrame:
    """Per run, target and validator: the epoch kept, its target test accuracy (%), the
    oracle's epoch and accuracy, the gap (points, ≥ 0) and Spearman's ρ over the epochs."""
    if trace is None or not len(trace) or history is None or not len(history):
        return pd.DataFrame(columns=PICK_COLUMNS)
    validators = [c.removeprefix("val_") for c in history.columns if c.startswith("val_")]
    rows = []
    for run_id, t in _study_runs(trace).groupby("run_id", sort=True):
        h = history[history["run_id"] == run_id]
        first = t.iloc[0]
        rows += [{"setup": first["setup"], "run": first["run"], "seed": first["seed"],
                  "run_id": run_id, **r} for r in _run_picks(h, t, validators)]
    return pd.DataFrame(rows, columns=PICK_COLUMNS)


def validator_summary(picks: pd.DataFrame) -> pd.DataFrame:
    """Per validator and target (and over all targets): runs, mean target accuracy of its
    picks (%), mean oracle accuracy, mean and std of the gap (points), mean Spearman ρ."""
    columns = ["validator", "eval_domain", "runs", "accuracy", "oracle_accuracy", "gap",
               "gap_std", "spearman"]
    if not len(picks):
        return pd.DataFrame(columns=columns)
    every = pd.concat([picks, picks.assign(eval_domain="all targets")], ignore_index=True)
    g = every.groupby(["validator", "eval_domain"], sort=False)
    out = g.agg(runs=("run_id", "nunique"), accuracy=("accuracy", "mean"),
                oracle_accuracy=("oracle_accuracy", "mean"), gap=("gap", "mean"),
                gap_std=("gap", "std"), spearman=("spearman", "mean")).reset_index()
    return out[columns]


def sweep_choice(history: pd.DataFrame, trace: pd.DataFrame,
                 controls: tuple[str, ...] = ("erm_mixed", "erm_mixed_adabn")
                 ) -> pd.DataFrame:
    """A sweep chosen without labels: per seed and target, over every (adaptation run,
    epoch), the one each validator scores best against the oracle's (target accuracy %,
    the gap in points). The controls are not candidates."""
    columns = ["seed", "eval_domain", "validator", "run", "epoch", "accuracy",
               "oracle_run", "oracle_epoch", "oracle_accuracy", "gap"]
    if trace is None or not len(trace) or history is None or not len(history):
        return pd.DataFrame(columns=columns)
    vals = [c for c in history.columns if c.startswith("val_")]
    both = _study_runs(trace).merge(history[["run_id", "epoch", *vals]],
                                    on=["run_id", "epoch"])
    both = both[~both["run"].isin(controls)]
    rows = []
    for (seed, domain), g in both.groupby(["seed", "eval_domain"], sort=True):
        best = g.loc[g["accuracy"].idxmax()]
        for col in vals:
            if g[col].isna().all():
                continue
            pick = g.loc[g[col].idxmax()]
            rows.append({"seed": seed, "eval_domain": domain,
                         "validator": col.removeprefix("val_"), "run": pick["run"],
                         "epoch": int(pick["epoch"]), "accuracy": 100 * pick["accuracy"],
                         "oracle_run": best["run"], "oracle_epoch": int(best["epoch"]),
                         "oracle_accuracy": 100 * best["accuracy"],
                         "gap": 100 * (best["accuracy"] - pick["accuracy"])})
    return pd.DataFrame(rows, columns=columns).astype({"gap": np.float64})
