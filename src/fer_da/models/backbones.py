"""Backbones by name: a registry in the manner of timm's ``register_model``.

Each family is one module ``fer_da/models/backbone_<family>.py`` that registers its names
when imported (``registered()`` imports every such module once): the VGGs of the paper
(``backbone_vgg.py``), small ResNets from scratch (``backbone_resnet.py``), torchvision's
ResNets and the face-recognition IR nets (``backbone_face_resnets.py``), any timm model as
``timm:<name>`` (``backbone_timm.py``), dlib's face ResNet (``backbone_dlib.py``). Adding a
backbone is adding such a module. Weights are read by ``models/weights.py``: state dicts
from a file or a local cache, never from the network, nothing unpickled.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch
from torch import nn


@runtime_checkable
class Taps(Protocol):
    """What a backbone declares (FERNet reads nothing else): ``forward`` returns its conv
    taps and, last, one fully connected feature."""

    stage_channels: list[int]  # channels of each conv tap
    fc_dim: int  # width of the fully connected feature
    mean: tuple[float, float, float]  # RGB normalisation, in 0..1
    std: tuple[float, float, float]
    input_size: int | None  # the input it needs (None: any, above its minimum)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]: ...

    def load_pretrained(self, weights_file: str | None) -> list[str]:
        """Its published weights (from ``weights_file`` or a local cache); returns the
        file's keys left out (its own head)."""
        ...


@dataclass(frozen=True)
class Registered:
    """A registered backbone: its builder and the smallest input it takes."""

    build: Callable[[], nn.Module]
    min_input_size: int


REGISTRY: dict[str, Registered] = {}
FAMILIES: dict[str, tuple[Callable[[str], nn.Module], int]] = {}  # prefix -> (build, min)


def register_backbone(name: str, min_input_size: int) -> Callable:
    """Decorator of a module's builder: ``@register_backbone("dlib_resnet29", 103)``."""
    def wrap(build: Callable[[], nn.Module]) -> Callable[[], nn.Module]:
        REGISTRY[name] = Registered(build, min_input_size)
        return build
    return wrap


def register_family(prefix: str, min_input_size: int) -> Callable:
    """Decorator of a builder of any ``<prefix><name>`` (``timm:`` and a timm model name)."""
    def wrap(build: Callable[[str], nn.Module]) -> Callable[[str], nn.Module]:
        FAMILIES[prefix] = (build, min_input_size)
        return build
    return wrap


def registered() -> dict[str, Registered]:
    """Every registered backbone: each ``fer_da.models.backbone_*`` module, imported once
    here (adding a backbone is adding such a module)."""
    package = __name__.rpartition(".")[0]
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if info.name.startswith("backbone_"):
            importlib.import_module(f"{package}.{info.name}")
    return REGISTRY


def backbone_names() -> list[str]:
    """Every registered name (``<prefix><name>`` stands for a family's models)."""
    names = sorted(registered())
    return names + [f"{prefix}<name>" for prefix in sorted(FAMILIES)]


def _family(name: str) -> str | None:
    registered()
    return next((p for p in FAMILIES if name.startswith(p) and len(name) > len(p)), None)


def _unknown(name: str) -> ValueError:
    return ValueError(f"unknown backbone {name!r}; choose one of {backbone_names()}")


def min_input_size(name: str) -> int:
    """The smallest square input a backbone takes (a VGG halves it at each of its five
    max-pools: 32 px; the small ResNets pool adaptively: 8 px)."""
    if name in registered():
        return REGISTRY[name].min_input_size
    prefix = _family(name)
    if prefix is not None:
        return FAMILIES[prefix][1]
    raise _unknown(name)


def build_taps(name: str) -> nn.Module:
    """The tap module of a registered backbone."""
    if name in registered():
        return REGISTRY[name].build()
    prefix = _family(name)
    if prefix is not None:
        return FAMILIES[prefix][0](name[len(prefix):])
    raise _unknown(name)
