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


class ScaledReversal(torch.autograd.Function):
    """Identity forward; backward, row i of the gradient times ``-scale[i]``, where
    ``scale`` is read from ``box[0]`` at backward time: the loss computes it from the very
    outputs this layer fed (a per-sample clamp of the reversed gradient in one pass)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, box: list) -> torch.Tensor:
        ctx.box = box
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        scale = ctx.box[0].to(grad.dtype)
        return grad.neg() * scale.view(-1, *([1] * (grad.dim() - 1))), None


def scaled_reverse(x: torch.Tensor, box: list) -> torch.Tensor:
    """``x`` through a reversal whose per-sample scale the caller puts in ``box[0]`` (a
    tensor of shape (B,)) before ``backward``."""
    return ScaledReversal.apply(x, box)
