"""ONNX export of the classifier: parity with PyTorch on a fixed batch, any batch size."""

from __future__ import annotations

import numpy as np
import pytest

from fer_da.inference.onnx_export import (
    export_onnx,
    fixed_batch,
    onnx_log_probs,
    onnx_session,
    parity,
)
from fer_da.pipelines.inference.nodes import export_onnx as export_node
from fer_da.training.evaluate import predict
from tests.test_inference import _serving, _trained


def _model():
    from fer_da.models import FERNet, ModelConfig

    trained = _trained()
    model = FERNet(ModelConfig(**trained.model_config))
    model.load_state_dict(trained.state)
    return model.eval()


@pytest.mark.parametrize("tta", ["none", "flip"])
def test_onnx_classifier_matches_pytorch(tta):
    model = _model()
    onnx_model = export_onnx(model, 48, tta)
    faces = fixed_batch(48, n=16)
    assert parity(model, onnx_model, faces, tta) < 1e-4
    session = onnx_session(onnx_model)
    for n in (1, 5):  # the batch dimension is dynamic
        out = onnx_log_probs(session, faces[:n])
        assert out.shape == (n, 7)
        assert np.allclose(np.exp(out).sum(1), 1.0, atol=1e-5)
    expected, _, _ = predict(model, faces, "cpu", tta=tta)  # the evaluation's code path
    assert np.abs(onnx_log_probs(session, faces) - expected).max() < 1e-4


def test_export_node_writes_the_model_and_its_parity():
    serving = _serving(_trained(), tta="flip")
    serving.preprocessing["image_size"] = 32
    onnx_model, table = export_node(serving)
    row = table.iloc[0]
    assert row["run_id"] == "baseline/src/seed0" and row["tta"] == "flip"
    assert row["image_size"] == 32 and row["batch"] == 32
    assert 0 <= row["max_abs_diff_logp"] < 1e-4
    import onnx

    proto = onnx.load_from_string(onnx_model)
    assert [i.name for i in proto.graph.input] == ["faces"]
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert [o.name for o in proto.graph.output] == ["log_probs"]
