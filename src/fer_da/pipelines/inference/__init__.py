"""Inference: a trained model on new images, lists of files and videos."""

from fer_da.pipelines.inference.pipeline import (
    create_pipeline,
    export_pipeline,
    serving_pipeline,
)

__all__ = ["create_pipeline", "export_pipeline", "serving_pipeline"]
