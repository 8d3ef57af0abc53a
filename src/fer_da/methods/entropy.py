"""``entropy``: entropy minimisation on the unlabelled samples. ``im``: information
maximisation, the mean entropy (confident) minus the entropy of the mean prediction
(diverse), minimised."""

from __future__ import annotations

from typing import Any

import torch

from fer_da.methods.base import Objective, UnlabelledTerm, entropy
from fer_da.methods.options import MethodOptions


def entropy_loss(logp: torch.Tensor) -> torch.Tensor:
    return entropy(logp).mean()


def im_loss(logp: torch.Tensor) -> torch.Tensor:
    """Information maximisation: mean entropy minus entropy of the mean prediction."""
    mean = logp.exp().mean(dim=0)
    diversity = -(mean * torch.log(mean.clamp(min=1e-12))).sum()
    return entropy_loss(logp) - diversity


def objective(method: str, cfg: Any, options: MethodOptions, **context: Any) -> Objective:
    return UnlabelledTerm(method, cfg, options, im_loss if method == "im" else entropy_loss)
