"""The digests and keys that carry the project's promises, in one place. Pure code; each
says what it depends on, and the promise it keeps:

- ``config_hash``: a JSON-able configuration, key order ignored (a plan's hash, the run's
  ``config_hash`` column).
- ``array_digest``: arrays' dtype, shape and bytes (face sets' content).
- ``state_digest``: a state dict's names, dtypes, shapes and values (initial and pretrained
  weights in a checkpoint's fingerprint: other weights at the same path retrain).
- ``training_data_digest``: a run's training view (images, labels, validation split,
  subjects): other data retrains.
- ``RunPlan.fingerprint`` (training/config.py): plan hash + data + initial weights + package
  source + device and precision: "a code change retrains; an unchanged re-run resumes".
- ``detection_cache_key``: image content + detector settings that change boxes: "an image
  is detected once".
- ``crop_key``: detection key + crop settings + crop code: "a face is cut once".
- ``model_digest``: a saved model's weights and what gives its outputs their meaning
  (classes, config, preprocessing): a flipped bit or an edited class list is refused.
- ``registration_key``: the served model + the inference code: "an unchanged model with
  unchanged code registers no new MLflow version".
- ``source_digest`` (provenance.py): the package's source files (docs excluded).
- frozen rows' key (``training/frozen.py``, ``rows_key``): frozen stages' weights, faces,
  input size, depth, pooling and their code.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # torch is imported by the caller; commands that do not train need none
    import torch



def model_digest(state: Mapping[str, torch.Tensor], meaning: Mapping[str, Any]) -> str:
    """sha256 over every tensor (name, dtype, shape, bytes, in name order) and the canonical
    JSON of ``meaning`` (class names and order, model config, preprocessing, ...)."""
    import torch

    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    h.update(json.dumps(dict(meaning), sort_keys=True, default=str).encode())
    return h.hexdigest()


def check_classes(run_id: str, trained: list[str] | None, configured: list[str]) -> list[str]:
    """The model's own class names, in its own order. A configuration that lists other
    names, or the same in another order, is an error naming both lists (never a
    relabelling); a model saved before it recorded its classes takes the configured ones."""
    configured = list(configured)
    if trained is None:
        return configured
    if list(trained) != configured:
        raise ValueError(f"{run_id} predicts the classes {list(trained)} (in this order) but "
                         f"labels.classes is {configured}: a model's outputs mean its own "
                         "classes; set labels.classes back to the model's or retrain")
    return list(trained)


def config_hash(config: Any) -> str:
    """sha256 (16 hex) of a JSON-able configuration, key order ignored."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()
                          ).hexdigest()[:16]


def array_digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for array in arrays:
        a = np.ascontiguousarray(array)
        h.update(f"{a.dtype}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def state_digest(state: dict[str, torch.Tensor] | None) -> str | None:
    """Digest of a state dict's names, dtypes, shapes and values (None for no state)."""
    if state is None:
        return None
    import torch

    h = hashlib.blake2b(digest_size=8)
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def training_data_digest(data: list[Any]) -> str:
    """A run's training data: every domain's name, images, labels, validation split and
    subjects (what training and model selection read)."""
    h = hashlib.sha256()
    for d in data:
        h.update(d.name.encode())
        h.update(d.images.tobytes())
        if d.labels is not None:
            h.update(d.labels.tobytes())
        if d.val_images is not None:  # model selection reads them
            h.update(d.val_images.tobytes())
            h.update(d.val_labels.tobytes())
        if d.subjects is not None:  # identity methods read them
            h.update("\0".join(d.subjects).encode())
    return h.hexdigest()[:16]


def detection_cache_key(sha: str, signature: str) -> str:
    """The detection cache's key of an image: its content hash and the detector's settings."""
    return hashlib.sha256((sha + signature).encode()).hexdigest()


def crop_key(detection_key: str, cfg: Any, code: str) -> str:
    """What a crop depends on: the image content and detection settings (the detection
    key), the crop settings, and the crop code."""
    return hashlib.sha256(json.dumps([detection_key, cfg.margin, cfg.align, cfg.image_size,
                                      cfg.no_face, code]).encode()).hexdigest()


def registration_key(serving_digest: str, code: dict[str, Any]) -> str:
    """What a registered MLflow model version stands for: the served model (its digest) and
    the inference code that runs it (package source digest and fer-da version), so a fix in
    detection, normalisation or prediction registers a new version of an unchanged model."""
    body = json.dumps({"model": serving_digest, "source": code["source_digest"],
                       "version": code["fer_da_version"]}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:16]
