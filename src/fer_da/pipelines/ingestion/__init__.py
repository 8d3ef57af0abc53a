"""Ingestion: raw roots in their native layouts -> one manifest per domain + rejects."""

from fer_da.pipelines.ingestion.pipeline import create_pipeline

__all__ = ["create_pipeline"]
