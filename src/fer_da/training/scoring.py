"""Every trained model scored on every domain and split (library code; the evaluation node
is a thin wrapper): metrics rows with the provenance of each number, and one row per
image with its prediction and features."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from fer_da.digest import check_classes
from fer_da.facesets import FaceSet, content_digest
from fer_da.training.trained import TrainedModel

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


def _scorer(model: Any, plan: dict[str, Any], domain: str, fs: FaceSet, cfg: Any,
            run_id: str) -> tuple[Any, str]:
    """The model that scores ``domain``: the trained one, or (a ``target_bn`` run on a
    domain it did not train with the labels of) a copy with that domain's batch-norm
    statistics (AdaBN), and what its statistics are."""
    if not (plan.get("target_bn") and domain not in plan["labelled_domains"]):
        return model, "trained"
    from fer_da.devices import resolve_device
    from fer_da.training.adabn import adapt_batchnorm

    unlabelled = fs.unlabelled_pool(plan["seed"]).images
    if len(unlabelled) < 2:
        raise ValueError(f"{run_id} (AdaBN) needs at least 2 unlabelled faces (train split, "
                         f"or all of a transductive domain) of {domain!r} for its "
                         f"statistics, found {len(unlabelled)}")
    return (adapt_batchnorm(model, unlabelled, cfg.eval_batch_size, plan["seed"],
                            resolve_device(cfg.device)),
            f"{domain}/{'all' if fs.transductive else 'train'}")


def _predictions(run_id: str, domain: str, split: str, part: FaceSet, truth: np.ndarray,
                 logp: np.ndarray, feats: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame(feats.astype(np.float32),
                         columns=[f"f{i}" for i in range(feats.shape[1])])
    frame.insert(0, "run_id", run_id)
    frame.insert(1, "eval_domain", domain)
    frame.insert(2, "split", split)
    frame.insert(3, "image_id", part.table["image_id"].to_numpy())
    frame.insert(4, "label_idx", truth)
    frame.insert(5, "pred_idx", logp.argmax(1))
    return frame


def score_model(run_id: str, trained: TrainedModel, face_sets: dict[str, FaceSet],
                cfg: Any, splits: list[str], tta: str, classes: list[str],
                provenance: dict[str, Any]) -> tuple[list[dict], list[pd.DataFrame]]:
    """One model on every domain and split: its metrics rows and its predictions."""
    from fer_da.training.evaluate import load_model, predict
    from fer_da.training.metrics import classification_metrics

    model, plan = load_model(trained.model_config, trained.state), trained.plan
    freeze = (plan.get("config") or {}).get("freeze", "none")
    rows, preds = [], []
    for domain, fs in sorted(face_sets.items()):
        scorer, bn_stats = _scorer(model, plan, domain, fs, cfg, run_id)
        for split in splits:
            part = fs.split(split, plan["seed"])
            truth = part.table["label_idx"].to_numpy(dtype=np.int64)
            if not len(truth):
                continue
            logp, _, feats = predict(scorer, part.images, cfg.device, cfg.eval_batch_size,
                                     tta, freeze)
            preds.append(_predictions(run_id, domain, split, part, truth, logp, feats))
            rows.append({"setup": plan["setup"], "run": plan["run"], "seed": plan["seed"],
                         "run_id": run_id, "train_domains": "+".join(plan["train_domains"]),
                         "eval_domain": domain,
                         "role": fs.table["role"].iloc[0] if len(fs.table) else "",
                         "split": split, "n": len(truth),
                         **classification_metrics(logp, truth, classes), **provenance,
                         "bn_stats": bn_stats})
    return rows, preds


def evaluate_all(models: dict[str, TrainedModel], face_sets: dict[str, FaceSet], cfg: Any,
                 evaluation: dict[str, Any], splits: list[str], classes: list[str]
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Metrics (one row per model, domain and split) and predictions of every model."""
    tta = evaluation.get("tta", "none")
    allow = evaluation.get("allow_other_faceset", False)
    scored = "+".join(sorted({fs.version for fs in face_sets.values() if fs.version})) or None
    content = content_digest(face_sets)
    columns = METRIC_COLUMNS + [f"recall_{c}" for c in classes] + PROVENANCE_COLUMNS
    rows, preds = [], []
    for run_id, trained in sorted(models.items()):
        check_classes(run_id, trained.classes, classes)  # its outputs mean its own classes
        prov = trained.provenance
        mismatch = check_faceset_version(run_id, prov.get("faceset_version"), scored, allow,
                                         prov.get("faceset_content") == content)
        provenance = {**{k: prov.get(k) for k in PROVENANCE_COLUMNS}, "faceset_mismatch":
                      mismatch, "eval_faceset_version": scored, "tta": tta}
        r, p = score_model(run_id, trained, face_sets, cfg, splits, tta, classes, provenance)
        rows += r
        preds += p
    return pd.DataFrame(rows, columns=columns), pd.concat(preds, ignore_index=True)


TRACE_COLUMNS = ["setup", "run", "seed", "run_id", "epoch", "eval_domain", "n", "accuracy",
                 "balanced_accuracy", "macro_f1"]


def _epoch_rows(run_id: str, trained: TrainedModel, model: Any, face_sets: dict[str, FaceSet],
                cfg: Any, tta: str, classes: list[str]) -> list[dict[str, Any]]:
    """The model (set to one epoch's weights) on the test split of every domain whose
    labels the run did not train with."""
    from fer_da.training.evaluate import predict
    from fer_da.training.metrics import classification_metrics

    plan, rows = trained.plan, []
    freeze = (plan.get("config") or {}).get("freeze", "none")
    for domain, fs in sorted(face_sets.items()):
        if domain in plan["labelled_domains"]:
            continue
        scorer, _ = _scorer(model, plan, domain, fs, cfg, run_id)
        part = fs.split("test", plan["seed"])
        truth = part.table["label_idx"].to_numpy(dtype=np.int64)
        if not len(truth):
            continue
        logp, _, _ = predict(scorer, part.images, cfg.device, cfg.eval_batch_size, tta,
                             freeze)
        m = classification_metrics(logp, truth, classes)
        rows.append({"setup": plan["setup"], "run": plan["run"], "seed": plan["seed"],
                     "run_id": run_id, "eval_domain": domain, "n": len(truth),
                     **{k: m[k] for k in ("accuracy", "balanced_accuracy", "macro_f1")}})
    return rows


def _checked_snapshots(run_id: str, trained: TrainedModel, store: Any) -> dict[int, Any]:
    """The run's epoch snapshots, refused unless they are this model's (same plan, data and
    code) and cover every epoch of its history."""
    from fer_da.training.fit import snapshot_identity

    folder = store.epochs_folder(run_id)
    snapshots = store.epoch_states(run_id)
    epochs = sorted(int(h["epoch"]) for h in trained.history)
    if store.epochs_identity(run_id) != snapshot_identity(trained.provenance):
        raise ValueError(f"{run_id}: the epoch snapshots in {folder} belong to another "
                         "training of this run (plan, data or code differ from the model "
                         "evaluated); re-run the setup to trace it")
    missing = sorted(set(epochs) - set(snapshots))
    if missing:
        raise FileNotFoundError(f"{run_id} was trained with training.validators but the "
                                f"snapshots of epochs {missing} are missing in {folder}; "
                                "re-run the setup (training.resume: false)")
    return {e: snapshots[e] for e in epochs}


def trace_selection(models: dict[str, TrainedModel], face_sets: dict[str, FaceSet],
                    store: Any, cfg: Any, tta: str, classes: list[str]) -> pd.DataFrame:
    """The oracle's view of the selection study, computed at evaluation only: for each run
    trained with ``training.validators``, every epoch's snapshot scored on the test split of
    each target (the labels training never saw). The validators' own scores are in the
    run's history (``val_<name>``); the report sets them side by side."""
    from fer_da.training.evaluate import load_model

    rows = []
    for run_id, trained in sorted(models.items()):
        if not (trained.plan.get("config") or {}).get("validators"):
            continue
        snapshots = _checked_snapshots(run_id, trained, store)
        model = load_model(trained.model_config, trained.state)
        for epoch, path in snapshots.items():
            model.load_state_dict({**trained.state, **store.load_epoch(path)})
            rows += [{**r, "epoch": epoch} for r in _epoch_rows(
                run_id, trained, model, face_sets, cfg, tta, classes)]
    return pd.DataFrame(rows, columns=TRACE_COLUMNS)
