"""FLOPs of one training image, counted on the meta device (no memory, no compute)."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from fer_da.models.fer_net import FERNet, ModelConfig


def training_flops_per_image(config: ModelConfig, image_size: int, batch: int = 2) -> float:
    """Forward + backward FLOPs per image (matmuls and convolutions, as MFU counts them)."""
    if image_size < 32 or batch < 1:
        raise ValueError(f"need image_size >= 32 and batch >= 1, got {image_size}, {batch}")
    with torch.device("meta"):
        model = FERNet(config)
        x = torch.zeros(batch, 1, image_size, image_size, dtype=torch.uint8)
        with FlopCounterMode(display=False) as counter:
            out = model(x)
            (out.class_logp.sum() + out.domain_logp.sum()).backward()
    return counter.get_total_flops() / batch
