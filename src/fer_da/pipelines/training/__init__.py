"""Training: the paper's four setups and the sibling papers' methods from one namespaced
template."""

from fer_da.pipelines.training.pipeline import (
    create_pipeline,
    plain_setup_pipelines,
    setup_pipelines,
)

__all__ = ["create_pipeline", "plain_setup_pipelines", "setup_pipelines"]
