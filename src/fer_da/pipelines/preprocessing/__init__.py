"""Preprocessing: detect, crop, grey, resize and split every domain into versioned face sets."""

from fer_da.pipelines.preprocessing.pipeline import create_pipeline

__all__ = ["create_pipeline"]
