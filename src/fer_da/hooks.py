"""Experiment tracking through hooks: nodes never import mlflow.

kedro-mlflow opens one MLflow run per ``kedro run`` (named after the pipeline). This hook adds
a nested run per trained model with its plan as parameters, its per-epoch history as
step metrics, its final accuracy/NLL per evaluated domain, and later its t-SNE and confusion
figures as artifacts.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = str(value)[:250]
    return out


class TrainingTrackingHooks:
    def __init__(self):
        self._mlflow_ids: dict[str, str] = {}  # our run_id -> MLflow run id

    @staticmethod
    def _mlflow():
        import mlflow

        return mlflow if mlflow.active_run() is not None else None

    @hook_impl
    def after_node_run(self, node, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        name = node.name.rsplit(".", 1)[-1]
        if name == "evaluate_models":
            self._log_models(node.namespace, inputs, outputs)
        elif name in ("tsne_figures", "confusion_figures"):
            self._log_figures(outputs[node.outputs[0]], name.split("_")[0])

    def _log_models(self, namespace: str, inputs: dict, outputs: dict) -> None:
        mlflow = self._mlflow()
        if mlflow is None:
            return
        models, metrics = inputs[f"{namespace}.models"], outputs[f"{namespace}.metrics"]
        for run_id, trained in sorted(models.items()):
            with mlflow.start_run(run_name=run_id, nested=True) as run:
                self._mlflow_ids[run_id] = run.info.run_id
                plan = trained.plan
                mlflow.set_tags({"setup": plan["setup"], "run": plan["run"],
                                 "seed": plan["seed"], "fer_da.run_id": run_id})
                mlflow.log_params(_flatten({k: v for k, v in plan.items() if k != "run_id"}))
                for h in trained.history:
                    mlflow.log_metrics({k: float(v) for k, v in h.items()
                                        if k != "epoch" and math.isfinite(float(v))},
                                       step=int(h["epoch"]))
                mine = metrics[metrics["run_id"] == run_id]
                mlflow.log_metrics({f"{r.split}_{m}_{r.eval_domain}": float(getattr(r, m))
                                    for r in mine.itertuples() for m in ("accuracy", "nll")
                                    if math.isfinite(float(getattr(r, m)))})
        logger.info("MLflow: logged %d %s runs", len(models), namespace)

    def _log_figures(self, figures: dict[str, Any], kind: str) -> None:
        mlflow = self._mlflow()
        if mlflow is None:
            return
        client = mlflow.tracking.MlflowClient()
        for run_id, mlflow_id in self._mlflow_ids.items():
            key = f"{kind}_{run_id.replace('/', '_')}.png"
            if key in figures:
                client.log_figure(mlflow_id, figures[key], f"{kind}.png")
