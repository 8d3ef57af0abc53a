"""Gradient reversal (Ganin & Lempitsky 2015; eq. 2 of the paper)."""

from __future__ import annotations

import torch


class GradientReversal(torch.autograd.Function):
    """Identity forward; the gradient is multiplied by ``-coeff`` backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, coeff: float = 1.0) -> torch.Tensor:
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad.neg() * ctx.coeff, None


def grad_reverse(x: torch.Tensor, coeff: float = 1.0) -> torch.Tensor:
    return GradientReversal.apply(x, coeff)
