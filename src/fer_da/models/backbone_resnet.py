"""A ResNet-18-style network for small faces (48-64 px), from scratch: ``resnet18`` and
``resnet18_slim`` (no ImageNet weights: a 48 px stem is not torchvision's)."""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from fer_da.models.backbones import register_backbone
from fer_da.models.weights import IMAGENET_MEAN, IMAGENET_STD


class ResNetTaps(nn.Module):
    """A ResNet-18-style network for small faces (48-64 px): a 3x3 stride-1 stem (no max
    pool, as for CIFAR-sized inputs), four stages of two basic blocks at widths w, 2w, 4w, 8w.
    Taps: the stem and each stage's output (5, like VGG's pool stages) and a fully connected
    layer on the global average of the last stage."""

    mean, std, input_size = IMAGENET_MEAN, IMAGENET_STD, None

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

    def load_pretrained(self, weights_file: str | None) -> list[str]:
        raise ValueError("resnet18 / resnet18_slim: this backbone has no ImageNet (or other "
                         "published) weights: it is trained from scratch (a 48 px stem is not "
                         "torchvision's); set pretrained: false or use torchvision:resnet18")

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        taps = [x]
        for stage in self.stages:
            x = stage(x)
            taps.append(x)
        return [*taps, torch.relu(self.fc1(x.mean(dim=(2, 3))))]



# name -> (width, fc_dim); they pool adaptively: 8 px, the preprocessing minimum
for _name, (_width, _fc) in {"resnet18": (64, 512), "resnet18_slim": (16, 256)}.items():
    register_backbone(_name, min_input_size=8)(partial(ResNetTaps, _width, _fc))
