"""Inference pipeline, and the one-node pipeline each setup's MLflow model runs."""

from kedro.pipeline import Pipeline, node, pipeline

from fer_da.pipelines import tags
from fer_da.pipelines.inference.nodes import (
    choose_model,
    export_onnx,
    predict_media,
    predict_table,
    prediction_sheet,
    serve_best,
)

CHOICE_INPUTS = ["face_sets", "params:inference", "params:evaluation", "params:labels",
                 "params:preprocessing", "params:domains"]


def serve_node() -> Pipeline:
    """In each setup's namespace: ``models`` -> ``serving_model`` (its best run)."""
    return pipeline([node(serve_best, inputs=["models", *CHOICE_INPUTS],
                          outputs="serving_model", name="serve_best",
                          tags=[tags.SERVING])])


def serving_pipeline(setup: str) -> Pipeline:
    """What the setup's MLflow model runs: a table of paths -> predictions."""
    return pipeline([node(predict_table, inputs=["inference_paths", "serving_model",
                                                 "params:inference"],
                          outputs="served_predictions", name="predict_table")],
                    namespace=setup, inputs={"inference_paths"},
                    parameters={"params:inference"})


def create_pipeline(**kwargs) -> Pipeline:
    """``kedro run --pipelines=inference --params inference.input=<folder|list|video>``.

    Namespace ``inference``: its datasets are ``inference.models`` (the setup's saved
    runs), ``inference.predictions``, ``inference.rejects`` and ``inference.sheet``.
    """
    return pipeline([
        node(choose_model, inputs=["models", *CHOICE_INPUTS], outputs="model",
             name="choose_model"),
        node(predict_media, inputs=["inference_input", "model", "params:inference"],
             outputs=["predictions", "crops", "rejects"], name="predict_media"),
        node(prediction_sheet, inputs=["predictions", "crops", "params:inference"],
             outputs="sheet", name="prediction_sheet"),
    ], namespace="inference", inputs={"inference_input", "face_sets"},
        parameters=set(p for p in CHOICE_INPUTS if p.startswith("params:")))


def export_pipeline(**kwargs) -> Pipeline:
    """``kedro run --pipelines=export --params inference.setup=<setup>``: the setup's serving
    model as ONNX (``export.onnx``) and its parity with PyTorch (``export.parity``)."""
    return pipeline([node(export_onnx, inputs="serving_model", outputs=["onnx", "parity"],
                          name="export_onnx")], namespace="export")
