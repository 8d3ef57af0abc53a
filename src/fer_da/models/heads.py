"""Heads on the shared features: the MLP heads of the paper, the additive-margin softmax
classifier of ED²L (paper 001) and its dispelling branch. Kedro-free."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def mlp_head(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    """Linear -> LeakyReLU -> Linear; returns logits (log-softmax is applied by the caller)."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.LeakyReLU(0.01),
                         nn.Linear(hidden, out_dim))


def domain_mlp(in_dim: int, hidden: tuple[int, ...], out_dim: int,
               dropout: float = 0.0) -> nn.Sequential:
    """The domain classifier: (Linear -> LeakyReLU [-> Dropout]) per hidden width, then
    Linear. ``(hidden,)`` without dropout is the paper's head (``mlp_head``); ``(1024,
    1024)`` with dropout 0.5 is the reference implementations' (Ganin et al. 2016, TLlib)."""
    layers: list[nn.Module] = []
    width = in_dim
    for h in hidden:
        layers += [nn.Linear(width, h), nn.LeakyReLU(0.01)]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


class AMSoftmax(nn.Module):
    """Additive-margin softmax classifier (Wang et al. 2018; eq. 2 of paper 001).

    Returns ``scale * cos(theta_j)`` between the L2-normalised feature and each class
    weight: the logits at prediction time. The margin is subtracted from the true class by
    ``am_softmax_loss`` during training only.
    """

    def __init__(self, in_dim: int, n_classes: int, scale: float = 30.0):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_classes, in_dim))
        nn.init.xavier_uniform_(self.weight)
        self.scale = scale

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.scale * F.linear(F.normalize(f, dim=1), F.normalize(self.weight, dim=1))


def am_softmax_loss(scaled_cos: torch.Tensor, labels: torch.Tensor, scale: float,
                    margin: float) -> torch.Tensor:
    """-log y_t^i of eq. 2: cross-entropy of ``s (cos - m [j = y])``; label -1 ignored."""
    onehot = F.one_hot(labels.clamp(min=0), scaled_cos.shape[1]).to(scaled_cos.dtype)
    return F.cross_entropy(scaled_cos - scale * margin * onehot, labels, ignore_index=-1)


class DistillingHead(nn.Module):
    """ED²L-t: the branch B_t (f_t = B_t(S(x)), eq. 1) and the AM-softmax classifier."""

    def __init__(self, in_dim: int, hidden: int, n_classes: int, scale: float):
        super().__init__()
        self.branch = nn.Sequential(nn.Linear(in_dim, hidden), nn.LeakyReLU(0.01))
        self.classifier = AMSoftmax(hidden, n_classes, scale)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.branch(features))


class DispellingHead(nn.Module):
    """ED²L-p: the branch B_p (f_p = B_p(S(x)), eq. 4) and the expression dispeller."""

    def __init__(self, in_dim: int, hidden: int, n_classes: int):
        super().__init__()
        self.branch = nn.Sequential(nn.Linear(in_dim, hidden), nn.LeakyReLU(0.01))
        self.dispeller = nn.Linear(hidden, n_classes)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits of the dispeller on detached f_p: trains the dispeller only,
        logits of a frozen copy of the dispeller on f_p: trains B_p and the base)."""
        f_p = self.branch(features)
        trained = self.dispeller(f_p.detach())
        frozen = F.linear(f_p, self.dispeller.weight.detach(), self.dispeller.bias.detach())
        return trained, frozen
