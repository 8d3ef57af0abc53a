"""Evaluation of a trained model on the splits of every domain."""

from __future__ import annotations

import math

import numpy as np
import torch

from fer_da.devices import resolve_device
from fer_da.models import FERNet, ModelConfig
from fer_da.training.options import TTA


def load_model(model_config: dict, state: dict[str, torch.Tensor]) -> torch.nn.Module:
    """The classifier a model's config describes (FERNet, or HA-GAN's G + D^e path)."""
    if model_config.get("kind") == "hagan":
        from fer_da.models.hagan import HaganClassifier, HaganConfig

        model = HaganClassifier(HaganConfig(**model_config))
        model.load_state_dict(state)
        return model.eval()
    model = FERNet(ModelConfig(**model_config))
    model.load_state_dict(state)
    return model.eval()



def flip_average(logp: torch.Tensor, flipped_logp: torch.Tensor) -> torch.Tensor:
    """log of the mean of two predicted distributions (test-time flip averaging)."""
    return torch.logaddexp(logp, flipped_logp) - math.log(2.0)


@torch.inference_mode()
def predict(model: FERNet, images: np.ndarray, device: str = "auto",
            batch_size: int = 256, tta: str = "none",
            freeze: str = "none") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class log-probabilities, domain log-probabilities and features for uint8 images.

    ``tta: flip``: the class distribution is the mean of the image's and its mirror's
    (expressions are left-right symmetric); domain log-probabilities and features are the
    image's own. ``freeze``: the model's ``training.freeze``; a model trained with frozen
    stages reads their cached rows (training/frozen.py) instead of computing them.
    """
    from fer_da.training.frozen import rows_for_evaluation

    if tta not in TTA:
        raise ValueError(f"evaluation.tta must be one of {TTA}, got {tta!r}")
    dev = resolve_device(device)
    model = model.to(dev).eval()
    rows = rows_for_evaluation(model, images, freeze, dev, batch_size)
    source = images if rows is None else rows
    cls, dom, feats = [], [], []
    try:
        for i in range(0, len(images), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(source[i: i + batch_size])).to(dev)
            x, mirror = (x.unsqueeze(1), None) if rows is None else (x[:, 0], x[:, 1])
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
                out = model(x)
                class_logp = out.class_logp.float()
                if tta == "flip":
                    flipped = model(x.flip(-1) if mirror is None else mirror)
                    class_logp = flip_average(class_logp, flipped.class_logp.float())
            cls.append(class_logp.cpu())
            dom.append(out.domain_logp.float().cpu())
            feats.append(out.features.float().cpu())
    finally:
        if rows is not None:
            model.cache_layout = None
    return torch.cat(cls).numpy(), torch.cat(dom).numpy(), torch.cat(feats).numpy()


@torch.inference_mode()
def translate(model: torch.nn.Module, images: np.ndarray, device: str = "auto") -> np.ndarray:
    """HA-GAN: the characters G draws for uint8 faces, as uint8 at the faces' size."""
    dev = resolve_device(device)
    model = model.to(dev).eval()
    x = torch.from_numpy(np.ascontiguousarray(images)).unsqueeze(1).to(dev)
    out = model.translate(x)
    out = torch.nn.functional.interpolate(out, size=images.shape[1:], mode="bilinear",
                                          align_corners=False)
    return ((out.squeeze(1) + 1.0) * 127.5).clamp(0, 255).round().byte().cpu().numpy()
