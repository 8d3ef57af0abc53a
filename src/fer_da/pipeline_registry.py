"""Project pipelines."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from fer_da.pipelines import (
    evaluation,
    inference,
    ingestion,
    preprocessing,
    reporting,
    training,
)


def register_pipelines() -> dict[str, Pipeline]:
    """One pipeline per stage and one per experiment setup; ``__default__`` runs them all.

    Listed explicitly: the setups (baseline, joint, finetune, dann, ...) are namespaced
    instances of the training folder, which Kedro's folder-based discovery cannot see.
    """
    pipelines = {
        "ingestion": ingestion.create_pipeline(),
        "preprocessing": preprocessing.create_pipeline(),
        "training": training.create_pipeline(),
        "evaluation": evaluation.create_pipeline(),
        "reporting": reporting.create_pipeline(),
        "inference": inference.create_pipeline(),
        "export": inference.export_pipeline(),
        **training.setup_pipelines(),
    }
    pipelines["__default__"] = pipelines["training"] + pipelines["reporting"]
    return pipelines
