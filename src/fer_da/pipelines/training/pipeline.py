"""One reusable training pipeline, instantiated per setup with a namespace."""

from kedro.pipeline import Pipeline, node, pipeline

from fer_da.methods.registry import SETUPS, setup_needs
from fer_da.pipelines import tags
from fer_da.pipelines.evaluation.pipeline import evaluation_template
from fer_da.pipelines.inference.pipeline import serve_node, serving_pipeline
from fer_da.pipelines.preprocessing import create_pipeline as preprocessing
from fer_da.pipelines.training.figures import character_figure, translation_figure
from fer_da.pipelines.training.nodes import (
    fit_autoencoders,
    render_animated_characters,
    select_training_data,
    train_models,
)
from fer_da.training.plans import plan_runs

SHARED_PARAMS = {"params:domains", "params:training", "params:labels", "params:evaluation",
                 "params:preprocessing", "params:inference", "params:job"}


def training_template(with_init: bool = False, with_autoencoder: bool = False,
                      with_characters: bool = False) -> Pipeline:
    train_inputs = {"training_data": "training_data", "plans": "plans",
                    "checkpoints": "checkpoints", "labels": "params:labels"}
    if with_init:
        train_inputs["init_models"] = "init_models"
    extra = []
    if with_autoencoder:  # sna: the latent space of its semantic neighbours
        train_inputs["autoencoders"] = "autoencoders"
        extra = [node(fit_autoencoders, inputs=["training_data", "plans"],
                      outputs="autoencoders", name="fit_autoencoders")]
    if with_characters:  # hagan: the animated characters it translates into
        train_inputs["characters"] = "characters"
        extra = [node(render_animated_characters, inputs=["plans", "params:labels",
                                                          "params:preprocessing",
                                                          "params:characters"],
                      outputs="characters", name="render_characters")]
    return pipeline([
        node(plan_runs, inputs=["params:setup", "params:domains", "params:training",
                                "params:preprocessing", "params:job"],
             outputs="plans", name="plan_runs"),
        node(select_training_data, inputs=["face_sets", "plans"], outputs="training_data",
             name="select_training_data"),
        *extra,
        node(train_models, inputs=train_inputs, outputs=["models", "history"],
             name="train_models"),
    ])


def setup_pipeline(setup: str, init_from: str | None = None,
                   with_autoencoder: bool = False, with_characters: bool = False) -> Pipeline:
    """Train + evaluate one setup under ``setup.*`` names (``init_from``: its start models)."""
    inputs = {"face_sets": "face_sets"}
    if init_from:
        inputs["init_models"] = f"{init_from}.models"
    extra = Pipeline([])
    if with_characters:  # the translation figure of the human faces into the character
        extra = pipeline([node(translation_figure, inputs=["models", "face_sets",
                                                           "params:labels",
                                                           "params:evaluation",
                                                           "params:reporting"],
                               outputs="translation_figure", name="translation_figure",
                               tags=[tags.TRANSLATION]),
                          node(character_figure, inputs=["characters", "params:labels"],
                               outputs="character_figure", name="character_figure")])
    return pipeline(training_template(bool(init_from), with_autoencoder, with_characters)
                    + evaluation_template() + serve_node() + extra, namespace=setup,
                    inputs=inputs,  # the translation figure names domains as the report does
                    parameters=SHARED_PARAMS | ({"params:reporting"} if with_characters
                                                else set()))


def plain_setup_pipelines() -> dict[str, Pipeline]:
    """``kedro run --pipelines=<setup>`` runs everything upstream of that setup too: one
    pipeline per setup of the registry (methods/registry.py)."""
    out: dict[str, Pipeline] = {}
    for spec in SETUPS.values():
        needs = setup_needs(spec.name)
        out[spec.name] = sum((out[a] for a in spec.after), preprocessing()) + setup_pipeline(
            spec.name, init_from=spec.init_from, with_autoencoder="autoencoder" in needs,
            with_characters="characters" in needs)
    return out


def setup_pipelines() -> dict[str, Pipeline]:
    """Each setup as a kedro-mlflow ``PipelineML``: a tracked run of it logs (and registers
    as ``fer_da.<setup>``) an MLflow model of the whole inference path of its serving
    model, detection and normalisation included (docs/inference.md)."""
    from kedro_mlflow.pipeline import pipeline_ml_factory

    from fer_da import __version__

    return {name: pipeline_ml_factory(
        training=p, inference=serving_pipeline(name), input_name="inference_paths",
        log_model_kwargs={"name": "model", "registered_model_name": f"fer_da.{name}",
                          "signature": None,  # inputs vary (paths); no example to infer from
                          "pip_requirements": [f"fer-da=={__version__}"]})
        for name, p in plain_setup_pipelines().items()}


def create_pipeline(**kwargs) -> Pipeline:
    return sum(plain_setup_pipelines().values(), Pipeline([]))
