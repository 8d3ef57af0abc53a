"""``mcc``: minimum class confusion (Jin et al. 2020) on the unlabelled samples."""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
import torch.nn.functional as F

from fer_da.methods.base import Objective, UnlabelledTerm, entropy
from fer_da.methods.options import MethodOptions


def mcc_loss(logits: torch.Tensor, temperature: float = 2.5) -> torch.Tensor:
    """Minimum class confusion of a batch of (unlabelled) logits."""
    b, k = logits.shape
    p = F.softmax(logits / temperature, dim=1)
    w = 1.0 + torch.exp(-entropy(torch.log(p.clamp(min=1e-12))))
    w = (b * w / w.sum()).detach()
    confusion = (p * w[:, None]).t() @ p  # (k, k)
    confusion = confusion / confusion.sum(dim=1, keepdim=True)
    return (confusion.sum() - torch.trace(confusion)) / k


def objective(method: str, cfg: Any, options: MethodOptions, **context: Any) -> Objective:
    # the log-probabilities stand for the logits (softmax is shift-invariant per row)
    return UnlabelledTerm(method, cfg, options, partial(mcc_loss,
                                                        temperature=cfg.mcc_temperature))
