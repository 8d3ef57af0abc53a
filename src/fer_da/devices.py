"""Device choice, made once from configuration."""

from __future__ import annotations

import torch

from fer_da.validate import ConfigError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU; any explicit torch device name is honoured."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def check_device(name: str, key: str = "training.device") -> None:
    """An explicit device that this machine lacks is an error naming ``key`` (before any
    work); ``auto`` always resolves."""
    if name == "auto":
        return
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"{key}: {name!r} is not a torch device ({exc}); use auto, cpu, "
                          "cuda, cuda:<index> or mps") from exc
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(f"{key} is {name!r} but this machine has no usable CUDA device "
                              f"(torch {torch.__version__}); use auto or cpu")
        if device.index is not None and device.index >= count:
            raise ConfigError(f"{key} is {name!r} but this machine has {count} CUDA "
                              f"device(s): cuda:0 to cuda:{count - 1}")
    elif device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if not (mps and mps.is_available()):
            raise ConfigError(f"{key} is {name!r} but MPS is not available here; use auto "
                              "or cpu")
    elif device.type != "cpu":
        raise ConfigError(f"{key}: device type {device.type!r} is not supported; use auto, "
                          "cpu, cuda or mps")
