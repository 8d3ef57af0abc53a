"""The model a lab uses: one trained run, with what inference needs to treat new faces
exactly as its training faces were treated.

A :class:`ServingModel` carries the classifier's weights and config, the class names, the
preprocessing settings of the domain it learned from (detector actually used, margin,
alignment, size), the test-time augmentation of the evaluation and where it came from
(run id, provenance, how it was chosen). Pure code: no Kedro, no I/O.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fer_da.digest import check_classes
from fer_da.facesets import FaceSet
from fer_da.preprocess.config import PreprocessConfig, preprocess_config
from fer_da.training.trained import TrainedModel

logger = logging.getLogger(__name__)


@dataclass
class ServingModel:
    trained: TrainedModel
    classes: list[str]
    preprocessing: dict[str, Any]  # PreprocessConfig.to_dict() less the split
    preprocessing_domain: str
    tta: str = "none"
    selected_by: str = ""
    card: dict[str, Any] = field(default_factory=dict)  # extra provenance (JSON-able)

    @property
    def run_id(self) -> str:
        return self.trained.run_id

    def preprocess_config(self) -> PreprocessConfig:
        return preprocess_config(self.preprocessing, where=f"{self.run_id} preprocessing")

    def metadata(self) -> dict[str, Any]:
        """What the model file and the MLflow model carry beside the weights."""
        return {"run_id": self.run_id, "classes": self.classes,
                "preprocessing": self.preprocessing,
                "preprocessing_domain": self.preprocessing_domain, "tta": self.tta,
                "selected_by": self.selected_by, "model_config": self.trained.model_config,
                "plan": self.trained.plan, "provenance": self.trained.provenance,
                **self.card}


def source_val_accuracy(model: Any, trained: TrainedModel, face_sets: dict[str, FaceSet],
                        device: str = "auto", tta: str = "none") -> float:
    """Accuracy on the validation split of the run's labelled domains (no target label)."""
    from fer_da.training.evaluate import predict

    hits = total = 0
    for domain in trained.plan["labelled_domains"]:
        if domain not in face_sets:
            continue
        val = face_sets[domain].split("val", trained.plan["seed"])
        if not len(val.table):
            continue
        logp, _, _ = predict(model, val.images, device, tta=tta,
                             freeze=(trained.plan.get("config") or {}).get("freeze", "none"))
        hits += int((logp.argmax(1) == val.table["label_idx"].to_numpy()).sum())
        total += len(val.table)
    return hits / total if total else float("nan")


def choose_run(models: dict[str, TrainedModel], face_sets: dict[str, FaceSet],
               run_id: str | None, device: str = "auto",
               tta: str = "none") -> tuple[TrainedModel, str]:
    """The run named ``run_id``, else the best by source-validation accuracy (ties: the
    lowest run id). Returns it and how it was chosen."""
    from fer_da.training.evaluate import load_model

    if run_id:
        if run_id not in models:
            raise KeyError(f"inference.run_id {run_id!r} is not among the loaded models "
                           f"({sorted(models)}); set inference.setup to its setup")
        return models[run_id], "run_id"
    scores = {rid: source_val_accuracy(load_model(m.model_config, m.state), m, face_sets,
                                       device, tta) for rid, m in sorted(models.items())}
    ranked = sorted(scores, key=lambda r: (-np.nan_to_num(scores[r], nan=-1.0), r))
    best = ranked[0]
    logger.info("Serving %s: best source-validation accuracy %.4f of %d runs", best,
                scores[best], len(scores))
    return models[best], f"source_val_accuracy={scores[best]:.4f}"


def serving_preprocessing(trained: TrainedModel, face_sets: dict[str, FaceSet],
                          fallback: dict[str, PreprocessConfig]) -> tuple[str, dict[str, Any]]:
    """The preprocessing of the run's first labelled domain: recorded in its plan at
    training (``fallback``: the current configuration, for models saved before that), with
    the detector its faces were actually detected by (a fallback detector included)."""
    domain = trained.plan["labelled_domains"][0]
    recorded = (trained.plan.get("preprocessing") or {}).get(domain)
    if recorded is None:
        if domain not in fallback:
            raise KeyError(f"{trained.run_id}: no preprocessing recorded for {domain!r} and "
                           "none configured")
        logger.warning("%s records no preprocessing; using the configured one of %s",
                       trained.run_id, domain)
        recorded = fallback[domain].to_dict()
    settings = {k: v for k, v in recorded.items() if k != "split"}
    settings["detector"] = dict(settings["detector"])
    used = face_sets.get(domain)
    if used is not None and "detector" in used.table and len(used.table):
        backend = Counter(used.table["detector"]).most_common(1)[0][0]
        settings["detector"].update(backend=backend, fallback=None)
    return domain, settings


def serving_model(trained: TrainedModel, classes: list[str], preprocessing_domain: str,
                  preprocessing: dict[str, Any], tta: str, selected_by: str) -> ServingModel:
    """The model to serve with its own class names; ``classes`` (the configuration) must
    agree with them (:func:`~fer_da.digest.check_classes`)."""
    classes = check_classes(trained.run_id, trained.classes, classes)
    n_classes = int(trained.model_config.get("n_classes", len(classes)))
    if n_classes != len(classes):
        raise ValueError(f"{trained.run_id} predicts {n_classes} classes but labels.classes "
                         f"has {len(classes)}: {classes}")
    return ServingModel(trained, list(classes), preprocessing, preprocessing_domain, tta,
                        selected_by)
