"""VGG backbones by name (a small registry in the manner of timm's).

Each entry gives torchvision's layer configuration, whether it has batch norm, the width of
the first fully connected layer, and the torchvision weights enum when ImageNet weights
exist. ``vgg11_slim`` keeps VGG-11's topology at 1/8 of the width so that the embedded
synthetic default trains in minutes on two CPU cores; it has no ImageNet weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torchvision.models import get_model_weights
from torchvision.models.vgg import cfgs, make_layers


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

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        taps = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.pool_indices:
                taps.append(x)
        fc = torch.relu(self.fc1(torch.flatten(self.avgpool(x), 1)))
        return [*taps, fc]


class ResNetTaps(nn.Module):
    """A ResNet-18-style network for small faces (48-64 px): a 3x3 stride-1 stem (no max
    pool, as for CIFAR-sized inputs), four stages of two basic blocks at widths w, 2w, 4w, 8w.
    Taps: the stem and each stage's output (5, like VGG's pool stages) and a fully connected
    layer on the global average of the last stage."""

    def __init__(self, width: int, fc_dim: int):
        super().__init__()
        from torchvision.models.resnet import BasicBlock, conv1x1

        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        stages, inplanes = [], width
        for i, planes in enumerate((width, 2 * width, 4 * width, 8 * width)):
            stride = 1 if i == 0 else 2
            down = (nn.Sequential(conv1x1(inplanes, planes, stride), nn.BatchNorm2d(planes))
                    if stride != 1 or inplanes != planes else None)
            stages.append(nn.Sequential(BasicBlock(inplanes, planes, stride, down),
                                        BasicBlock(planes, planes)))
            inplanes = planes
        self.stages = nn.ModuleList(stages)
        self.stage_channels = [width, width, 2 * width, 4 * width, 8 * width]
        self.fc1 = nn.Linear(8 * width, fc_dim)
        self.fc_dim = fc_dim

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        taps = [x]
        for stage in self.stages:
            x = stage(x)
            taps.append(x)
        return [*taps, torch.relu(self.fc1(x.mean(dim=(2, 3))))]


# name -> (width, fc_dim): no ImageNet weights (a 48 px stem is not torchvision's)
RESNETS: dict[str, tuple[int, int]] = {"resnet18": (64, 512), "resnet18_slim": (16, 256)}


def min_input_size(name: str) -> int:
    """The smallest square input a backbone takes: a VGG halves it at each of its five
    max-pools (32 px); the ResNets pool adaptively (8 px, the preprocessing minimum)."""
    if name in BACKBONES:
        return 2 ** BACKBONES[name].layers.count("M")
    if name in RESNETS:
        return 8
    raise ValueError(f"unknown backbone {name!r}; choose one of "
                     f"{sorted([*BACKBONES, *RESNETS])}")


def build_taps(name: str) -> nn.Module:
    """The tap module of a registered backbone (VGG or ResNet family)."""
    if name in BACKBONES:
        return VGGTaps(BACKBONES[name])
    if name in RESNETS:
        return ResNetTaps(*RESNETS[name])
    raise ValueError(f"unknown backbone {name!r}; choose one of "
                     f"{sorted([*BACKBONES, *RESNETS])}")


def imagenet_state_dict(name: str, weights_file: str | Path | None = None) -> dict:
    """torchvision's ImageNet weights of ``name``: a local file, else the torch hub cache.

    Nothing is downloaded here; a missing file is a clear error that says where to put it.
    """
    spec = BACKBONES.get(name)
    if spec is None or spec.torchvision_name is None:
        raise ValueError(f"backbone {name!r} has no ImageNet weights; set pretrained: false")
    if weights_file:
        path = Path(weights_file)
    else:
        url = get_model_weights(spec.torchvision_name).DEFAULT.url
        path = Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name
    if not path.is_file():
        raise FileNotFoundError(
            f"ImageNet weights for {name} not found at {path}. Copy torchvision's file there "
            f"(or set training.model.weights_file) on a machine without internet.")
    return torch.load(path, map_location="cpu", weights_only=True)


def load_imagenet(taps: VGGTaps, state: dict) -> None:
    """Copy torchvision VGG weights (``features.*``, ``classifier.0``) into the taps module."""
    own = {k: v for k, v in state.items() if k.startswith("features.")}
    own["fc1.weight"], own["fc1.bias"] = state["classifier.0.weight"], state["classifier.0.bias"]
    taps.load_state_dict(own, strict=True)
