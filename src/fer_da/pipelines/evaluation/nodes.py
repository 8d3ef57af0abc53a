"""Evaluation: every trained model on every domain (a thin wrapper of
training/scoring.py)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from fer_da.facesets import FaceSet
from fer_da.labels import vocabulary
from fer_da.pipelines._types import CheckpointStore, TrainedModel
from fer_da.preflight import evaluation_config, evaluation_splits


def evaluate_models(models: dict[str, TrainedModel], face_sets: dict[str, FaceSet],
                    training: dict[str, Any], evaluation: dict[str, Any],
                    labels: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Metrics: one row per (model, domain, split) with n, accuracy, balanced accuracy,
    macro-F1, mean NLL and per-class recall. Reported numbers use the ``test`` split.

    A run planned with ``target_bn`` (AdaBN) is scored on each domain whose labels it did
    not train with by a copy whose batch-norm statistics are re-estimated on that domain's
    unlabelled train split, or every image of a transductive domain (``bn_stats`` names
    them; ``trained`` otherwise).

    Predictions: one row per evaluated image with its label, prediction and 600-d features
    (for t-SNE, confusion matrices and the proxy A-distance).
    """
    from fer_da.training.config import TrainConfig
    from fer_da.training.scoring import evaluate_all

    evaluation = evaluation_config(evaluation)
    return evaluate_all(models, face_sets, TrainConfig.from_params(training), evaluation,
                        evaluation_splits(evaluation), list(vocabulary(labels)))


def trace_selection(models: dict[str, TrainedModel], face_sets: dict[str, FaceSet],
                    checkpoints: CheckpointStore, training: dict[str, Any],
                    evaluation: dict[str, Any], labels: dict[str, Any]) -> pd.DataFrame:
    """Per run trained with ``training.validators``: every epoch's target test metrics (the
    oracle's view, never used to select), beside the validators' scores in its history."""
    from fer_da.training.config import TrainConfig
    from fer_da.training.scoring import trace_selection as trace

    evaluation = evaluation_config(evaluation)
    return trace(models, face_sets, checkpoints, TrainConfig.from_params(training),
                 evaluation.get("tta", "none"), list(vocabulary(labels)))
