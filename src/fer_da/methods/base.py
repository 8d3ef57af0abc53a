"""What every objective shares: the batch it sees (``Step``), the ``Objective`` interface
the loop calls, the classification loss and the entropy helpers. Pure torch, no Kedro.

An objective is ``step(model, out, batch) -> (loss, logged terms)``; logged terms are
detached scalars (or per-domain vectors) averaged over the epoch by the loop, with no host
synchronisation per step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from fer_da.methods.options import MethodOptions

Terms = dict[str, torch.Tensor]


@dataclass
class Step:
    """One aggregated batch as the objective sees it (labels/subjects -1 = unknown)."""

    x: torch.Tensor  # (B, 1, H, W) float 0..255, augmented
    labels: torch.Tensor
    domains: torch.Tensor
    subjects: torch.Tensor | None = None
    lam: float = 0.0  # the factor function's value (eq. 5)
    limit: float | None = None  # the domain-loss clamp (eq. 6)
    clamp_mode: str = "fixed"  # fixed | paper (methods/domain_game.py)
    # the faces behind ``x`` when ``x`` holds cached rows of frozen stages (sna only)
    faces: torch.Tensor | None = None


def classification_loss(class_logp: torch.Tensor, labels: torch.Tensor,
                        smoothing: float = 0.0) -> torch.Tensor:
    """NLL over labelled samples (label -1 ignored), with optional label smoothing."""
    nll = F.nll_loss(class_logp, labels, ignore_index=-1)
    if not smoothing:
        return nll
    mask = (labels >= 0).float()
    uniform = -(class_logp.mean(dim=1) * mask).sum() / mask.sum().clamp(min=1.0)
    return (1.0 - smoothing) * nll + smoothing * uniform


def entropy(logp: torch.Tensor) -> torch.Tensor:
    """Per-sample entropy of log-probabilities (B,)."""
    return -(logp.exp() * logp).sum(dim=1)


class Objective:
    """L_CLF alone (``erm``, and the ``erm_mixed`` control on the adaptation batches)."""

    def __init__(self, method: str, cfg: Any, options: MethodOptions):
        self.method, self.cfg, self.options = method, cfg, options

    def step(self, model: torch.nn.Module, out: Any, batch: Step) -> tuple[torch.Tensor, Terms]:
        clf = classification_loss(out.class_logp.float(), batch.labels, self.cfg.label_smoothing)
        return clf, {"clf_loss": clf}


class UnlabelledTerm(Objective):
    """L_CLF + lambda * w * L_adapt, where L_adapt is a function of the unlabelled samples'
    predictions (mcc, entropy, im, bnm): the domain head is left untrained."""

    def __init__(self, method: str, cfg: Any, options: MethodOptions,
                 term: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__(method, cfg, options)
        self.term = term

    def step(self, model, out, batch):
        logp = out.class_logp.float()
        clf = classification_loss(logp, batch.labels, self.cfg.label_smoothing)
        adapt = self.term(logp[batch.labels < 0])
        return clf + batch.lam * self.cfg.adapt_weight * adapt, {"clf_loss": clf,
                                                                 "adapt_loss": adapt}


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
