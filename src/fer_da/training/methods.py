"""Adaptation objectives beside the paper's DANN: pure loss functions of log-probabilities
and features, tested against hand-computed values. They know nothing of Kedro or the loop.

- ``dann`` (the paper): L_CLF + lambda * L_DMN through gradient reversal (``losses.py``).
- ``cdan_e``: CDAN with entropy conditioning (Long et al. 2018): the domain classifier sees
  the multilinear map f (x) p of features and predictions; each sample's domain loss is
  weighted by 1 + exp(-H(p)).
- ``confusion``: DANN's classifier, the features trained towards its uniform prediction
  (domain confusion, Tzeng et al. 2015; ``losses.adversarial_loss``).
- ``erm_mixed``: the control: L_CLF alone on exactly the aggregated batches an adaptation
  run sees (batch norm over source and target faces, no adaptation term).
- ``mcc``: minimum class confusion (Jin et al. 2020) on the unlabelled samples.
- ``entropy``: entropy minimisation on the unlabelled samples.
- ``im``: information maximisation: entropy minus the entropy of the mean prediction.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fer_da.training.losses import AdversarialLoss, adversarial_loss
from fer_da.training.names import ADVERSARIAL, METHODS  # noqa: F401 - re-exported


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


def entropy_loss(logp: torch.Tensor) -> torch.Tensor:
    return entropy(logp).mean()


def im_loss(logp: torch.Tensor) -> torch.Tensor:
    """Information maximisation: mean entropy (confident) minus entropy of the mean
    prediction (diverse). Minimised."""
    mean = logp.exp().mean(dim=0)
    diversity = -(mean * torch.log(mean.clamp(min=1e-12))).sum()
    return entropy_loss(logp) - diversity


def mcc_loss(logits: torch.Tensor, temperature: float = 2.5) -> torch.Tensor:
    """Minimum class confusion of a batch of (unlabelled) logits."""
    b, k = logits.shape
    p = F.softmax(logits / temperature, dim=1)
    w = 1.0 + torch.exp(-entropy(torch.log(p.clamp(min=1e-12))))
    w = (b * w / w.sum()).detach()
    confusion = (p * w[:, None]).t() @ p  # (k, k)
    confusion = confusion / confusion.sum(dim=1, keepdim=True)
    return (confusion.sum() - torch.trace(confusion)) / k


def cdan_entropy_weights(class_logp: torch.Tensor, domains: torch.Tensor,
                         n_domains: int) -> torch.Tensor:
    """1 + exp(-H(p)) per sample, normalised to mean 1 within each domain (detached; no
    host synchronisation)."""
    w = 1.0 + torch.exp(-entropy(class_logp.detach()))
    total = torch.zeros(n_domains, device=w.device).scatter_add_(0, domains, w)
    count = torch.zeros(n_domains, device=w.device).scatter_add_(0, domains, torch.ones_like(w))
    return w / (total / count.clamp(min=1.0))[domains]


def adversarial_method_loss(method: str, head: torch.nn.Module, domain_in: torch.Tensor,
                            class_logp: torch.Tensor, domains: torch.Tensor, n_domains: int,
                            limit: float | None, clamp_mode: str = "fixed") -> AdversarialLoss:
    """The domain game of an adversarial method (dann, cdan_e, confusion) for one batch."""
    if method not in ADVERSARIAL:
        raise ValueError(f"{method!r} has no domain classifier; choose one of "
                         f"{sorted(ADVERSARIAL)}")
    weights = (cdan_entropy_weights(class_logp, domains, n_domains)
               if method == "cdan_e" else None)
    return adversarial_loss(head, domain_in, domains, limit, clamp_mode,
                            "confusion" if method == "confusion" else "reverse", weights)


def adaptation_loss(method: str, class_logp: torch.Tensor, labels: torch.Tensor,
                    mcc_temperature: float = 2.5) -> torch.Tensor:
    """The adaptation term of a non-adversarial ``method`` (mcc, entropy, im) for one
    aggregated batch (labels -1 = unlabelled): it acts on the unlabelled samples'
    predictions; the domain head is left untrained."""
    unlabelled = class_logp[labels < 0]
    if method == "mcc":
        return mcc_loss(unlabelled, mcc_temperature)
    if method == "entropy":
        return entropy_loss(unlabelled)
    if method == "im":
        return im_loss(unlabelled)
    raise ValueError(f"unknown adaptation method {method!r}; choose one of {METHODS}")
