"""``ed2l`` (paper 001, eq. 6): L = lambda_t l_t + lambda_p (l_a + l_p). l_t: the
additive-margin softmax of the distilling branch; the dispeller learns the expression from
detached dispelling features (l_a), the dispelling branch and the base make its prediction
uniform (l_p)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
import torch.nn.functional as F

from fer_da.methods.base import Objective
from fer_da.methods.options import MethodOptions
from fer_da.models.fer_net import ModelConfig
from fer_da.models.heads import am_softmax_loss


def uniform_target_loss(logits: torch.Tensor) -> torch.Tensor:
    """l_p of eq. 5 (paper 001): -(1/N) sum_j log y_p^j, minimal when y_p is uniform."""
    return -F.log_softmax(logits, dim=1).mean(dim=1).mean()


class Ed2l(Objective):
    def step(self, model, out, batch):
        o = self.options
        l_t = am_softmax_loss(out.class_logits.float(), batch.labels, o.scale, o.margin)
        trained, frozen = model.dispelling_head(out.shared)
        l_a = F.cross_entropy(trained.float(), batch.labels, ignore_index=-1)
        l_p = uniform_target_loss(frozen.float())
        known = (batch.labels >= 0).float()
        dispel_acc = ((trained.argmax(1) == batch.labels).float() * known).sum() / known.sum(
        ).clamp(min=1.0)
        loss = o.lambda_t * l_t + o.lambda_p * (l_a + l_p)
        return loss, {"clf_loss": l_t, "dispel_ce": l_a, "uniform_loss": l_p,
                      "dispel_acc": dispel_acc}


def objective(method: str, cfg: Any, options: MethodOptions, **context: Any) -> Objective:
    return Ed2l(method, cfg, options)


def model_config(config: ModelConfig, options: MethodOptions, identities: int) -> ModelConfig:
    """ED²L's margin classifier and dispelling branch."""
    return replace(config, label_head="am_softmax", dispelling=True, am_scale=options.scale,
                   branch=options.branch)
