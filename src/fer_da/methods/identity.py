"""Paper 003: an identity head on the shared features. ``jm`` (eq. 4): L_expr + alpha *
L_ID, the features learn identity too. ``atf`` (eq. 5): the identity head minimises L_ID
while the features minimise L_expr - alpha * L_ID, through the gradient reversal layer."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch.nn.functional as F

from fer_da.methods.base import Objective, classification_loss
from fer_da.methods.options import MethodOptions
from fer_da.models.fer_net import ModelConfig
from fer_da.models.grl import grad_reverse


class Identity(Objective):
    def step(self, model, out, batch):
        logp = out.class_logp.float()
        clf = classification_loss(logp, batch.labels, self.cfg.label_smoothing)
        alpha = self.options.alpha
        if self.method == "jm":  # features and head both minimise alpha * L_ID
            id_logits = model.identity_head(out.features).float()
            id_loss = F.cross_entropy(id_logits, batch.subjects, ignore_index=-1)
            loss = clf + alpha * id_loss
        else:  # atf: the head minimises L_ID; the features receive -alpha * dL_ID
            id_logits = model.identity_head(grad_reverse(out.features, alpha)).float()
            id_loss = F.cross_entropy(id_logits, batch.subjects, ignore_index=-1)
            loss = clf + id_loss
        known = (batch.subjects >= 0).float()
        id_acc = ((id_logits.argmax(1) == batch.subjects).float() * known).sum() / known.sum(
        ).clamp(min=1.0)
        return loss, {"clf_loss": clf, "id_loss": id_loss, "id_acc": id_acc}


def objective(method: str, cfg: Any, options: MethodOptions, **context: Any) -> Objective:
    return Identity(method, cfg, options)


def model_config(config: ModelConfig, options: MethodOptions, identities: int) -> ModelConfig:
    """The identity head, one output per (domain, subject) of the labelled domains."""
    return replace(config, identities=identities)
