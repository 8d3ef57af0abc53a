"""Data-parallel training of one run (PyTorch distributed, launched by ``torchrun``).

Every rank builds the same global batch (the epoch plan is a function of seed and epoch),
keeps its share of each domain's part (:func:`shard`), and the ranks compute exactly the
single-process step: batch-norm statistics over the global batch (:class:`GlobalBatchNorm`,
differentiable all-reduce: works with gloo on CPU, where ``nn.SyncBatchNorm`` does not run),
each rank's loss scaled by its share of the batch, gradients all-reduced
(:func:`all_reduce_gradients`). Rank 0 alone writes. No Kedro here; ``fer_da.launch`` opens
a Kedro session per rank.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def parallel(self) -> bool:
        return self.world > 1


def current() -> Ranks:
    """This process's rank and the world size (0 of 1 outside a process group)."""
    if dist.is_available() and dist.is_initialized():
        return Ranks(dist.get_rank(), dist.get_world_size())
    return Ranks()


def shard(indices: np.ndarray, ranks: Ranks) -> np.ndarray:
    """This rank's contiguous share of ``indices`` (shares differ by at most one)."""
    return np.array_split(indices, ranks.world)[ranks.rank] if ranks.parallel else indices


def barrier(ranks: Ranks) -> None:
    if ranks.parallel:
        dist.barrier()


def all_reduce_gradients(parameters: Sequence[nn.Parameter], ranks: Ranks) -> None:
    """Mean of every gradient over the ranks, in one flat all-reduce."""
    if not ranks.parallel:
        return
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= ranks.world
    offset = 0
    for g in grads:
        g.copy_(flat[offset: offset + g.numel()].view_as(g))
        offset += g.numel()


def all_reduce_sum(values: torch.Tensor, ranks: Ranks) -> torch.Tensor:
    if ranks.parallel:
        values = values.clone()
        dist.all_reduce(values)
    return values


class GlobalBatchNorm(nn.BatchNorm2d):
    """Batch norm whose training statistics are those of the global batch: per-channel sum,
    sum of squares and count are all-reduced (differentiably) across the ranks. Identical to
    ``nn.BatchNorm1d/2d`` in a single process and in evaluation."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ranks = current()
        if not (self.training and ranks.parallel):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        dims = [0, *range(2, x.dim())]
        count = torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype, device=x.device)
        stats = torch.cat([x.sum(dims), (x * x).sum(dims), count])
        stats = all_reduce(stats)
        c = x.shape[1]
        n = stats[-1]
        mean = stats[:c] / n
        var = stats[c: 2 * c] / n - mean * mean
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = self.momentum if self.momentum is not None else 1.0 / float(
                    self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach() * m)
                unbiased = var.detach() * n / (n - 1).clamp(min=1)
                self.running_var.mul_(1 - m).add_(unbiased * m)
        shape = [1, c] + [1] * (x.dim() - 2)
        out = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out

    def _check_input_dim(self, x: torch.Tensor) -> None:  # 2-D (N, C) and 4-D (N, C, H, W)
        if x.dim() not in (2, 3, 4, 5):
            raise ValueError(f"expected 2-D to 5-D input (got {x.dim()}-D input)")


def global_batch_norm(module: nn.Module) -> nn.Module:
    """``module`` with every BatchNorm1d/2d/3d replaced by :class:`GlobalBatchNorm` (same
    parameters and buffers, so state dicts load unchanged)."""
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and not isinstance(
                child, GlobalBatchNorm):
            new = GlobalBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                  child.track_running_stats)
            new.load_state_dict(child.state_dict())
            new.to(next(iter(child.buffers()), torch.zeros(())).device)
            setattr(module, name, new)
        else:
            global_batch_norm(child)
    return module
