"""Evaluation: every trained model on every domain."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from fer_da.facesets import FaceSet
from fer_da.training.config import TrainConfig
from fer_da.training.evaluate import accuracy_nll, load_model, predict
from fer_da.training.loop import TrainedModel

METRIC_COLUMNS = ["setup", "run", "seed", "run_id", "train_domains", "eval_domain", "role",
                  "split", "n", "accuracy", "nll"]


def evaluate_models(models: dict[str, TrainedModel], face_sets: dict[str, FaceSet],
                    training: dict[str, Any], evaluation: dict[str, Any]) -> pd.DataFrame:
    """One row per (model, domain, split): n, accuracy, mean NLL."""
    cfg = TrainConfig.from_params(training)
    splits = list(evaluation.get("splits", ["val"]))
    rows = []
    for run_id, trained in sorted(models.items()):
        model = load_model(trained.model_config, trained.state)
        plan = trained.plan
        for domain, fs in sorted(face_sets.items()):
            for split in splits:
                part = fs.split(split)
                labels = part.table["label_idx"].to_numpy(dtype=np.int64)
                logp = predict(model, part.images, cfg.device, cfg.eval_batch_size)[0] \
                    if len(labels) else np.zeros((0, 1))
                acc, nll = accuracy_nll(logp, labels)
                rows.append({"setup": plan["setup"], "run": plan["run"], "seed": plan["seed"],
                             "run_id": run_id, "train_domains": "+".join(plan["train_domains"]),
                             "eval_domain": domain,
                             "role": fs.table["role"].iloc[0] if len(fs.table) else "",
                             "split": split, "n": len(labels), "accuracy": acc, "nll": nll})
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)
