"""What one training step minimises, per method: the loop calls ``objective.step`` and knows
nothing of the method. A new method is a head (models/heads.py) and an ``Objective`` here.

- ``erm``: source-only (baseline, joint, finetune): L_CLF.
- ``dann`` | ``cdan_e`` | ``confusion`` | ``mcc`` | ``entropy`` | ``im``: L_CLF + lambda *
  L_adapt (training/methods.py, training/losses.py), DANN-mode runs.
- ``erm_mixed``: L_CLF alone on the DANN-mode batches (the control of every adaptation run).
- ``jm`` (paper 003, eq. 4): L_expr + alpha * L_ID: the features learn identity too.
- ``atf`` (paper 003, eq. 5): the identity head minimises L_ID while the features minimise
  L_expr - alpha * L_ID, through the gradient reversal layer.
- ``ed2l`` (paper 001, eq. 6): lambda_t * l_t (additive-margin softmax) +
  lambda_p * (l_a + l_p): the dispeller learns the expression from detached dispelling
  features (l_a), the dispelling branch and the base make its prediction uniform (l_p).
- ``sna`` (paper 002): class-balanced batches, focal loss, and samples whose prediction
  diverges from their semantic neighbour's by more than the batch mean masked (eq. 11-14).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F

from fer_da.models.fer_net import ModelConfig
from fer_da.models.grl import grad_reverse
from fer_da.models.heads import am_softmax_loss
from fer_da.training.losses import diagnostic_logp
from fer_da.training.methods import (
    ADVERSARIAL,
    METHODS,
    adaptation_loss,
    adversarial_method_loss,
    classification_loss,
)
from fer_da.training.names import SOURCE_ONLY  # noqa: F401 - re-exported
from fer_da.training.options import MethodOptions


@dataclass
class Step:
    """One aggregated batch as the objective sees it (labels/subjects -1 = unknown)."""

    x: torch.Tensor  # (B, 1, H, W) float 0..255, augmented
    labels: torch.Tensor
    domains: torch.Tensor
    subjects: torch.Tensor | None = None
    lam: float = 0.0  # the factor function's value (eq. 5)
    limit: float | None = None  # the domain-loss clamp (eq. 6)
    clamp_mode: str = "fixed"  # fixed | paper (training/losses.py)
    # the faces behind ``x`` when ``x`` holds cached rows of frozen stages (sna only)
    faces: torch.Tensor | None = None


# ---------------------------------------------------------------- pure losses (tested by hand)
def focal_loss(logp: torch.Tensor, labels: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Per-sample focal loss -(1 - p_t)^gamma log p_t (Lin et al. 2017); (B,)."""
    logp_t = logp.gather(1, labels.clamp(min=0)[:, None]).squeeze(1)
    return -((1.0 - logp_t.exp()) ** gamma) * logp_t * (labels >= 0)


def uniform_target_loss(logits: torch.Tensor) -> torch.Tensor:
    """l_p of eq. 5 (paper 001): -(1/N) sum_j log y_p^j, minimal when y_p is uniform."""
    return -F.log_softmax(logits, dim=1).mean(dim=1).mean()


def symmetric_kl(logp: torch.Tensor, logq: torch.Tensor) -> torch.Tensor:
    """Div of eq. 13 (paper 002): (KL(P||Q) + KL(Q||P)) / 2 per sample; (B,)."""
    p, q = logp.exp(), logq.exp()
    return 0.5 * ((p * (logp - logq)).sum(1) + (q * (logq - logp)).sum(1))


def neighbour_mask(divergence: torch.Tensor) -> torch.Tensor:
    """Eq. 14 + the mask of Algorithm 1: 1 where Div < the batch mean, else 0 (float)."""
    return (divergence < divergence.mean()).float()


@contextmanager
def batchnorm_untouched(model: torch.nn.Module) -> Iterator[None]:
    """Run a forward pass that uses batch statistics (training mode) without letting it move
    any batch-norm running mean, variance or counter: they are restored on exit."""
    # eval-mode layers do not move their statistics (and keep them for backward): only the
    # training-mode ones are saved and restored (no host synchronisation)
    saved = [(b, b.detach().clone()) for m in model.modules()
             if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.training
             for b in m.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():  # through .data: the main pass's backward holds these
            for buffer, value in saved:  # buffers, and a version bump would break it
                buffer.data.copy_(value)


# ---------------------------------------------------------------- objectives
Terms = dict[str, torch.Tensor]


class Objective:
    """L for one step: ``step(model, out, batch) -> (loss, logged terms)``. Logged terms
    are detached scalars averaged over the epoch by the loop (no host synchronisation)."""

    balanced_classes = False  # the loop draws class-balanced batches when True
    needs_subjects = False

    def __init__(self, method: str, cfg: Any, options: MethodOptions):
        self.method, self.cfg, self.options = method, cfg, options

    def step(self, model: torch.nn.Module, out: Any, batch: Step) -> tuple[torch.Tensor, Terms]:
        clf = classification_loss(out.class_logp.float(), batch.labels, self.cfg.label_smoothing)
        return clf, {"clf_loss": clf}


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


class Adaptation(Objective):
    """L_CLF + lambda * L_adapt (eq. 4 for DANN). Adversarial methods play the domain game
    of training/losses.py (clamp mode and adversary); the others act on the unlabelled
    samples' predictions (training/methods.py)."""

    def step(self, model, out, batch):
        logp = out.class_logp.float()
        clf = classification_loss(logp, batch.labels, self.cfg.label_smoothing)
        if self.method in ADVERSARIAL:
            game = adversarial_method_loss(
                self.method, model.domain_head, out.domain_in, logp, batch.domains,
                model.config.n_domains, batch.limit, batch.clamp_mode)
            weight = batch.lam * self.cfg.adversarial_weight
            seen = diagnostic_logp(model.domain_head, out.domain_in, game.domain_logp)
            return clf + weight * game.loss, {
                "clf_loss": clf, "dmn_loss": game.classifier_loss,
                "adv_loss": game.feature_loss,
                **domain_terms(seen, batch.domains, game.clamped)}
        adapt = adaptation_loss(self.method, logp, batch.labels, self.cfg.mcc_temperature)
        return clf + batch.lam * self.cfg.adapt_weight * adapt, {"clf_loss": clf,
                                                                 "adapt_loss": adapt}


class Identity(Objective):
    """JM (eq. 4) and ATF (eq. 5) of paper 003: an identity head on the shared features."""

    needs_subjects = True

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


class Ed2l(Objective):
    """ED²L (paper 001, eq. 6): L = lambda_t l_t + lambda_p (l_a + l_p)."""

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


class Sna(Objective):
    """Semantic neighbourhood-aware training (paper 002): focal loss of the samples whose
    prediction is stable under a latent perturbation (Div below the batch mean)."""

    balanced_classes = True

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


def model_config_for(method: str, config: ModelConfig, options: MethodOptions,
                     identities: int = 0) -> ModelConfig:
    """The heads a method adds to the paper's model (saved with it, so evaluation rebuilds
    the same network): ED²L's margin classifier and dispelling branch, JM/ATF's identity
    head."""
    if method == "ed2l":
        return replace(config, label_head="am_softmax", dispelling=True, am_scale=options.scale,
                       branch=options.branch)
    if method in ("jm", "atf"):
        return replace(config, identities=identities)
    return config


def build_objective(method: str, cfg: Any, options: MethodOptions,
                    neighbours: Callable[[torch.Tensor], torch.Tensor] | None = None
                    ) -> Objective:
    if method in ("erm", "erm_mixed"):  # erm_mixed: the loop draws the dann batches
        return Objective(method, cfg, options)
    if method in METHODS:
        return Adaptation(method, cfg, options)
    if method in ("jm", "atf"):
        return Identity(method, cfg, options)
    if method == "ed2l":
        return Ed2l(method, cfg, options)
    if method == "hagan":
        raise ValueError("hagan alternates two optimisers: it trains in training/hagan.py")
    if method == "sna":
        if neighbours is None:
            raise ValueError("sna needs its autoencoder (the fit_autoencoders node)")
        return Sna(method, cfg, options, neighbours)
    raise ValueError(f"unknown method {method!r}; choose erm, one of {METHODS} or "
                     f"{SOURCE_ONLY}")
