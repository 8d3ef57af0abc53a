"""Evaluation: every trained model on the validation split of every domain."""

from fer_da.pipelines.evaluation.pipeline import create_pipeline

__all__ = ["create_pipeline"]
