"""What every backbone module shares and none owns: the normalisation constants, reading
a state dict from a file the user gives (safetensors, or ``torch.load(weights_only=True)``:
nothing is unpickled), copying a published state dict into a tap module, and where torch
hub keeps torchvision's weights. A leaf: it imports nothing of ``fer_da.models``."""

from __future__ import annotations

import json
import zipfile
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
