"""Augmentation options and the test-time augmentations, validated once from ``params:``;
importable without torch (the preflight checks them before any work). The methods' options:
``methods/options.py``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from fer_da.validate import as_bool, as_float, check_keys


@dataclass(frozen=True)
class AugmentConfig:
    enabled: bool = True
    flip: bool = True  # horizontal flip with probability 1/2 (expressions are symmetric)
    rotate: float = 10.0  # degrees, uniform in [-rotate, rotate]
    translate: float = 0.08  # fraction of the side, each axis
    scale: float = 0.1  # zoom factor uniform in [1 - scale, 1 + scale]
    brightness: float = 0.2  # additive, fraction of the range
    contrast: float = 0.2  # multiplicative around the image mean, 1 +- contrast
    gamma: float = 0.2  # exponent in exp(+-gamma)
    erase: float = 0.0  # probability of erasing one random rectangle (up to 1/4 of the area)

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None,
                    where: str = "training.augment") -> AugmentConfig:
        p = check_keys(params, cls.__dataclass_fields__, where)
        for key in ("enabled", "flip"):
            if key in p:
                as_bool(p[key], f"{where}.{key}")
        for key in ("rotate", "translate", "scale", "brightness", "contrast", "gamma", "erase"):
            if key in p:
                p[key] = as_float(p[key], f"{where}.{key}", minimum=0.0,
                                  maximum=1.0 if key in ("scale", "erase", "translate") else None)
        return cls(**p)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# test-time augmentation at evaluation and inference (``evaluation.tta``)
TTA = ("none", "flip")

# the label-free validators (training/validators.py, which checks it holds the same names):
# what ``training.select`` may pick a checkpoint by and ``training.validators`` may record
LABEL_FREE_VALIDATORS = ("source_val", "target_entropy", "target_im", "snd", "bnm",
                         "class_ami", "dev")
# those that read the unlabelled target pool: no selection for a run that trains without one
TARGET_VALIDATORS = ("target_entropy", "target_im", "snd", "bnm", "class_ami", "dev")
