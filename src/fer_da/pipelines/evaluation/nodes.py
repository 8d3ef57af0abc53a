"""Evaluation: every trained model on every domain."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from fer_da.digest import check_classes
from fer_da.facesets import FaceSet, content_digest
from fer_da.labels import vocabulary
from fer_da.pipelines._types import TrainedModel
from fer_da.preflight import evaluation_config, evaluation_splits

METRIC_COLUMNS = ["setup", "run", "seed", "run_id", "train_domains", "eval_domain", "role",
                  "split", "n", "accuracy", "balanced_accuracy", "macro_f1", "nll"]
PROVENANCE_COLUMNS = ["faceset_version", "faceset_digest", "eval_faceset_version",
                      "faceset_mismatch", "source_digest", "git_commit", "git_dirty",
                      "config_hash", "device", "precision", "model_version", "selected_by",
                      "selected_epoch", "tta", "bn_stats"]


def check_faceset_version(run_id: str, trained: str | None, scored: str | None,
                          allow: bool, same_content: bool = False) -> bool:
    """True when the model is scored on another face-set version than it was trained on
    (and of other content: a re-run of unchanged preprocessing is the same data); refused
    (an error naming both) unless ``allow``."""
    mismatch = bool(trained and scored and trained != scored and not same_content)
    if mismatch and not allow:
        raise ValueError(
            f"{run_id} was trained on face-set version {trained} but would be scored on "
            f"version {scored}: its test split may hold images it was trained on. Retrain, "
            f"load the matching face sets (--load-versions face_sets:{trained}) or set "
            "evaluation.allow_other_faceset: true (rows are marked faceset_mismatch)")
    return mismatch


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
    from fer_da.devices import resolve_device
    from fer_da.training.adabn import adapt_batchnorm
    from fer_da.training.config import TrainConfig
    from fer_da.training.evaluate import load_model, predict
    from fer_da.training.metrics import classification_metrics

    cfg = TrainConfig.from_params(training)
    evaluation = evaluation_config(evaluation)
    tta = evaluation.get("tta", "none")
    splits = evaluation_splits(evaluation)
    allow = evaluation.get("allow_other_faceset", False)
    scored = "+".join(sorted({fs.version for fs in face_sets.values() if fs.version})) or None
    content = content_digest(face_sets)
    classes = vocabulary(labels)
    columns = METRIC_COLUMNS + [f"recall_{c}" for c in classes] + PROVENANCE_COLUMNS
    rows, preds = [], []
    for run_id, trained in sorted(models.items()):
        check_classes(run_id, trained.classes, classes)  # its outputs mean its own classes
        model = load_model(trained.model_config, trained.state)
        plan = trained.plan
        prov = trained.provenance
        mismatch = check_faceset_version(run_id, prov.get("faceset_version"), scored, allow,
                                         prov.get("faceset_content") == content)
        provenance = {**{k: prov.get(k) for k in PROVENANCE_COLUMNS}, "faceset_mismatch":
                      mismatch, "eval_faceset_version": scored, "tta": tta}
        for domain, fs in sorted(face_sets.items()):
            scorer, bn_stats = model, "trained"
            if plan.get("target_bn") and domain not in plan["labelled_domains"]:
                unlabelled = fs.unlabelled_pool(plan["seed"]).images
                if len(unlabelled) < 2:
                    raise ValueError(f"{run_id} (AdaBN) needs at least 2 unlabelled faces "
                                     "(train split, or all of a transductive domain) "
                                     f"of {domain!r} for its statistics, found "
                                     f"{len(unlabelled)}")
                scorer = adapt_batchnorm(model, unlabelled, cfg.eval_batch_size,
                                         plan["seed"], resolve_device(cfg.device))
                bn_stats = f"{domain}/{'all' if fs.transductive else 'train'}"
            for split in splits:
                part = fs.split(split, plan["seed"])
                truth = part.table["label_idx"].to_numpy(dtype=np.int64)
                if not len(truth):
                    continue
                logp, _, feats = predict(scorer, part.images, cfg.device,
                                         cfg.eval_batch_size, tta,
                                         (plan.get("config") or {}).get("freeze", "none"))
                scores = classification_metrics(logp, truth, classes)
                frame = pd.DataFrame(feats.astype(np.float32),
                                     columns=[f"f{i}" for i in range(feats.shape[1])])
                frame.insert(0, "run_id", run_id)
                frame.insert(1, "eval_domain", domain)
                frame.insert(2, "split", split)
                frame.insert(3, "image_id", part.table["image_id"].to_numpy())
                frame.insert(4, "label_idx", truth)
                frame.insert(5, "pred_idx", logp.argmax(1))
                preds.append(frame)
                rows.append({"setup": plan["setup"], "run": plan["run"], "seed": plan["seed"],
                             "run_id": run_id, "train_domains": "+".join(plan["train_domains"]),
                             "eval_domain": domain,
                             "role": fs.table["role"].iloc[0] if len(fs.table) else "",
                             "split": split, "n": len(truth), **scores, **provenance,
                             "bn_stats": bn_stats})
    return pd.DataFrame(rows, columns=columns), pd.concat(preds, ignore_index=True)
