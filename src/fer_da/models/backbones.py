"""Backbones by name (a small registry in the manner of timm's).

- VGG: torchvision's layer configuration, whether it has batch norm, the width of the first
  fully connected layer, and the torchvision weights enum when ImageNet weights exist.
  ``vgg11_slim`` keeps VGG-11's topology at 1/8 of the width so that the embedded synthetic
  default trains in minutes on two CPU cores; it has no ImageNet weights.
- ``resnet18``, ``resnet18_slim``: a ResNet-18-style net for small faces, from scratch.
- ``torchvision:resnet18``, ``torchvision:resnet50``: torchvision's (ImageNet weights).
- ``ir18``, ``ir50``: the face-recognition IR ResNets (MS-Celeb-1M weights, 112 px;
  models/face_resnets.py).
- ``timm:<name>``: any timm model (models/timm_taps.py).

Every tap module returns its conv taps and one fully connected feature and says its
``stage_channels``, ``fc_dim``, ``mean``/``std`` and ``input_size``. Pretrained weights come
from a file (``weights_file``) or a local cache, never from the network, and load as state
dicts (safetensors, or ``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torchvision.models import get_model_weights
from torchvision.models.vgg import cfgs, make_layers

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # RGB in 0..1
IMAGENET_STD = (0.229, 0.224, 0.225)


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

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        taps = [x]
        for stage in self.stages:
            x = stage(x)
            taps.append(x)
        return [*taps, torch.relu(self.fc1(x.mean(dim=(2, 3))))]


# name -> (width, fc_dim): no ImageNet weights (a 48 px stem is not torchvision's)
RESNETS: dict[str, tuple[int, int]] = {"resnet18": (64, 512), "resnet18_slim": (16, 256)}
TORCHVISION = {"torchvision:resnet18": 18, "torchvision:resnet50": 50}
FACE_RESNETS = {"ir18": 18, "ir50": 50}
TIMM = "timm:"


@dataclass(frozen=True)
class Registered:
    """A backbone that registers itself from its own module (``models/backbone_*.py``): its
    builder and the smallest input it takes. Its tap module declares ``stage_channels``,
    ``fc_dim``, ``mean``/``std``, ``input_size`` and ``load_pretrained(weights_file)``."""

    build: Callable[[], nn.Module]
    min_input_size: int


REGISTRY: dict[str, Registered] = {}


def register_backbone(name: str, min_input_size: int) -> Callable:
    """Decorator of a module's builder: ``@register_backbone("dlib_resnet29", 32)``."""
    def wrap(build: Callable[[], nn.Module]) -> Callable[[], nn.Module]:
        REGISTRY[name] = Registered(build, min_input_size)
        return build
    return wrap


def registered() -> dict[str, Registered]:
    """Every self-registering backbone: each ``fer_da.models.backbone_*`` module, imported
    once here (adding a backbone is adding such a module)."""
    import fer_da.models as package

    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("backbone_"):
            importlib.import_module(f"{package.__name__}.{info.name}")
    return REGISTRY


def backbone_names() -> list[str]:
    """Every registered name (``timm:<name>`` stands for any timm model)."""
    return sorted([*BACKBONES, *RESNETS, *TORCHVISION, *FACE_RESNETS, *registered()]) + [
        f"{TIMM}<name>"]


def _unknown(name: str) -> ValueError:
    return ValueError(f"unknown backbone {name!r}; choose one of {backbone_names()}")


def min_input_size(name: str) -> int:
    """The smallest square input a backbone takes: a VGG halves it at each of its five
    max-pools (32 px); the ResNets pool adaptively (8 px, the preprocessing minimum; 16 px
    for the ones with a stride-2 stem or five halvings)."""
    if name in BACKBONES:
        return 2 ** BACKBONES[name].layers.count("M")
    if name in RESNETS:
        return 8
    if name in FACE_RESNETS:
        return 16
    if name in TORCHVISION or name.startswith(TIMM):
        return 32
    if name in registered():
        return REGISTRY[name].min_input_size
    raise _unknown(name)


def build_taps(name: str) -> nn.Module:
    """The tap module of a registered backbone."""
    if name in BACKBONES:
        return VGGTaps(BACKBONES[name])
    if name in RESNETS:
        return ResNetTaps(*RESNETS[name])
    if name in TORCHVISION:
        from fer_da.models.face_resnets import TorchvisionResNetTaps

        return TorchvisionResNetTaps(TORCHVISION[name])
    if name in FACE_RESNETS:
        from fer_da.models.face_resnets import IRTaps

        return IRTaps(FACE_RESNETS[name])
    if name.startswith(TIMM) and len(name) > len(TIMM):
        from fer_da.models.timm_taps import TimmTaps

        return TimmTaps(name[len(TIMM):])
    if name in registered():
        return REGISTRY[name].build()
    raise _unknown(name)


TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")  # torch.save files


def _safetensors_problem(path: Path) -> str | None:
    """What is wrong with a safetensors file's header (None: it reads and every tensor it
    declares lies within the file); reads the header only."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        n = int.from_bytes(head, "little") if len(head) == 8 else -1
        if n <= 0 or n > size - 8:
            return f"its header length ({n}) does not fit the file's {size} bytes"
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return f"its header is no JSON ({exc})"
    if not isinstance(header, dict):
        return "its header is no JSON object"
    ends = [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"
            and isinstance(v, dict) and len(v.get("data_offsets") or ()) == 2]
    if max(ends, default=0) > size - 8 - n:
        return (f"it is cut short: its tensors need {max(ends)} bytes of data, the file "
                f"holds {size - 8 - n}")
    return None


def check_weights_file(path: object, key: str = "training.weights_file") -> None:
    """Cheap checks of a weights file, before any work: a path to an existing file whose
    header reads (safetensors: the header and the tensors it declares fit the file;
    ``torch.save`` (``.pth``, ``.pt``, ``.bin``, ``.ckpt``): a zip archive whose directory
    reads, or a legacy pickle; other formats, e.g. dlib's ``.dat``: their readers'). What only
    loading tells (a pickle of more than tensors, non-finite values) is
    :func:`read_state_dict`'s."""
    if not isinstance(path, str | Path) or not str(path):
        raise ValueError(f"{key} must be a path (a string), got {path!r}")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{key}: {path} does not exist")
    if not path.is_file():
        raise ValueError(f"{key}: {path} is not a file")
    if path.suffix == ".safetensors":
        problem = _safetensors_problem(path)
    elif path.suffix not in TORCH_SUFFIXES:  # another format (dlib's .dat): its reader's
        problem = None
    elif zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                archive.namelist()
            problem = None
        except (zipfile.BadZipFile, OSError) as exc:
            problem = f"its zip directory does not read ({exc})"
    else:
        with path.open("rb") as f:
            problem = None if f.read(1) == b"\x80" else "it is no zip archive nor pickle"
    if problem:
        raise ValueError(f"{key}: {path} is not a readable weights file: {problem}; give a "
                         ".safetensors file or a torch.save file of tensors")


def read_state_dict(path: str | Path, key: str = "training.weights_file"
                    ) -> dict[str, torch.Tensor]:
    """A state dict from a ``.safetensors`` file or a ``torch.save`` file (read with
    ``weights_only=True``: nothing is unpickled); ``{"state_dict": …}`` is unwrapped. A file
    that cannot be read so (truncated, another format under the name, a pickle of more than
    tensors) or that holds a non-finite value is an error naming the file and ``key``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} ({key}) does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # safetensors, unpickling and zip errors have no common base
        raise ValueError(
            f"{key}: {path} could not be read as a state dict ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:200] if str(exc) else ''}); give a .safetensors "
            "file or a torch.save file of tensors (only tensors are read: nothing is "
            "unpickled)") from exc
    for wrapper in ("state_dict", "model"):
        if isinstance(state, dict) and set(state) == {wrapper}:
            state = state[wrapper]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor)
                                              for v in state.values()):
        raise ValueError(f"{key}: {path} holds no state dict of tensors")
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ValueError(f"{key}: {path} holds non-finite values (NaN or inf) in {len(bad)} "
                         f"tensors, e.g. {bad[:3]}: a damaged or diverged file")
    return state


def load_published(taps: nn.Module, state: dict[str, torch.Tensor], source: str) -> list[str]:
    """Copy a published state dict into a tap module: every weight of the backbone must be
    there with its shape (else an error naming the first keys missing); the file's own head
    (``fc.*``, ``output_layer.*``, a classifier) is left out. Returns the keys left out."""
    own = {k: v for k, v in taps.state_dict().items() if not k.startswith("fc1.")}
    # batch-norm step counters are not weights: torchvision's own files lack them
    missing = sorted(k for k in set(own) - set(state) if not k.endswith("num_batches_tracked"))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or wrong:
        raise ValueError(f"{source} does not fit {type(taps).__name__}: "
                         + (f"{len(missing)} keys missing (e.g. {missing[:3]})" if missing
                            else "")
                         + (f"; shapes differ for {wrong[:3]}" if wrong else "")
                         + ": not a state dict in this backbone's published layout")
    taps.load_state_dict({k: state[k] for k in own if k in state}, strict=False)
    return sorted(set(state) - set(own))


def pretrained_file(name: str, taps: nn.Module, weights_file: str | Path | None) -> Path:
    """Where a backbone's pretrained weights are: ``weights_file``, else its local cache
    (torch hub for torchvision, Hugging Face for timm); IR-50's have no cache."""
    if weights_file:
        return Path(weights_file)
    if name in TORCHVISION:
        path = _hub_cache(name.split(":", 1)[1])
    elif name.startswith(TIMM):
        cached = taps.cached_weights()
        path = Path(cached) if cached else Path(f"<Hugging Face cache of {taps.hf_hub_id}>")
    else:
        raise FileNotFoundError(
            f"backbone {name!r}: set training.weights_file to the published state dict "
            "(for ir50: face.evoLVe's backbone_ir50_ms1m_epoch120.pth)")
    if not path.is_file():
        raise FileNotFoundError(
            f"pretrained weights for {name} not found at {path}; copy the published file "
            "there or set training.weights_file (nothing is downloaded)")
    return path


def _hub_cache(torchvision_name: str) -> Path:
    """Where torch hub keeps torchvision's default weights of a model (never downloaded)."""
    url = get_model_weights(torchvision_name).DEFAULT.url
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name


def imagenet_state_dict(name: str, weights_file: str | Path | None = None) -> dict:
    """torchvision's ImageNet weights of ``name``: a local file, else the torch hub cache.

    Nothing is downloaded here; a missing file is a clear error that says where to put it.
    """
    spec = BACKBONES.get(name)
    if spec is None or spec.torchvision_name is None:
        raise ValueError(f"backbone {name!r} has no ImageNet weights; set pretrained: false")
    path = Path(weights_file) if weights_file else _hub_cache(spec.torchvision_name)
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
