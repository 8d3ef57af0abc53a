"""What every backbone module shares and none owns: the normalisation constants, reading
a state dict from a file the user gives (safetensors, or ``torch.load(weights_only=True)``:
nothing is unpickled), copying a published state dict into a tap module, and where torch
hub keeps torchvision's weights. A leaf: it imports nothing of ``fer_da.models``."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # RGB in 0..1
IMAGENET_STD = (0.229, 0.224, 0.225)
FACE_MEAN = (0.5, 0.5, 0.5)  # face.evoLVe / InsightFace: (x - 127.5) / 127.5
FACE_STD = (0.5, 0.5, 0.5)


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


def hub_cache(torchvision_name: str) -> Path:
    """Where torch hub keeps torchvision's default weights of a model (never downloaded)."""
    from torchvision.models import get_model_weights

    url = get_model_weights(torchvision_name).DEFAULT.url
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name




def existing(path: Path, name: str) -> Path:
    """``path`` when it is a file; else an error saying where the weights of ``name`` go."""
    if not path.is_file():
        raise FileNotFoundError(
            f"pretrained weights for {name} not found at {path}; copy the published file "
            "there or set training.weights_file (nothing is downloaded)")
    return path
