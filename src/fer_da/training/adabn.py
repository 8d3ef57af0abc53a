"""AdaBN (Li et al., "Revisiting batch normalization for practical domain adaptation",
2016): a trained network's batch-normalisation statistics re-estimated on an unlabelled
domain, so that each domain is normalised by its own statistics. No label is read and no
weight changes; only the running means and variances of the batch-norm layers do.

Pure library code: it knows nothing of Kedro, plans or the training loop.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def batchnorm_layers(model: nn.Module) -> list[_BatchNorm]:
    """The batch-norm layers of ``model`` that keep running statistics."""
    return [m for m in model.modules()
            if isinstance(m, _BatchNorm) and m.track_running_stats]


@torch.no_grad()
def adapt_batchnorm(model: nn.Module, images: np.ndarray, batch_size: int = 256,
                    seed: int = 0, device: str | torch.device = "cpu") -> nn.Module:
    """A copy of ``model`` whose batch-norm statistics are those of ``images``.

    One pass over the uint8 faces ``(N, S, S)`` in an order shuffled by ``seed`` (a
    folder-per-class layout stores classes in blocks; batches of one class would
    underestimate the variance), in ``N // batch_size`` batches of near-equal size (each of
    ``batch_size`` to ``2 * batch_size - 1`` faces; every face is used), with only the
    batch-norm layers in training mode (dropout stays off). Each layer's running mean and
    variance become the mean over batches of its batch mean and unbiased batch variance
    (PyTorch's cumulative average, ``momentum=None``); with one batch, the exact mean and
    unbiased variance of the layer's input over ``images``. The model
    passed in is left unchanged.
    """
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"AdaBN needs uint8 faces (N, S, S), got {images.dtype} "
                         f"{images.shape}")
    if len(images) < 2:
        raise ValueError(f"AdaBN needs at least 2 faces to estimate a variance, got "
                         f"{len(images)}")
    adapted = copy.deepcopy(model).to(device)
    layers = batchnorm_layers(adapted)
    if not layers:
        raise ValueError("AdaBN: the model has no batch-normalisation layer to adapt "
                         "(choose a backbone with batch norm, e.g. vgg11_slim_bn)")
    adapted.eval()
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative average over the batches of this pass
        layer.train()
    order = np.random.default_rng(seed).permutation(len(images))
    n_batches = max(1, len(images) // max(2, int(batch_size)))
    for rows in np.array_split(order, n_batches):  # each of batch_size to 2 * batch_size
        x = torch.from_numpy(np.ascontiguousarray(images[np.sort(rows)])).unsqueeze(1)
        adapted(x.to(device))
    return adapted.eval()
