"""Pretrained-weight backbones the FER field uses, as tap modules for :class:`FERNet`
(registered by this module).

- torchvision's ResNet-18/50 (``torchvision:resnet18``, ``torchvision:resnet50``): module
  names as torchvision's, so its ImageNet state dict loads as it is (``fc.*`` left out).
- IR-18/IR-50 (``ir18``, ``ir50``): the "improved residual" face-recognition ResNet of
  face.evoLVe / InsightFace that the cross-domain FER benchmark (Chen et al.) starts from,
  pretrained on MS-Celeb-1M at 112x112 (``backbone_ir50_ms1m_epoch120.pth``). Module names
  as in that file (``input_layer.*``, ``body.<unit>.*``; its ``output_layer.*``, the
  face-embedding head, is not used), so the published state dict loads as it is.

Each module returns five conv taps (the stem and the four stages) and a fully connected
layer on the global average of the last stage, like the VGG taps; ``stage_channels``,
``fc_dim``, ``mean``/``std`` (RGB in 0..1) and ``input_size`` (None: any) describe it.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import torch
from torch import nn

from fer_da.models.backbones import register_backbone
from fer_da.models.weights import (
    FACE_MEAN,
    FACE_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    existing,
    hub_cache,
    load_published,
    read_state_dict,
)


def _published(taps: nn.Module, path: Path) -> list[str]:
    return load_published(taps, read_state_dict(path), str(path))


class TorchvisionResNetTaps(nn.Module):
    """torchvision's ResNet-18 or -50 (its 7x7 stride-2 stem and max pool): taps after the
    stem (before the pool) and after each stage; a fully connected layer on the pooled last
    stage."""

    def __init__(self, depth: int, fc_dim: int = 512):
        super().__init__()
        from torchvision.models import resnet18, resnet50

        net = {18: resnet18, 50: resnet50}[depth](weights=None)
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = (net.layer1, net.layer2,
                                                              net.layer3, net.layer4)
        widths = [64, 256, 512, 1024, 2048] if depth == 50 else [64, 64, 128, 256, 512]
        self.stage_channels = widths
        self.fc1 = nn.Linear(widths[-1], fc_dim)
        self.fc_dim = fc_dim
        self.mean, self.std, self.input_size = IMAGENET_MEAN, IMAGENET_STD, None
        self.depth = depth

    def load_pretrained(self, weights_file: str | None) -> list[str]:
        """torchvision's ImageNet file (``weights_file``, else the torch hub cache)."""
        path = (Path(weights_file) if weights_file
                else hub_cache(f"resnet{self.depth}"))
        return _published(self, existing(path, f"torchvision:resnet{self.depth}"))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.relu(self.bn1(self.conv1(x)))
        taps = [x]
        x = self.maxpool(x)
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = stage(x)
            taps.append(x)
        return [*taps, torch.relu(self.fc1(x.mean(dim=(2, 3))))]


class BottleneckIR(nn.Module):
    """One IR unit: BN, 3x3 conv, PReLU, 3x3 conv (the stride), BN, plus the shortcut (a
    1x1 max pool of that stride when the width is kept, else a 1x1 conv and BN)."""

    def __init__(self, in_channel: int, depth: int, stride: int):
        super().__init__()
        self.shortcut_layer = (nn.MaxPool2d(1, stride) if in_channel == depth else
                               nn.Sequential(nn.Conv2d(in_channel, depth, 1, stride,
                                                       bias=False), nn.BatchNorm2d(depth)))
        self.res_layer = nn.Sequential(
            nn.BatchNorm2d(in_channel),
            nn.Conv2d(in_channel, depth, 3, 1, 1, bias=False), nn.PReLU(depth),
            nn.Conv2d(depth, depth, 3, stride, 1, bias=False), nn.BatchNorm2d(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)


IR_UNITS = {18: (2, 2, 2, 2), 50: (3, 4, 14, 3)}  # units per stage
IR_WIDTHS = (64, 128, 256, 512)


class IRTaps(nn.Module):
    """IR-18 / IR-50: a 3x3 stride-1 stem (conv, BN, PReLU) and four stages whose first unit
    halves the map (112 -> 56, 28, 14, 7). Taps: the stem and each stage's last unit."""

    def __init__(self, depth: int, fc_dim: int = 512):
        super().__init__()
        self.input_layer = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False),
                                         nn.BatchNorm2d(64), nn.PReLU(64))
        units, ends, inplanes = [], [], 64
        for n, width in zip(IR_UNITS[depth], IR_WIDTHS, strict=True):
            for k in range(n):
                units.append(BottleneckIR(inplanes, width, 2 if k == 0 else 1))
                inplanes = width
            ends.append(len(units) - 1)
        self.body = nn.Sequential(*units)
        self.stage_ends = tuple(ends)
        self.stage_channels = [64, *IR_WIDTHS]
        self.fc1 = nn.Linear(IR_WIDTHS[-1], fc_dim)
        self.fc_dim = fc_dim
        self.mean, self.std, self.input_size = FACE_MEAN, FACE_STD, 112

    def load_pretrained(self, weights_file: str | None) -> list[str]:
        """face.evoLVe's MS-Celeb-1M file: it has no cache, so ``weights_file`` names it."""
        if not weights_file:
            raise FileNotFoundError(
                "backbone ir18/ir50: set training.weights_file to the published state dict "
                "(for ir50: face.evoLVe's backbone_ir50_ms1m_epoch120.pth)")
        return _published(self, existing(Path(weights_file), "ir50"))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.input_layer(x)
        taps = [x]
        for i, unit in enumerate(self.body):
            x = unit(x)
            if i in self.stage_ends:
                taps.append(x)
        return [*taps, torch.relu(self.fc1(x.mean(dim=(2, 3))))]


# torchvision's: a 7x7 stride-2 stem and five halvings (32 px); the IR nets: 16 px
for _depth in (18, 50):
    register_backbone(f"torchvision:resnet{_depth}", min_input_size=32)(
        partial(TorchvisionResNetTaps, _depth))
    register_backbone(f"ir{_depth}", min_input_size=16)(partial(IRTaps, _depth))
