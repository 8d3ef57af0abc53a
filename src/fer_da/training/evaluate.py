"""Evaluation of a trained model on the splits of every domain."""

from __future__ import annotations

import numpy as np
import torch

from fer_da.devices import resolve_device
from fer_da.models import FERNet, ModelConfig


def load_model(model_config: dict, state: dict[str, torch.Tensor]) -> FERNet:
    model = FERNet(ModelConfig(**model_config))
    model.load_state_dict(state)
    return model.eval()


@torch.inference_mode()
def predict(model: FERNet, images: np.ndarray, device: str = "auto",
            batch_size: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class log-probabilities, domain log-probabilities and features for uint8 images."""
    dev = resolve_device(device)
    model = model.to(dev).eval()
    cls, dom, feats = [], [], []
    for i in range(0, len(images), batch_size):
        x = torch.from_numpy(images[i: i + batch_size]).unsqueeze(1).to(dev)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            out = model(x)
        cls.append(out.class_logp.float().cpu())
        dom.append(out.domain_logp.float().cpu())
        feats.append(out.features.float().cpu())
    return torch.cat(cls).numpy(), torch.cat(dom).numpy(), torch.cat(feats).numpy()
