"""``cdan_e``: CDAN with entropy conditioning (Long et al. 2018). The domain classifier sees
the multilinear map f (x) p of features and predictions (``MethodSpec.conditioning``, built
by the model's domain head); each sample's domain loss is weighted by 1 + exp(-H(p)),
normalised to mean 1 within each domain."""

from __future__ import annotations

from typing import Any

import torch

from fer_da.methods.base import entropy
from fer_da.methods.domain_game import Adversarial
from fer_da.methods.options import MethodOptions


def cdan_entropy_weights(class_logp: torch.Tensor, domains: torch.Tensor,
                         n_domains: int) -> torch.Tensor:
    """1 + exp(-H(p)) per sample, normalised to mean 1 within each domain (detached; no
    host synchronisation)."""
    w = 1.0 + torch.exp(-entropy(class_logp.detach()))
    total = torch.zeros(n_domains, device=w.device).scatter_add_(0, domains, w)
    count = torch.zeros(n_domains, device=w.device).scatter_add_(0, domains, torch.ones_like(w))
    return w / (total / count.clamp(min=1.0))[domains]


def objective(method: str, cfg: Any, options: MethodOptions, **context: Any) -> Adversarial:
    return Adversarial(method, cfg, options, "reverse", cdan_entropy_weights)
