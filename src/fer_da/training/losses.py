"""The objective of eq. 4 with the scheduled clamping of eq. 6."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def clamped_domain_loss(domain_logp: torch.Tensor, domains: torch.Tensor,
                        limit: float | None) -> torch.Tensor:
    """Mean NLL over samples, each term capped at ``limit`` before averaging.

    The paper's text: values exceeding the limit are converted to the limit, per term (an
    upper bound, i.e. ``min``; eq. 6 prints ``max``). ``None`` disables clamping.
    """
    terms = F.nll_loss(domain_logp, domains, reduction="none")
    if limit is not None:
        terms = terms.clamp(max=limit)
    return terms.mean()


def dann_loss(class_logp: torch.Tensor, labels: torch.Tensor, domain_logp: torch.Tensor,
              domains: torch.Tensor, lam: float,
              limit: float | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """L = L_CLF(labelled samples only) + lambda * L_DMN(all samples). Returns (L, clf, dmn).

    Unlabelled samples carry label -1 and are ignored by L_CLF (no boolean indexing, so no
    host synchronisation on the GPU).
    """
    clf = F.nll_loss(class_logp, labels, ignore_index=-1)
    dmn = clamped_domain_loss(domain_logp, domains, limit)
    return clf + lam * dmn, clf, dmn
