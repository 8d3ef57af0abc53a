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
    # a grid's jobs gathered (docs/scaling.md): every adaptation run against source-only
    pipelines["gather"] = pipelines["reporting"].only_nodes("compare_with_source_only")
    # source-only and the adaptation methods, then the report: an unsupervised-DA protocol
    # (conf/cdfer) has no labelled target for joint or finetune
    plain = training.plain_setup_pipelines()  # summed, PipelineML objects lose their model
    pipelines["adaptation"] = plain["baseline"] + plain["dann"] + pipelines["reporting"]
    pipelines["__default__"] = pipelines["training"] + pipelines["reporting"]
    return pipelines
