"""VGG backbones (the paper's): torchvision's layer configurations with and without batch
norm, and ``vgg11_slim(_bn)``, VGG-11's topology at 1/8 of the width, so that the embedded
synthetic default trains in minutes on two CPU cores (no ImageNet weights). Taps: the five
max-pool outputs and the first fully connected layer. ImageNet weights: torchvision's file
(``weights_file``) or the torch hub cache, never downloaded."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from torch import nn
from torchvision.models.vgg import cfgs, make_layers

from fer_da.models.backbones import register_backbone
from fer_da.models.weights import IMAGENET_MEAN, IMAGENET_STD, hub_cache


@dataclass(frozen=True)
class BackboneSpec:
    layers: tuple
    batch_norm: bool
    fc_dim: int
    torchvision_name: str | None


def _scaled(cfg: str, divisor: int) -> tuple:
    return tuple(v if v == "M" else max(4, v // divisor) for v in cfgs[cfg])


BACKBONES: dict[str, BackboneSpec] = {
    **{name: BackboneSpec(tuple(cfgs[c]), False, 4096, name)
       for name, c in (("vgg11", "A"), ("vgg13", "B"), ("vgg16", "D"), ("vgg19", "E"))},
    **{f"{name}_bn": BackboneSpec(tuple(cfgs[c]), True, 4096, f"{name}_bn")
       for name, c in (("vgg11", "A"), ("vgg13", "B"), ("vgg16", "D"), ("vgg19", "E"))},
    "vgg11_slim": BackboneSpec(_scaled("A", 8), False, 256, None),
    "vgg11_slim_bn": BackboneSpec(_scaled("A", 8), True, 256, None),
}


class VGGTaps(nn.Module):
    """VGG conv stages + the first FC layer; returns the 5 max-pool outputs and the FC output."""

    mean, std, input_size = IMAGENET_MEAN, IMAGENET_STD, None

    def __init__(self, spec: BackboneSpec):
        super().__init__()
        self.features = make_layers(list(spec.layers), batch_norm=spec.batch_norm)
        self.pool_indices = [i for i, m in enumerate(self.features) if isinstance(m, nn.MaxPool2d)]
        self.channels = [v for v in spec.layers if v != "M"]
        self.stage_channels = [
            [v for v in spec.layers[: j] if v != "M"][-1]
            for j, v in enumerate(spec.layers) if v == "M"
        ]
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.fc1 = nn.Linear(self.stage_channels[-1] * 49, spec.fc_dim)
        self.fc_dim = spec.fc_dim
        self.spec = spec

    def load_pretrained(self, weights_file: str | None) -> list[str]:
        """torchvision's ImageNet weights (``features.*``, ``classifier.0`` as ``fc1``)."""
        load_imagenet(self, imagenet_state_dict(self.spec, weights_file))
        return []

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        taps = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.pool_indices:
                taps.append(x)
        fc = torch.relu(self.fc1(torch.flatten(self.avgpool(x), 1)))
        return [*taps, fc]


def imagenet_state_dict(spec: BackboneSpec, weights_file: str | Path | None = None) -> dict:
    """torchvision's ImageNet weights of ``name``: a local file, else the torch hub cache.

    Nothing is downloaded here; a missing file is a clear error that says where to put it.
    """
    if spec.torchvision_name is None:
        raise ValueError("this slim VGG has no ImageNet weights; set pretrained: false")
    name = spec.torchvision_name
    path = Path(weights_file) if weights_file else hub_cache(name)
    if not path.is_file():
        raise FileNotFoundError(
            f"ImageNet weights for {name} not found at {path}. Copy torchvision's file there "
            f"(or set training.model.weights_file) on a machine without internet.")
    return torch.load(path, map_location="cpu", weights_only=True)


def load_imagenet(taps: nn.Module, state: dict) -> None:
    """Copy torchvision VGG weights (``features.*``, ``classifier.0``) into the taps module."""
    own = {k: v for k, v in state.items() if k.startswith("features.")}
    own["fc1.weight"], own["fc1.bias"] = state["classifier.0.weight"], state["classifier.0.bias"]
    taps.load_state_dict(own, strict=True)


for _name, _spec in BACKBONES.items():  # five max-pools: at least 32 px
    register_backbone(_name, min_input_size=2 ** _spec.layers.count("M"))(
        partial(VGGTaps, _spec))
