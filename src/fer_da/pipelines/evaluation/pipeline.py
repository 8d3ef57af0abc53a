"""Evaluation pipeline: a template per setup namespace."""

from kedro.pipeline import Pipeline, node, pipeline

from fer_da.methods.registry import SETUPS as REGISTERED
from fer_da.pipelines import tags
from fer_da.pipelines.evaluation.nodes import evaluate_models, trace_selection

SETUPS = tuple(REGISTERED)  # every setup of the registry


def evaluation_template() -> Pipeline:
    return pipeline([
        node(evaluate_models, inputs=["models", "face_sets", "params:training",
                                      "params:evaluation", "params:labels"],
             outputs=["metrics", "predictions"], name="evaluate_models",
             tags=[tags.MODELS]),
        node(trace_selection, inputs=["models", "face_sets", "checkpoints",
                                      "params:training", "params:evaluation",
                                      "params:labels"],
             outputs="selection_trace", name="trace_selection"),
    ])


def namespaced(setup: str) -> Pipeline:
    return pipeline(evaluation_template(), namespace=setup, inputs={"face_sets"},
                    parameters={"params:training", "params:evaluation",
                                "params:labels"})


def create_pipeline(**kwargs) -> Pipeline:
    """Re-evaluate the saved models of every setup."""
    return sum((namespaced(s) for s in SETUPS), Pipeline([]))
