"""ONNX export of a trained classifier, and its parity with PyTorch.

The exported graph takes uint8 faces ``(batch, 1, S, S)`` (the crops inference makes) and
returns class log-probabilities ``(batch, n_classes)``; with ``tta: flip`` the mirror's
distribution is averaged inside the graph, as :func:`fer_da.training.evaluate.predict` does.
Face detection stays in Python: MTCNN's image pyramid and per-scale NMS are Python loops
over data-dependent shapes, so it does not export as one graph (docs/inference.md).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

OPSET = 18


class ClassLogProbs(nn.Module):
    """A classifier reduced to uint8 faces -> class log-probabilities."""

    def __init__(self, model: nn.Module, tta: str = "none"):
        super().__init__()
        self.model = model.eval()
        self.flip = tta == "flip"

    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        logp = self.model(faces).class_logp.float()
        if self.flip:
            flipped = self.model(faces.flip(-1)).class_logp.float()
            logp = torch.logaddexp(logp, flipped) - math.log(2.0)
        return logp


def export_onnx(model: nn.Module, image_size: int, tta: str = "none") -> bytes:
    """The ONNX model (bytes) of ``model`` with a dynamic batch dimension (CPU export)."""
    wrapper = ClassLogProbs(model.cpu(), tta).eval()
    example = torch.zeros((2, 1, image_size, image_size), dtype=torch.uint8)
    batch = torch.export.Dim("batch", min=1, max=65536)
    program = torch.onnx.export(wrapper, (example,), dynamo=True, opset_version=OPSET,
                                input_names=["faces"], output_names=["log_probs"],
                                dynamic_shapes={"faces": {0: batch}}, verbose=False)
    return program.model_proto.SerializeToString()


def onnx_session(onnx_model: bytes, threads: int = 0):
    """An onnxruntime CPU session (``threads`` 0: onnxruntime's default)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(onnx_model, options, providers=["CPUExecutionProvider"])


def onnx_log_probs(session, faces: np.ndarray) -> np.ndarray:
    """Log-probabilities of uint8 faces ``(N, S, S)`` by an onnxruntime session."""
    x = np.ascontiguousarray(faces[:, None], dtype=np.uint8)
    return session.run(["log_probs"], {"faces": x})[0]


@torch.inference_mode()
def parity(model: nn.Module, onnx_model: bytes, faces: np.ndarray, tta: str = "none") -> float:
    """Largest absolute difference of the log-probabilities, PyTorch vs onnxruntime."""
    reference = ClassLogProbs(model.cpu(), tta)(torch.from_numpy(faces[:, None])).numpy()
    return float(np.abs(onnx_log_probs(onnx_session(onnx_model), faces) - reference).max())


def fixed_batch(image_size: int, n: int = 32, seed: int = 0) -> np.ndarray:
    """A seeded batch of uint8 faces for parity checks."""
    return np.random.default_rng(seed).integers(0, 256, (n, image_size, image_size),
                                                dtype=np.uint8)
