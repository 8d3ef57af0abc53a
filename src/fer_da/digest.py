"""Content digests of saved models: the weights, and what gives the outputs their meaning.

A model file records ``digest`` at save; loading recomputes it and refuses a file whose
weights or class names changed since (a flipped bit, an edited metadata field). Pure code.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported by the caller; commands that do not train need none
    import torch


def model_digest(state: Mapping[str, torch.Tensor], meaning: Mapping[str, Any]) -> str:
    """sha256 over every tensor (name, dtype, shape, bytes, in name order) and the canonical
    JSON of ``meaning`` (class names and order, model config, preprocessing, ...)."""
    import torch

    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    h.update(json.dumps(dict(meaning), sort_keys=True, default=str).encode())
    return h.hexdigest()


def check_classes(run_id: str, trained: list[str] | None, configured: list[str]) -> list[str]:
    """The model's own class names, in its own order. A configuration that lists other
    names, or the same in another order, is an error naming both lists (never a
    relabelling); a model saved before it recorded its classes takes the configured ones."""
    configured = list(configured)
    if trained is None:
        return configured
    if list(trained) != configured:
        raise ValueError(f"{run_id} predicts the classes {list(trained)} (in this order) but "
                         f"labels.classes is {configured}: a model's outputs mean its own "
                         "classes; set labels.classes back to the model's or retrain")
    return list(trained)
