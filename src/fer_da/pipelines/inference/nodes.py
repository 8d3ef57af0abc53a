"""Inference nodes: choose the model, predict on new media, draw the sheet.

Library code does the work (:mod:`fer_da.inference`); the catalog lists the input
(:class:`~fer_da.datasets.MediaDataset`) and writes the outputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from fer_da.facesets import FaceSet
from fer_da.ingest import parse_domain_specs
from fer_da.labels import vocabulary
from fer_da.pipelines._types import Figure, Media, ServingModel, TrainedModel
from fer_da.preprocess.config import domain_configs
from fer_da.validate import as_choice


def _serve(models: dict[str, TrainedModel], face_sets: dict[str, FaceSet],
           run_id: str | None, inference: dict[str, Any], evaluation: dict[str, Any],
           labels: dict[str, Any], preprocessing: dict[str, Any],
           domains: dict[str, Any]) -> ServingModel:
    from fer_da.inference.predict import InferenceConfig
    from fer_da.inference.serving import choose_run, serving_model, serving_preprocessing
    from fer_da.training.evaluate import TTA

    cfg = InferenceConfig.from_params(inference)
    tta = as_choice((evaluation or {}).get("tta", "none"), "evaluation.tta", TTA)
    trained, how = choose_run(models, face_sets, run_id, cfg.device, tta)
    configured = domain_configs(preprocessing, {s.name: s.preprocessing
                                                for s in parse_domain_specs(domains)})
    domain, settings = serving_preprocessing(trained, face_sets, configured)
    return serving_model(trained, list(vocabulary(labels)), domain, settings, tta, how)


def serve_best(models: dict[str, TrainedModel], face_sets: dict[str, FaceSet],
               inference: dict[str, Any], evaluation: dict[str, Any], labels: dict[str, Any],
               preprocessing: dict[str, Any], domains: dict[str, Any]) -> ServingModel:
    """The setup's model to serve: its best run by source-validation accuracy, with its
    class names, preprocessing and TTA (the MLflow model of the setup carries it)."""
    return _serve(models, face_sets, None, inference, evaluation, labels, preprocessing,
                  domains)


def choose_model(models: dict[str, TrainedModel], face_sets: dict[str, FaceSet],
                 inference: dict[str, Any], evaluation: dict[str, Any], labels: dict[str, Any],
                 preprocessing: dict[str, Any], domains: dict[str, Any]) -> ServingModel:
    """``inference.run_id``, or the best run of ``inference.setup`` by source-validation
    accuracy."""
    return _serve(models, face_sets, inference.get("run_id"), inference, evaluation, labels,
                  preprocessing, domains)


def predict_media(media: Media, model: ServingModel, inference: dict[str, Any]
                  ) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """Predictions (one row per face: file, frame, box, label, probability per class, run
    id), the face crops in the same order, and the rejects."""
    from fer_da.inference.predict import InferenceConfig
    from fer_da.inference.predict import predict_media as run

    if not media.files and not media.rejects:  # exit 0 with empty outputs said nothing
        raise ValueError(f"inference input {media.source or '(none)'} holds no file: nothing "
                         "to predict (set inference.input to a folder, list, image or video)")
    return run(model, media, InferenceConfig.from_params(inference))


def predict_table(paths: pd.DataFrame, model: ServingModel,
                  inference: dict[str, Any]) -> pd.DataFrame:
    """The MLflow model's one node: a table with a ``path`` column (images, videos,
    folders, lists) in, predictions out; rejects are rows with a ``reason`` and no label."""
    from fer_da.datasets.media_dataset import media_from_table
    from fer_da.inference.predict import InferenceConfig
    from fer_da.inference.predict import predict_media as run

    table, _, rejects = run(model, media_from_table(paths),
                            InferenceConfig.from_params(inference))
    return pd.concat([table.assign(reason=""), rejects], ignore_index=True)


def prediction_sheet(predictions: pd.DataFrame, crops: np.ndarray,
                     inference: dict[str, Any]) -> Figure:
    """The annotated contact sheet: the first faces with label and probability."""
    from fer_da.inference.predict import InferenceConfig
    from fer_da.inference.sheet import prediction_sheet as sheet

    return sheet(predictions, crops, InferenceConfig.from_params(inference).sheet_max)


def export_onnx(model: ServingModel) -> tuple[bytes, pd.DataFrame]:
    """The serving model's classifier as ONNX (uint8 faces -> log-probabilities, its TTA
    inside), and its parity with PyTorch: the largest absolute difference of the
    log-probabilities on a fixed seeded batch."""
    from fer_da.inference.onnx_export import OPSET, fixed_batch, parity
    from fer_da.inference.onnx_export import export_onnx as export
    from fer_da.training.evaluate import load_model

    net = load_model(model.trained.model_config, model.trained.state)
    size = int(model.preprocessing["image_size"])
    onnx_model = export(net, size, model.tta)
    faces = fixed_batch(size)
    diff = parity(net, onnx_model, faces, model.tta)
    return onnx_model, pd.DataFrame([{"run_id": model.run_id, "opset": OPSET, "tta": model.tta,
                                      "image_size": size, "batch": len(faces),
                                      "max_abs_diff_logp": diff}])
