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


def _conv_bn_prelu(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False),
                         nn.BatchNorm2d(c_out), nn.PReLU(c_out))


class ConvBranch(nn.Module):
    """An ED²L branch as in paper 001, Table 1: ``[3x3, C] S-2``, one residual unit
    ``[3x3, C; 3x3, C]``, ``FC-out``; each convolution followed by batch norm and PReLU
    (SphereFace-20's units). It reads a feature map of the shared base net; the map after
    the residual unit is average-pooled to ``pool x pool`` before the FC layer, so that
    any input size gives the same FC width (the paper: 112 px faces, a 7 x 7 map)."""

    def __init__(self, in_channels: int, channels: int, out_dim: int, pool: int = 2):
        super().__init__()
        self.down = _conv_bn_prelu(in_channels, channels, stride=2)
        self.residual = nn.Sequential(_conv_bn_prelu(channels, channels),
                                      _conv_bn_prelu(channels, channels))
        self.pool = nn.AdaptiveAvgPool2d((pool, pool))
        self.fc = nn.Linear(channels * pool * pool, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.down(x)
        x = x + self.residual(x)
        return self.fc(torch.flatten(self.pool(x), 1))


def fc_branch(in_dim: int, hidden: int) -> nn.Sequential:
    """A branch as one fully connected layer on the pooled features (``branch: fc``)."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.LeakyReLU(0.01))


class DistillingHead(nn.Module):
    """ED²L-t: the branch B_t (f_t = B_t(S(x)), eq. 1) and the AM-softmax classifier."""

    def __init__(self, branch: nn.Module, dim: int, n_classes: int, scale: float):
        super().__init__()
        self.branch = branch
        self.classifier = AMSoftmax(dim, n_classes, scale)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.branch(features))


class DispellingHead(nn.Module):
    """ED²L-p: the branch B_p (f_p = B_p(S(x)), eq. 4) and the expression dispeller."""

    def __init__(self, branch: nn.Module, dim: int, n_classes: int):
        super().__init__()
        self.branch = branch
        self.dispeller = nn.Linear(dim, n_classes)

    def forward(self, shared: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits of the dispeller on detached f_p: trains the dispeller only,
        logits of a frozen copy of the dispeller on f_p: trains B_p and the base)."""
        f_p = self.branch(shared)
        trained = self.dispeller(f_p.detach())
        frozen = F.linear(f_p, self.dispeller.weight.detach(), self.dispeller.bias.detach())
        return trained, frozen
