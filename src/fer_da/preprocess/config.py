"""Preprocessing settings, validated once: global defaults with per-domain overrides."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from fer_da.detect.registry import AUTO
from fer_da.validate import (
    ConfigError,
    as_bool,
    as_choice,
    as_float,
    as_int,
    check_keys,
)

BACKENDS = ("retinaface", "mtcnn", "none")
SPLIT_MODES = ("subject", "group", "random", "source", "transductive")
MAX_IMAGE_SIZE = 512  # a face crop; every face set is held in memory at this size
MAX_PIXELS = 8192  # a side the detector resizes to or compares with: more is a typo


@dataclass(frozen=True)
class DetectorConfig:
    backend: str = "retinaface"
    fallback: str | None = "mtcnn"
    weights: str | None = None
    download: bool = False
    device: str = "auto"
    batch_size: int = 16
    min_score: float = 0.8
    max_size: int = 640
    min_face_size: int = 20
    nms_iou: float = 0.4
    upscale_below: int = 64  # images with a shorter side are enlarged to it for detection
    # backend auto (preprocess/crops.py): images at most auto_below px are crops; else
    # auto_probe images are detected and the set is crops when the faces fill auto_cover
    auto_below: int = 64
    auto_cover: float = 0.5
    auto_probe: int = 32

    def build_args(self) -> dict[str, Any]:
        """What the detector factory takes (the backend and fallback apart)."""
        out = asdict(self)
        for key in ("backend", "fallback", "upscale_below", "auto_below", "auto_cover",
                    "auto_probe"):
            del out[key]
        return out

    def signature(self) -> tuple:
        return tuple(sorted(asdict(self).items()))


@dataclass(frozen=True)
class SplitConfig:
    mode: str = "subject"
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    seed: int = 0
    group_regex: str | None = None
    within: str = "random"  # source mode: how splits the layout lacks are carved from train
    vary_with_seed: bool = False  # one split per training seed (split seed = seed + training)
    max_train: int | None = None  # cap the train split (seeded; stratified on a source only)

    @property
    def fractions(self) -> dict[str, float]:
        return {"val": self.val_fraction, "test": self.test_fraction}


@dataclass(frozen=True)
class PreprocessConfig:
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    no_face: str = "reject"
    margin: float = 0.15
    align: bool = False
    image_size: int = 48
    split: SplitConfig = field(default_factory=SplitConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _detector(raw: Any, where: str) -> DetectorConfig:
    d = check_keys(raw, DetectorConfig.__dataclass_fields__, where)
    cfg = DetectorConfig(**d)
    as_choice(cfg.backend, f"{where}.backend", (AUTO, *BACKENDS))
    as_int(cfg.auto_below, f"{where}.auto_below", minimum=0, maximum=MAX_PIXELS)
    as_float(cfg.auto_cover, f"{where}.auto_cover", minimum=0.0, maximum=1.0)
    as_int(cfg.auto_probe, f"{where}.auto_probe", minimum=1, maximum=100_000)
    if cfg.fallback is not None:
        as_choice(cfg.fallback, f"{where}.fallback", BACKENDS)
    if cfg.weights is not None and (not isinstance(cfg.weights, str) or not cfg.weights):
        raise ConfigError(f"{where}.weights must be a path (a string) or null, got "
                          f"{cfg.weights!r}")
    as_bool(cfg.download, f"{where}.download")
    as_int(cfg.batch_size, f"{where}.batch_size", minimum=1, maximum=4096)
    as_float(cfg.min_score, f"{where}.min_score", minimum=0.0, maximum=1.0)
    as_int(cfg.max_size, f"{where}.max_size", minimum=16, maximum=MAX_PIXELS)
    as_int(cfg.min_face_size, f"{where}.min_face_size", minimum=1, maximum=MAX_PIXELS)
    as_float(cfg.nms_iou, f"{where}.nms_iou", minimum=0.0, maximum=1.0)
    as_int(cfg.upscale_below, f"{where}.upscale_below", minimum=0, maximum=MAX_PIXELS)
    return cfg


def _split(raw: Any, where: str) -> SplitConfig:
    s = check_keys(raw, SplitConfig.__dataclass_fields__, where)
    cfg = SplitConfig(**s)
    as_choice(cfg.mode, f"{where}.mode", SPLIT_MODES)
    as_choice(cfg.within, f"{where}.within", ("random", "subject", "group"))
    val = as_float(cfg.val_fraction, f"{where}.val_fraction", minimum=0.0, maximum=0.9)
    test = as_float(cfg.test_fraction, f"{where}.test_fraction", minimum=0.0, maximum=0.9)
    if val + test >= 1.0:
        raise ConfigError(f"{where}: val_fraction + test_fraction must be < 1, got {val + test}")
    as_int(cfg.seed, f"{where}.seed")
    as_bool(cfg.vary_with_seed, f"{where}.vary_with_seed")
    if cfg.max_train is not None:
        as_int(cfg.max_train, f"{where}.max_train", minimum=1)
    if cfg.mode == "group" and not cfg.group_regex:
        raise ConfigError(f"{where}.group_regex is required by split mode 'group'")
    return SplitConfig(**{**s, "val_fraction": val, "test_fraction": test})


def preprocess_config(params: Mapping[str, Any], override: Mapping[str, Any] | None = None,
                      where: str = "preprocessing") -> PreprocessConfig:
    """``params:preprocessing`` with ``override`` (a domain's ``preprocessing``) over it."""
    merged = _deep_merge(params, override or {})
    p = check_keys(merged, PreprocessConfig.__dataclass_fields__, where)
    cfg = PreprocessConfig(
        detector=_detector(p.get("detector"), f"{where}.detector"),
        no_face=as_choice(p.get("no_face", "reject"), f"{where}.no_face",
                          ("reject", "centre_crop")),
        margin=as_float(p.get("margin", 0.15), f"{where}.margin", minimum=-0.9),
        align=as_bool(p.get("align", False), f"{where}.align"),
        image_size=as_int(p.get("image_size", 48), f"{where}.image_size", minimum=8),
        split=_split(p.get("split"), f"{where}.split"))
    if cfg.image_size > MAX_IMAGE_SIZE:
        raise ConfigError(f"{where}.image_size must be at most {MAX_IMAGE_SIZE} (each face is "
                          f"held in memory at that size), got {cfg.image_size}")
    return cfg


def domain_configs(params: Mapping[str, Any],
                   overrides: Mapping[str, Mapping[str, Any]]) -> dict[str, PreprocessConfig]:
    """One config per domain; ``image_size`` must agree (one model sees every domain)."""
    base = preprocess_config(params)
    out = {}
    for name, override in overrides.items():
        where = f"domains.{name}.preprocessing"
        check_keys(override, PreprocessConfig.__dataclass_fields__, where)
        if "image_size" in (override or {}) and override["image_size"] != base.image_size:
            raise ConfigError(f"{where}.image_size: every domain is resized to the one "
                              f"preprocessing.image_size ({base.image_size}) the model takes")
        try:
            out[name] = preprocess_config(params, override)
        except ConfigError as exc:  # name the domain's key when its override is at fault
            if not override:
                raise
            raise ConfigError(f"{where} (over preprocessing): {exc}") from exc
    return out
