"""What a finished run tells the user in its last lines: which setups ran, the headline
numbers (each run's mean test accuracy on each target, over seeds: no run is picked on
them) and where the metrics, the models and the report are. Pure: the hook hands over the
tables and paths."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

MAX_RUNS = 8  # runs listed per setup and target (the metrics file has them all)


def _headline(setup: str, metrics: pd.DataFrame, names: Mapping[str, str]) -> list[str]:
    need = {"split", "role", "eval_domain", "run", "accuracy", "balanced_accuracy"}
    if not len(metrics) or not need <= set(metrics.columns):
        return [f"  {setup}: no metrics written"]
    test = metrics[(metrics["split"] == "test") & (metrics["role"] == "target")]
    if not len(test):
        test = metrics[metrics["split"] == "test"]
    lines = []
    for domain, g in test.groupby("eval_domain", sort=True):
        means = g.groupby("run", sort=False)[["accuracy", "balanced_accuracy"]].mean()
        seeds = int(g["seed"].nunique()) if "seed" in g else 1
        shown = ", ".join(f"{run} {100 * r['accuracy']:.1f}% (bal. "
                          f"{100 * r['balanced_accuracy']:.1f}%)"
                          for run, r in list(means.iterrows())[:MAX_RUNS])
        more = f", … {len(means) - MAX_RUNS} more" if len(means) > MAX_RUNS else ""
        lines.append(f"  {setup} on {names.get(domain, domain)} (test, mean of {seeds} seed"
                     f"{'s' if seeds > 1 else ''}): {shown}{more}")
    return lines


def summary_lines(metrics: Mapping[str, tuple[str, pd.DataFrame]],
                  models: Mapping[str, str], report: str | None, synthetic: bool,
                  names: Mapping[str, str] | None = None) -> list[str]:
    """``metrics``: setup -> (its metrics file, the table); ``models``: setup -> folder;
    ``report``: the report's path when this run wrote it; ``names``: domains' display
    names (``reporting.names``)."""
    if not metrics:
        return []
    lines = [f"Run finished: {', '.join(metrics)}"
             + (" (on the embedded synthetic faces, not real data)" if synthetic else "")]
    for setup, (_, frame) in metrics.items():
        lines += _headline(setup, frame, names or {})
    for setup, (path, _) in metrics.items():
        lines.append(f"  {setup}: metrics {path}" + (f", models {models[setup]}"
                                                      if setup in models else ""))
    lines.append(f"Report: {report}" if report else
                 "Report: not made by this run; `uv run kedro run --pipelines=reporting` "
                 "(same --env) writes it from the saved metrics")
    return lines


def mlflow_line(tracking_uri: str, experiment_id: str, run_id: str,
                port: int = 5000) -> str:
    """Where the run is in MLflow: a link that opens its experiment's training runs (MLflow
    3's UI opens on its GenAI pages unless the link asks for ``machine_learning``); for a
    local store, the command that serves it first (``kedro mlflow ui`` on
    conf/base/mlflow.yml's ``ui.port``, 5000; an env that changes it passes its own)."""
    served = tracking_uri.startswith(("http://", "https://"))
    base = tracking_uri.rstrip("/") if served else f"http://127.0.0.1:{port}"
    link = (f"{base}/#/experiments/{experiment_id}/runs/{run_id}"
            "?workflowType=machine_learning")
    return f"MLflow: {link}" if served else (
        f"MLflow: `uv run kedro mlflow ui`, then {link}")
