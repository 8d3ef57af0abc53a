"""The domain game of the adversarial methods (dann, cdan_e, confusion): the objective of
eq. 4 with the scheduled clamping of eq. 6 (docs/training.md, "The clamp"), the terms that
show whether the game is alive, and the ``Adversarial`` objective each method module builds.

Two clamp modes:

- ``paper``: each per-sample domain NLL is capped at the limit before averaging, as the
  paper's text says. Above the limit ``clamp`` passes no gradient, neither to the domain
  classifier nor, reversed, to the features: a classifier that is confidently wrong on a
  sample can never learn from it again (the collapse seen in every run of this mode).
- ``fixed`` (default): the domain classifier always learns from its full, unclamped loss;
  the clamp bounds only what reaches the features: sample i's reversed gradient is scaled
  by ``min(1, limit / l_i)``, so its contribution is that of a loss whose value is
  ``min(l_i, limit)`` (the direction is kept). One forward pass of the classifier
  (``models.grl.scaled_reverse``).

Two feature objectives against that classifier (``adversary``):

- ``reverse`` (DANN, Ganin & Lempitsky 2015): the features maximise the classifier's NLL
  through the gradient reversal layer.
- ``confusion`` (Tzeng et al. 2015): the features minimise the cross-entropy between the
  classifier's prediction and the uniform distribution, ``-(1/K) sum_k log p_k``, whose
  minimum ln K is reached at a uniform prediction: it cannot be "won" by making the
  classifier confidently wrong. Its clamp bounds the excess ``c_i - ln K``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from fer_da.methods.base import Objective, Terms, classification_loss
from fer_da.methods.options import MethodOptions
from fer_da.models.grl import grad_reverse, scaled_reverse

CLAMP_MODES = ("fixed", "paper")
ADVERSARIES = ("reverse", "confusion")


class AdversarialLoss(NamedTuple):
    loss: torch.Tensor  # what lambda multiplies in eq. 4 (classifier + feature terms)
    classifier_loss: torch.Tensor  # the domain classifier's mean unclamped NLL (dmn_loss)
    feature_loss: torch.Tensor  # the mean per-sample term that reaches the features
    domain_logp: torch.Tensor  # (B, K) the classifier's log-probabilities (detached)
    clamped: torch.Tensor  # (B,) float: 1 where the sample's term exceeded the limit


def frozen(module: nn.Module):
    """``module`` as a function of its input only: its parameters enter detached, so a loss
    through it trains what feeds it and never the module (buffers as they are)."""
    params = {k: v.detach() for k, v in module.named_parameters()}

    def call(x: torch.Tensor) -> torch.Tensor:
        return functional_call(module, params, (x,))
    return call


def uniform_cross_entropy(logp: torch.Tensor) -> torch.Tensor:
    """-(1/K) sum_k log p_k per sample (B,): the domain-confusion term, >= ln K."""
    return -logp.mean(dim=1)


def adversarial_loss(head: nn.Module, domain_in: torch.Tensor, domains: torch.Tensor,
                     limit: float | None, clamp_mode: str = "fixed",
                     adversary: str = "reverse",
                     weights: torch.Tensor | None = None) -> AdversarialLoss:
    """The domain game for one aggregated batch: ``head`` is the domain classifier,
    ``domain_in`` what it reads (the features, or CDAN's multilinear map) before any
    gradient reversal, ``weights`` optional per-sample weights (CDAN+E's entropy weights).
    """
    if clamp_mode not in CLAMP_MODES:
        raise ValueError(f"clamp_mode must be one of {CLAMP_MODES}, got {clamp_mode!r}")
    if adversary not in ADVERSARIES:
        raise ValueError(f"adversary must be one of {ADVERSARIES}, got {adversary!r}")
    w = weights if weights is not None else torch.ones_like(domains, dtype=domain_in.dtype)
    if clamp_mode == "paper":
        if adversary != "reverse":
            raise ValueError("clamp_mode paper is the paper's DANN: adversary must be reverse")
        logp = F.log_softmax(head(grad_reverse(domain_in)).float(), dim=1)
        terms = F.nll_loss(logp, domains, reduction="none")
        capped = terms.clamp(max=limit) if limit is not None else terms
        loss = (w * capped).mean()
        clamped = ((terms.detach() > limit).float() if limit is not None
                   else torch.zeros_like(terms))
        return AdversarialLoss(loss, (w * terms).mean().detach(), loss.detach(),
                               logp.detach(), clamped)
    if adversary == "reverse":
        # fixed, one pass: the classifier learns from every sample's full NLL; the
        # features receive -min(1, limit / l_i) of sample i's gradient (set before backward)
        box: list = []
        logp = F.log_softmax(head(scaled_reverse(domain_in, box)).float(), dim=1)
        terms = F.nll_loss(logp, domains, reduction="none")
        scale, clamped = _feature_scale(terms.detach(), limit)
        box.append(scale)
        loss = (w * terms).mean()
        return AdversarialLoss(loss, loss.detach(), (w * scale * terms).mean().detach(),
                               logp.detach(), clamped)
    # confusion, two passes: the classifier on detached inputs learns the domains; the
    # features, through a frozen copy of it, push its prediction towards uniform. The clamp
    # bounds the excess over the optimum, c_i - ln K (c_i >= ln K always)
    logp = F.log_softmax(head(domain_in.detach()).float(), dim=1)
    classifier = (w * F.nll_loss(logp, domains, reduction="none")).mean()
    feature_terms = uniform_cross_entropy(F.log_softmax(frozen(head)(domain_in).float(), dim=1))
    excess = (feature_terms.detach() - math.log(logp.shape[1])).clamp(min=0.0)
    scale, clamped = _feature_scale(excess, limit)
    features = (w * scale * feature_terms).mean()
    return AdversarialLoss(classifier + features, classifier.detach(), features.detach(),
                           logp.detach(), clamped)


def _feature_scale(terms: torch.Tensor, limit: float | None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sample, min(1, limit / term) and whether the term exceeded the limit."""
    if limit is None:
        return torch.ones_like(terms), torch.zeros_like(terms)
    return (limit / terms.clamp(min=1e-12)).clamp(max=1.0), (terms > limit).float()


@torch.no_grad()
def diagnostic_logp(head: nn.Module, domain_in: torch.Tensor,
                    logp: torch.Tensor) -> torch.Tensor:
    """The domain classifier's log-probabilities as it would predict (dropout off), for the
    diagnostics: ``logp`` itself when the head has no active dropout, else a no-grad pass
    in eval mode."""
    if not any(isinstance(m, nn.Dropout) and m.training and m.p > 0 for m in head.modules()):
        return logp.detach()
    head.eval()
    try:
        return F.log_softmax(head(domain_in.detach()).float(), dim=1)
    finally:
        head.train()


def domain_terms(domain_logp: torch.Tensor, domains: torch.Tensor, clamped: torch.Tensor
                 ) -> Terms:
    """What shows whether the domain game is alive, per batch (averaged per epoch by the
    loop, then read by training/diagnostics.py): accuracy, the share of clamped samples,
    and per domain the correct and predicted shares (vectors of length K)."""
    k = domain_logp.shape[1]
    pred = domain_logp.argmax(1)
    correct = (pred == domains).float()
    truth = F.one_hot(domains, k).float()
    return {"dmn_acc": correct.mean(), "clamped_frac": clamped.float().mean(),
            "dmn_correct": (truth * correct[:, None]).mean(0), "dmn_count": truth.mean(0),
            "dmn_pred": F.one_hot(pred, k).float().mean(0)}


Weights = Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]


class Adversarial(Objective):
    """L_CLF + w * lambda * L_adv (eq. 4): the domain game of ``adversarial_loss`` with the
    batch's clamp and clamp mode, against ``adversary`` (reverse or confusion), each
    sample's domain loss weighted by ``weights(class_logp, domains, K)`` when given."""

    def __init__(self, method: str, cfg: Any, options: MethodOptions, adversary: str,
                 weights: Weights | None = None):
        super().__init__(method, cfg, options)
        self.adversary, self.weights = adversary, weights

    def step(self, model, out, batch):
        logp = out.class_logp.float()
        clf = classification_loss(logp, batch.labels, self.cfg.label_smoothing)
        k = model.config.n_domains
        weights = self.weights(logp, batch.domains, k) if self.weights else None
        game = adversarial_loss(model.domain_head, out.domain_in, batch.domains, batch.limit,
                                batch.clamp_mode, self.adversary, weights)
        weight = batch.lam * self.cfg.adversarial_weight
        seen = diagnostic_logp(model.domain_head, out.domain_in, game.domain_logp)
        return clf + weight * game.loss, {
            "clf_loss": clf, "dmn_loss": game.classifier_loss, "adv_loss": game.feature_loss,
            **domain_terms(seen, batch.domains, game.clamped)}
