"""``sna`` (paper 002): class-balanced batches, focal loss, and samples whose prediction
diverges from their semantic neighbour's (made by an autoencoder, ``models/autoencoder.py``)
by more than the batch mean masked (eq. 11-14)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from fer_da.methods.base import Objective, batchnorm_untouched
from fer_da.methods.options import MethodOptions


def focal_loss(logp: torch.Tensor, labels: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Per-sample focal loss -(1 - p_t)^gamma log p_t (Lin et al. 2017); (B,)."""
    logp_t = logp.gather(1, labels.clamp(min=0)[:, None]).squeeze(1)
    return -((1.0 - logp_t.exp()) ** gamma) * logp_t * (labels >= 0)


def symmetric_kl(logp: torch.Tensor, logq: torch.Tensor) -> torch.Tensor:
    """Div of eq. 13 (paper 002): (KL(P||Q) + KL(Q||P)) / 2 per sample; (B,)."""
    p, q = logp.exp(), logq.exp()
    return 0.5 * ((p * (logp - logq)).sum(1) + (q * (logq - logp)).sum(1))


def neighbour_mask(divergence: torch.Tensor) -> torch.Tensor:
    """Eq. 14 + the mask of Algorithm 1: 1 where Div < the batch mean, else 0 (float)."""
    return (divergence < divergence.mean()).float()


class Sna(Objective):
    """Focal loss of the samples whose prediction is stable under a latent perturbation."""

    def __init__(self, method, cfg, options, neighbours: Callable[[torch.Tensor],
                                                                  torch.Tensor]):
        super().__init__(method, cfg, options)
        self.neighbours = neighbours

    def step(self, model, out, batch):
        logp = out.class_logp.float()
        # no_grad does not stop batch norm from updating its running statistics in training
        # mode: the neighbours' pass must leave them as the real faces made them
        with torch.no_grad(), batchnorm_untouched(model):
            neighbours = self.neighbours(batch.x if batch.faces is None else batch.faces)
            if getattr(model, "cache_layout", None) is not None:  # frozen stages: their rows
                neighbours = model.frozen_rows(neighbours, model.cache_layout[0])
            neighbour_logp = model(neighbours).class_logp.float()
            mask = neighbour_mask(symmetric_kl(logp.detach(), neighbour_logp))
        per_sample = focal_loss(logp, batch.labels, self.options.gamma)
        loss = (mask * per_sample).sum() / max(1, batch.x.shape[0])
        return loss, {"clf_loss": per_sample.mean(), "masked": 1.0 - mask.mean()}


def objective(method: str, cfg: Any, options: MethodOptions,
              neighbours: Callable[[torch.Tensor], torch.Tensor] | None = None,
              **context: Any) -> Objective:
    if neighbours is None:
        raise ValueError("sna needs its autoencoder (the fit_autoencoders node)")
    return Sna(method, cfg, options, neighbours)
