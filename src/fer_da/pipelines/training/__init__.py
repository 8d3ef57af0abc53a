"""Training: the paper's four setups from one namespaced template."""

from fer_da.pipelines.training.pipeline import create_pipeline, setup_pipelines

__all__ = ["create_pipeline", "setup_pipelines"]
