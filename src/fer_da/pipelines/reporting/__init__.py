"""Reporting: Tables I-IV, t-SNE, loss curves, confusion matrices, A-distances, a report."""

from fer_da.pipelines.reporting.pipeline import create_pipeline

__all__ = ["create_pipeline"]
