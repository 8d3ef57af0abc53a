"""Frozen lower stages, computed once and cached (``training.freeze: <stage>``).

With a staged backbone (one that names its stages, e.g. ``dlib_resnet29``: stem, level4 …
level0, all), ``freeze: level1`` keeps the stem and levels 4 to 1 at their pretrained
weights. Their output for a face never changes, so it is computed once per face array and
kept: one row per face holding the frozen stages' taps, pooled as the model pools them, and
the map the first trainable stage reads. Training then runs only the trainable stages and
the heads on those rows.

- Augmentation: a frozen stage cannot see a warped image, so the rows hold each face and its
  mirror; ``augment.flip`` picks one of the two per face and step (probability 1/2). The
  other augmentation keys do not apply while stages are frozen (logged once per run).
- Normalisation layers in the frozen part run as at evaluation (dlib's are affine layers
  already: a frozen batch norm); the rows are computed in eval mode.
- The cache (``$FER_DA_CACHE/frozen_rows/<key>.npy``, default ``~/.cache/fer-da``; float32,
  written atomically) is keyed by the frozen stages' weights, the face array's bytes, the
  input size, the frozen depth, the tap pooling and the code that computes the rows: every
  run, setup and seed that shares those reads the same file, and so does evaluation (a
  trained model's frozen stages are the pretrained ones, bit for bit; flip averaging reads
  the cached mirror). Nothing else reads it: deleting the folder only costs a recompute.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from fer_da.digest import state_digest
from fer_da.models import FERNet
from fer_da.models import fer_net as fer_net_module
from fer_da.training.augment import AugmentConfig
from fer_da.training.data import DomainData
from fer_da.validate import ConfigError

logger = logging.getLogger(__name__)

NONE = "none"
ROWS_VERSION = 1  # bump when the row layout changes


def freeze_depth(model: FERNet, freeze: str) -> int | None:
    """The index of the last frozen stage (None: nothing frozen); errors name the key."""
    if freeze == NONE:
        return None
    names = getattr(model.backbone, "stage_names", None)
    if names is None:
        raise ConfigError(f"training.freeze: {freeze!r} needs a backbone with named stages "
                          f"(dlib_resnet29); {model.config.backbone!r} has none")
    if freeze not in names:
        raise ConfigError(f"training.freeze: {freeze!r} is not a stage of "
                          f"{model.config.backbone!r}; choose none or one of {list(names)}")
    if model.conv_branches:
        raise ConfigError("training.freeze does not combine with branch: conv (ED²L's conv "
                          "branches read a full map of a frozen level)")
    return names.index(freeze)


def freeze_stages(model: FERNet, depth: int) -> list[torch.nn.Parameter]:
    """Stop the gradient of stages 0..depth; returns the parameters frozen."""
    frozen = [p for i in range(depth + 1) for m in model.backbone.stage_modules(i)
              for p in m.parameters()]
    for p in frozen:
        p.requires_grad_(False)
    return frozen


def rows_folder() -> Path:
    """Where rows are cached: ``$FER_DA_CACHE/frozen_rows`` (default ``~/.cache/fer-da``)."""
    root = os.environ.get("FER_DA_CACHE") or Path.home() / ".cache" / "fer-da"
    return Path(root) / "frozen_rows"


def frozen_state(model: FERNet, depth: int) -> dict[str, torch.Tensor]:
    """The weights of stages 0..depth, by name."""
    return {f"{i}.{name}": t for i in range(depth + 1)
            for k, m in enumerate(model.backbone.stage_modules(i))
            for name, t in m.state_dict(prefix=f"{k}.").items()}


def rows_key(model: FERNet, images: np.ndarray, depth: int) -> str:
    """What a face array's rows depend on: the frozen stages' weights, the faces' bytes,
    the input size, the depth, the pooling and the code of the backbone and the model."""
    code = hashlib.sha256()
    for module in (inspect.getmodule(type(model.backbone)), fer_net_module):
        code.update(Path(inspect.getsourcefile(module)).read_bytes())
    h = hashlib.sha256(json.dumps({
        "version": ROWS_VERSION, "backbone": model.config.backbone,
        "weights": state_digest(frozen_state(model, depth)), "input": model.input_size,
        "depth": depth, "tap_pool": model.config.tap_pool, "shape": list(images.shape),
        "code": code.hexdigest()}, sort_keys=True).encode())
    h.update(np.ascontiguousarray(images).tobytes())
    return h.hexdigest()[:24]


def compute_rows(model: FERNet, images: np.ndarray, depth: int, device: torch.device,
                 batch_size: int) -> np.ndarray:
    """(N, 2, D) float32: each face's row and its mirror's."""
    was_training = model.training
    model.eval()
    out = []
    for i in range(0, len(images), batch_size):
        x = torch.from_numpy(np.ascontiguousarray(images[i: i + batch_size])).unsqueeze(1)
        x = x.to(device)
        views = [model.frozen_rows(x, depth), model.frozen_rows(x.flip(-1), depth)]
        out.append(torch.stack(views, 1).float().cpu().numpy())
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, 2, 0), np.float32)


def cached_rows(model: FERNet, images: np.ndarray, depth: int, device: torch.device,
                batch_size: int, folder: Path | None) -> np.ndarray:
    """The rows of a face array, from the cache when its key is there."""
    path = folder / f"{rows_key(model, images, depth)}.npy" if folder else None
    if path is not None and path.is_file():
        rows = np.load(path, allow_pickle=False)
        if rows.shape[:2] == (len(images), 2):
            return rows
        logger.warning("frozen-stage cache %s has shape %s for %d faces; computing it again",
                       path, rows.shape, len(images))
    rows = compute_rows(model, images, depth, device, batch_size)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.save(f, rows, allow_pickle=False)
        tmp.replace(path)
    return rows


def layout(model: FERNet, depth: int, device: torch.device) -> None:
    """Set ``model.layout`` (the rows' shapes at this depth) from one blank face."""
    model.frozen_rows(torch.zeros(1, 1, 8, 8, device=device), depth)


def frozen_view(model: FERNet, data: list[DomainData], depth: int, device: torch.device,
                batch_size: int, folder: Path | None) -> list[DomainData]:
    """Each domain's training and validation faces replaced by their cached rows; the
    model reads rows from now on (its ``cache_layout``)."""
    layout(model, depth, device)
    out = []
    for d in data:
        rows = cached_rows(model, d.images, depth, device, batch_size, folder)
        val = (cached_rows(model, d.val_images, depth, device, batch_size, folder)
               if d.val_images is not None else None)
        out.append(replace(d, images=rows, val_images=val))
    model.cache_layout = model.layout
    return out


def rows_for_evaluation(model: FERNet, images: np.ndarray, freeze: str,
                        device: torch.device, batch_size: int) -> np.ndarray | None:
    """A model trained with frozen stages is scored from the cached rows of its frozen
    stages (the same numbers as from the images, read instead of computed): (N, 2, D)
    rows, and the model's ``cache_layout`` set. None for any other model."""
    if freeze == NONE or not isinstance(model, FERNet):
        return None
    depth = freeze_depth(model, freeze)
    layout(model, depth, device)
    rows = cached_rows(model, images, depth, device, batch_size, rows_folder())
    model.cache_layout = model.layout
    return rows


def choose_view(x: torch.Tensor, cfg: AugmentConfig,
                gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of rows (B, 1, 2, D) -> (B, D): the mirror with probability 1/2 when
    ``flip`` augmentation is on, else each face as it is; and which faces were mirrored."""
    x = x.reshape(x.shape[0], 2, x.shape[-1])
    if not (cfg.enabled and cfg.flip):
        return x[:, 0], torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    mirror = torch.rand(x.shape[0], generator=gen, device=x.device) < 0.5
    return torch.where(mirror.unsqueeze(1), x[:, 1], x[:, 0]), mirror


def as_chosen(faces: torch.Tensor, mirror: torch.Tensor) -> torch.Tensor:
    """The faces (B, 1, H, W) as :func:`choose_view` chose them: mirrored where it did."""
    faces = faces.float()
    return torch.where(mirror.view(-1, 1, 1, 1), faces.flip(-1), faces)
