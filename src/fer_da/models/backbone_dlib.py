"""``dlib_resnet29``: dlib's face-recognition ResNet-29 as a backbone, without dlib.

The network of dlib's ``dnn_face_recognition_ex.cpp`` (``anet_type``; 5,614,592 parameters,
150x150 RGB -> a 128-d descriptor, trained by Davis King on about 3 M faces of 7,485
identities, 99.38 % on LFW; the file is public domain, CC0). It ships in the PyPI package
``face_recognition_models==0.3.0`` as ``models/dlib_face_recognition_resnet_model_v1.dat``;
that package's 68-landmark model carries a non-commercial note and is never read here.

- input: RGB 0..255 minus (122.782, 117.001, 104.298), divided by 256 (``mean``/``std`` below,
  applied by :class:`~fer_da.models.fer_net.FERNet`; a grey face is replicated to 3 channels);
- stem: conv 7x7 stride 2 without padding, affine (dlib's frozen batch norm, gamma x + beta),
  ReLU, max pool 3x3 stride 2 without padding (150 -> 72 -> 35);
- level 4: 3 residual blocks of 32; level 3: a down block of 64 and 3 of 64; level 2: down
  128 and 2 of 128; level 1: down 256 and 2 of 256; level 0: down 256 (35 -> 17 -> 8 -> 4 -> 2);
- a block is ReLU(x + affine(conv3x3(ReLU(affine(conv3x3(x)))))); a down block's first
  convolution has stride 2 and no padding, its shortcut is a 2x2 stride-2 average pool, and
  two maps of different sizes are added as dlib adds them: the smaller zero-padded at the
  bottom/right and in channels;
- global average, fc 256 -> 128 without bias (dlib stores it as (in, out)).

Taps: the output of each level (32, 64, 128, 256, 256 channels) and the 128-d descriptor as
the fully connected feature. ``training.freeze: <stage>`` freezes the stem and every level up
to that one (``all``: the descriptor too); :meth:`DlibTaps.run` runs a range of stages so
that a frozen prefix can be computed once and cached (training/frozen.py).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fer_da.models.backbones import register_backbone
from fer_da.models.dlib_format import DlibFormatError, Record, read_records
from fer_da.models.weights import read_state_dict

logger = logging.getLogger(__name__)

NAME = "dlib_resnet29"
DAT_FILE = "dlib_face_recognition_resnet_model_v1.dat"
PACKAGE = "face_recognition_models"
DLIB_MEAN = (122.782, 117.001, 104.298)  # RGB, 0..255
# (name, width, blocks, whether the first block halves the map)
LEVELS = (("level4", 32, 3, False), ("level3", 64, 4, True), ("level2", 128, 3, True),
          ("level1", 256, 3, True), ("level0", 256, 1, True))
STAGES = ("stem", *(name for name, *_ in LEVELS), "all")  # what training.freeze names


class Affine(nn.Module):
    """dlib's ``affine_``: gamma * x + beta per channel (a batch norm frozen into a scale)."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


def add_prev(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's ``add_prev``: maps of different channels or sizes are zero-padded at the end
    (channels) and bottom/right (rows, columns) to the larger, then added."""
    c, h, w = (max(a.shape[i], b.shape[i]) for i in (1, 2, 3))

    def pad(t: torch.Tensor) -> torch.Tensor:
        return F.pad(t, (0, w - t.shape[3], 0, h - t.shape[2], 0, c - t.shape[1]))

    return pad(a) + pad(b)


class Block(nn.Module):
    """One residual block (``ares``, or ``ares_down`` when ``down``)."""

    def __init__(self, c_in: int, c_out: int, down: bool):
        super().__init__()
        self.down = down
        self.conv1 = nn.Conv2d(c_in, c_out, 3, 2 if down else 1, 0 if down else 1)
        self.affine1 = Affine(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.affine2 = Affine(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.affine2(self.conv2(torch.relu(self.affine1(self.conv1(x)))))
        shortcut = F.avg_pool2d(x, 2, 2) if self.down else x
        return torch.relu(add_prev(y, shortcut))


class DlibTaps(nn.Module):
    """The network as a tap module for FERNet (``stage_channels``, ``fc_dim``, ``mean``,
    ``std``, ``input_size``) with stages that can be run one range at a time."""

    stage_names = STAGES

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 32, 7, 2, 0)
        self.affine = Affine(32)
        levels, c_in = [], 32
        for _, width, blocks, down in LEVELS:
            levels.append(nn.Sequential(*(Block(c_in if k == 0 else width, width,
                                                down and k == 0) for k in range(blocks))))
            c_in = width
        self.levels = nn.ModuleList(levels)
        self.fc = nn.Linear(256, 128, bias=False)
        self.stage_channels = [width for _, width, *_ in LEVELS]
        self.fc_dim = 128
        self.mean = tuple(v / 255.0 for v in DLIB_MEAN)
        self.std = (256.0 / 255.0,) * 3
        self.input_size = 150
        self.weights_digest: str | None = None

    def stage(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """Stage ``i`` of :data:`STAGES`: 0 the stem, 1-5 the levels, 6 the descriptor."""
        if i == 0:
            return F.max_pool2d(torch.relu(self.affine(self.conv(x))), 3, 2)
        if i <= len(LEVELS):
            return self.levels[i - 1](x)
        return self.fc(x.mean(dim=(2, 3)))

    def stage_modules(self, i: int) -> list[nn.Module]:
        """The modules whose weights stage ``i`` uses."""
        if i == 0:
            return [self.conv, self.affine]
        return [self.levels[i - 1]] if i <= len(LEVELS) else [self.fc]

    def run(self, x: torch.Tensor, start: int = 0,
            stop: int = len(STAGES)) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Stages ``start`` to ``stop - 1`` on ``x``: (the taps they produced, the output)."""
        taps = []
        for i in range(start, stop):
            x = self.stage(i, x)
            if i > 0:
                taps.append(x)
        return taps, x

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.run(x)[0]

    def load_pretrained(self, weights_file: str | None) -> list[str]:
        """dlib's weights: ``weights_file`` (its ``.dat`` or a converted ``.safetensors``),
        else the ``.dat`` of the installed ``face_recognition_models``, converted once."""
        path = Path(weights_file) if weights_file else converted_file(package_dat())
        if path.suffix == ".dat":
            path = converted_file(path)
        state = read_state_dict(path)
        own = self.state_dict()
        if set(state) != set(own) or any(state[k].shape != own[k].shape for k in own):
            raise ValueError(f"{path} is not a converted {NAME} state dict (its keys or shapes "
                             "differ from the network's)")
        self.load_state_dict(state)
        self.weights_digest = path.stem.rsplit("-", 1)[-1]
        return []


def expected_layers() -> list[tuple]:
    """The network's records from the input up: (kind, conv width, kernel, stride, padding)
    for convolutions and pools, (kind,) for the rest."""
    out: list[tuple] = [("input",), ("con", 32, 7, 2, 0), ("affine",), ("relu",),
                        ("max_pool", None, 3, 2, 0)]
    for _, width, blocks, down in LEVELS:
        for k in range(blocks):
            first = down and k == 0
            out += [("con", width, 3, 2 if first else 1, 0 if first else 1), ("affine",),
                    ("relu",), ("con", width, 3, 1, 1), ("affine",)]
            out += [("avg_pool", None, 2, 2, 0)] if first else []
            out += [("add_prev",), ("relu",)]
    return [*out, ("avg_pool", None, 0, 1, 0), ("fc",), ("loss",)]


def _described(r: Record) -> tuple:
    f = r.fields
    if r.kind in ("con", "max_pool", "avg_pool"):
        return (r.kind, f.get("num_filters"), f["nr"], f["stride_y"], f["padding_y"])
    return ("input",) if r.kind == "input_rgb_image_sized" else (
        ("loss",) if r.kind.startswith("loss") else (r.kind,))


def check_architecture(records: list[Record], source: str) -> None:
    """Refuse a file that is not exactly this network: the counts of convolutions, affine
    layers and fully connected layers first, then the whole sequence of layers."""
    counts = {k: sum(r.kind == k for r in records) for k in ("con", "affine", "fc")}
    if counts != {"con": 29, "affine": 29, "fc": 1}:
        raise DlibFormatError(f"{source}: {counts['con']} convolutions, {counts['affine']} "
                              f"affine layers and {counts['fc']} fc layers; dlib's {NAME} "
                              "has 29, 29 and 1")
    got, want = [_described(r) for r in records], expected_layers()
    bad = next((i for i, (g, w) in enumerate(zip(got, want, strict=False)) if g != w), None)
    if bad is not None or len(got) != len(want):
        at = bad if bad is not None else min(len(got), len(want))
        raise DlibFormatError(f"{source}: layer {at} is {got[at] if at < len(got) else None}, "
                              f"dlib's {NAME} has {want[at] if at < len(want) else None} there")
    fc = records[-2].fields
    if (fc["num_inputs"], fc["num_outputs"], fc["bias_mode"]) != (256, 128, 1):
        raise DlibFormatError(f"{source}: the fc layer is not 256 -> 128 without bias")


def state_from_records(records: list[Record], source: str) -> dict[str, torch.Tensor]:
    """The torch state dict of :class:`DlibTaps` from the records of dlib's file."""
    check_architecture(records, source)
    taps = DlibTaps()
    modules = [m for m in taps.modules() if isinstance(m, (nn.Conv2d, Affine, nn.Linear))]
    layers = [r for r in records if r.kind in ("con", "affine", "fc")]
    state = {}
    for module, record in zip(modules, layers, strict=True):
        name = next(n for n, m in taps.named_modules() if m is module)
        p = record.params
        if record.kind == "con":
            n = int(np.prod(record.fields["filters"]))
            state[f"{name}.weight"] = p[:n].reshape(record.fields["filters"])
            state[f"{name}.bias"] = p[n:]
        elif record.kind == "affine":
            c = p.size // 2
            state[f"{name}.weight"], state[f"{name}.bias"] = p[:c], p[c:]
        else:  # stored (in, out): torch's Linear holds (out, in)
            state[f"{name}.weight"] = p.reshape(256, 128).T
    return {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32))
            for k, v in state.items()}


def package_dat() -> Path:
    """dlib's file inside the installed ``face_recognition_models`` (found without importing
    it: its ``__init__`` imports pkg_resources, gone from current Pythons)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"{PACKAGE} is not installed (uv sync installs it); or set "
                                f"training.weights_file to {DAT_FILE}")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / DAT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed {PACKAGE}")
    return path


def cache_dir() -> Path:
    """Where converted weights are kept: ``$FER_DA_CACHE`` or ``~/.cache/fer-da``."""
    return Path(os.environ.get("FER_DA_CACHE") or Path.home() / ".cache" / "fer-da") / "weights"


def converted_file(dat: Path) -> Path:
    """dlib's ``.dat`` as a safetensors state dict named by the ``.dat``'s sha256 (made once,
    atomically; a later call finds it)."""
    digest = hashlib.sha256(Path(dat).read_bytes()).hexdigest()[:16]
    out = cache_dir() / f"{NAME}-{digest}.safetensors"
    if out.is_file():
        return out
    from safetensors.torch import save_file

    from fer_da.permissions import as_if_created

    state = state_from_records(read_records(dat), str(dat))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".tmp{os.getpid()}")
    save_file(state, str(tmp), metadata={"source": str(dat), "sha256_16": digest})
    as_if_created(tmp)  # safetensors writes 0600 whatever the umask
    tmp.replace(out)
    logger.info("converted %s (sha256 %s…) to %s", dat, digest, out)
    return out


@register_backbone(NAME, min_input_size=103)  # the smallest map level 0 can take
def build() -> DlibTaps:
    return DlibTaps()
