"""Options of augmentation and of the training methods, validated once from ``params:``;
importable without torch (the preflight checks them before any work)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from fer_da.validate import ConfigError, as_bool, as_float, as_int, check_keys


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



@dataclass(frozen=True)
class MethodOptions:
    alpha: float = 0.1  # jm / atf: weight of the identity loss
    margin: float = 0.35  # ed2l: m of the additive-margin softmax
    scale: float = 30.0  # ed2l: s
    lambda_t: float = 1.0  # ed2l (eq. 6)
    lambda_p: float = 10.0  # ed2l (eq. 6)
    gamma: float = 2.0  # sna: focal loss exponent
    noise: float = 0.5  # sna: std of the latent perturbation, in units of the code's std
    latent: int = 32  # sna: autoencoder code size
    ae_epochs: int = 10  # sna: autoencoder training epochs
    generator: str = "conv"  # sna: conv (the small one) | asymmetric (Table I, eq. 4): the
    # small one measured better and 5x faster (docs/training.md, "sna")
    l1_weight: float = 10.0  # hagan: weight of the L1 distance to the neutral character
    characters: int = 1  # hagan: animated identities
    gan_lr: float = 2e-4  # hagan: Adam learning rate of G and D (the paper)
    beta1: float = 0.5  # hagan: Adam momentum (the paper)
    human_dropout: float = 0.0  # hagan: share of pairs D sees without the human (0: paper)
    branch: str = "conv"  # ed2l: conv (Table 1's blocks on the shared map) | fc (one layer)

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None, where: str) -> MethodOptions:
        p = check_keys(params, {f.name for f in fields(cls)}, where)
        for key, top in (("latent", 65_536), ("ae_epochs", 10_000), ("characters", 1000)):
            if key in p:
                p[key] = as_int(p[key], f"{where}.{key}", minimum=1, maximum=top)
        for key in ("alpha", "margin", "scale", "lambda_t", "lambda_p", "gamma", "noise",
                    "l1_weight", "gan_lr", "beta1", "human_dropout"):
            if key in p:
                p[key] = as_float(p[key], f"{where}.{key}", minimum=0.0,
                                  maximum=1.0 if key == "human_dropout" else None)
        if p.get("generator", "conv") not in ("asymmetric", "conv"):
            raise ConfigError(f"{where}.generator must be asymmetric or conv, got "
                              f"{p['generator']!r}")
        if p.get("branch", "conv") not in ("conv", "fc"):
            raise ConfigError(f"{where}.branch must be conv or fc, got {p['branch']!r}")
        return cls(**p)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
