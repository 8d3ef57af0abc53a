"""``bnm``: batch nuclear-norm maximisation (Cui et al., "Towards Discriminability and
Diversity: Batch Nuclear-norm Maximization under Label Insufficient Situations", CVPR
2020) on the unlabelled samples. The nuclear norm of the batch's prediction matrix A (B x K,
softmax rows) grows with both the predictions' confidence (discriminability) and their rank
(diversity: more classes predicted); L_bnm = -||A||_* / B is minimised."""

from __future__ import annotations

from typing import Any

import torch

from fer_da.methods.base import Objective, UnlabelledTerm
from fer_da.methods.options import MethodOptions


def bnm_loss(logp: torch.Tensor) -> torch.Tensor:
    """-||softmax||_* / B of a batch of (unlabelled) log-probabilities; 0 for no sample."""
    if not len(logp):
        return logp.sum() * 0.0
    return -torch.linalg.matrix_norm(logp.exp(), ord="nuc") / logp.shape[0]


def objective(method: str, cfg: Any, options: MethodOptions, **context: Any) -> Objective:
    return UnlabelledTerm(method, cfg, options, bnm_loss)
