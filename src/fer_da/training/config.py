"""Training configuration and run plans, validated once from ``params:``."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Literal

from fer_da.digest import config_hash
from fer_da.methods.options import MethodOptions
from fer_da.provenance import code_provenance
from fer_da.training.options import LABEL_FREE_VALIDATORS, AugmentConfig
from fer_da.validate import (
    ConfigError,
    as_bool,
    as_choice,
    as_float,
    as_int,
    check_keys,
)

if TYPE_CHECKING:  # torch: imported where a model is built, not to read a configuration
    from fer_da.models import ModelConfig

SELECTIONS = ("last", *LABEL_FREE_VALIDATORS)
# sane ranges (docs/bad_inputs.md): above these a value is a typo that would only fail as an
# allocator error or a run of years, after minutes of work
MAXIMA = {"epochs": 10_000, "batch_size": 65_536, "eval_batch_size": 65_536,
          "tap_dim": 65_536, "tap_pool": 64, "hidden": 16_384, "domain_hidden": 65_536,
          "input_size": 1024, "lr": 10.0, "weight_decay": 1.0}


def _lists(merged: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``seeds`` (distinct integers, at least one), ``domain_hidden`` (widths) and
    ``validators`` (label-free validator names, each once) as tuples."""
    out: dict[str, Any] = {}
    for key, example in (("seeds", "[0, 1, 2]"), ("domain_hidden", "[1024, 1024]"),
                         ("validators", "[source_val, snd, bnm]")):
        value = merged.get(key)
        if key not in merged:
            continue
        if isinstance(value, str | int) or not isinstance(value, list | tuple):
            raise ConfigError(f"{where}.{key} must be a list (e.g. {example}), got {value!r}")
        if key == "seeds":
            out[key] = tuple(as_int(s, f"{where}.seeds[]") for s in value)
            if not out[key]:
                raise ConfigError(f"{where}.seeds is empty: list at least one seed (e.g. [0])")
        elif key == "domain_hidden":
            out[key] = tuple(as_int(w, f"{where}.domain_hidden[]", minimum=1,
                                    maximum=MAXIMA["domain_hidden"]) for w in value)
        else:
            out[key] = tuple(as_choice(v, f"{where}.validators[]", LABEL_FREE_VALIDATORS)
                             for v in value)
        if key != "domain_hidden" and len(set(out[key])) != len(out[key]):
            raise ConfigError(f"{where}.{key} lists a {'seed' if key == 'seeds' else 'validator'} "
                              f"twice: {list(value)}")
    return out


def _sizes_and_rates(merged: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The integer sizes and the float rates among ``merged``, checked against their ranges
    (:data:`MAXIMA`; finite), the floats as floats."""
    out: dict[str, Any] = {}
    for key in ("epochs", "batch_size", "eval_batch_size", "tap_dim", "tap_pool", "hidden"):
        if key in merged:
            out[key] = as_int(merged[key], f"{where}.{key}", minimum=1, maximum=MAXIMA[key])
    if merged.get("input_size", "auto") != "auto":
        out["input_size"] = as_int(merged["input_size"], f"{where}.input_size (auto or "
                                   "pixels)", minimum=16, maximum=MAXIMA["input_size"])
    for key in ("lr", "resident_max_gb", "domain_lr_mult"):
        if key in merged:
            out[key] = as_float(merged[key], f"{where}.{key}", positive=True,
                                maximum=MAXIMA.get(key))
    for key in ("weight_decay", "alpha"):
        if key in merged:
            out[key] = as_float(merged[key], f"{where}.{key}", minimum=0.0,
                                maximum=MAXIMA.get(key))
    return out


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 15
    batch_size: int = 16  # per domain in a DANN step (the paper: 40); per step otherwise
    lr: float = 1e-3
    weight_decay: float = 0.0
    alpha: float = 10.0  # steepness of the factor function (eq. 5)
    device: str = "auto"
    bf16: bool | str = "auto"  # autocast to bfloat16: auto = on CUDA only; true = anywhere
    channels_last: bool | str = "auto"  # channels-last memory format: auto = CUDA and CPU
    compile: bool = False  # torch.compile the model
    backbone: str = "vgg11_slim_bn"
    pretrained: bool = False  # ImageNet weights (torch hub cache or weights_file)
    weights_file: str | None = None
    input_size: int | str = "auto"  # auto: the backbone's own (ir50 112; others the crops')
    freeze: str = "none"  # none | a stage of a staged backbone: it and all below stay fixed
    tap_dim: int = 100
    tap_pool: int = 2
    hidden: int = 128
    eval_batch_size: int = 256
    seeds: tuple[int, ...] = (0,)
    resident: str = "auto"  # device | host | auto: keep images on the device if they fit
    resident_max_gb: float = 8.0  # auto: above this, images stay in (pinned) host memory
    resume: bool = True  # reuse a checkpoint of the same plan, data and initial weights
    # the recipe (docs/training.md): augmentation, schedule, length, model selection
    augment: Mapping[str, Any] | None = None  # AugmentConfig keys; None = no augmentation
    schedule: str = "constant"  # constant | cosine (after a linear warm-up)
    warmup: float = 0.0  # fraction of the steps
    label_smoothing: float = 0.0
    length: str = "epochs"  # epochs (DANN: as long as the longest domain) | source_epochs
    select: str = "last"  # last | a label-free validator (training/validators.py)
    # validators scored at every epoch (history ``val_<name>``) with a snapshot of each
    # epoch's weights, for the selection study (docs/training.md); () = none
    validators: tuple[str, ...] = ()
    adapt_weight: float = 1.0  # weight of a non-adversarial adaptation loss (mcc, im, ...)
    mcc_temperature: float = 2.5
    # the domain classifier of the adversarial methods (docs/training.md, "The clamp")
    domain_hidden: tuple[int, ...] = ()  # hidden widths; () = one layer of `hidden` (paper)
    domain_dropout: float = 0.0  # dropout after each hidden layer (reference DANN: 0.5)
    domain_lr_mult: float = 1.0  # the domain classifier's learning rate = lr x this
    adversarial_weight: float = 1.0  # w in L_CLF + w * lambda * L_adv (the paper: 1)

    @classmethod
    def from_params(cls, params: Mapping[str, Any], where: str = "training",
                    **overrides: Any) -> TrainConfig:
        """Validated once: unknown keys, strings for numbers or booleans are errors naming
        the key (``where`` prefixes it)."""
        merged = check_keys({**params, **overrides}, {f.name for f in fields(cls)}, where)
        merged.update(_lists(merged, where))
        merged.update(_sizes_and_rates(merged, where))
        for key in ("compile", "pretrained", "resume"):
            if key in merged:
                as_bool(merged[key], f"{where}.{key}")
        for key in ("bf16", "channels_last"):
            if key in merged and merged[key] != "auto":
                as_bool(merged[key], f"{where}.{key} (true, false or auto)")
        if merged.get("weights_file") is not None:
            if not isinstance(merged["weights_file"], str) or not merged["weights_file"]:
                raise ConfigError(f"{where}.weights_file must be a path (a string) or null, "
                                  f"got {merged['weights_file']!r}")
            if not merged.get("pretrained", False):
                raise ConfigError(f"{where}.weights_file is set but {where}.pretrained is "
                                  "not true: the file would be ignored; set pretrained: true "
                                  "(or weights_file: null)")
        if "freeze" in merged and (not isinstance(merged["freeze"], str)
                                   or not merged["freeze"].strip()):
            raise ConfigError(f"{where}.freeze must be none or a stage name of the backbone "
                              f"(dlib_resnet29: stem, level4 … level0, all), got "
                              f"{merged['freeze']!r}")
        if "resident" in merged:
            as_choice(merged["resident"], f"{where}.resident", ("auto", "device", "host"))
        if merged.get("augment") is not None:
            merged["augment"] = AugmentConfig.from_params(merged["augment"],
                                                          f"{where}.augment").to_dict()
        for key, choices in (("schedule", ("constant", "cosine")),
                             ("length", ("epochs", "source_epochs")),
                             ("select", SELECTIONS)):
            if key in merged:
                as_choice(merged[key], f"{where}.{key}", choices)
        for key, top in (("warmup", 1.0), ("label_smoothing", 1.0), ("adapt_weight", None),
                         ("adversarial_weight", None),
                         ("domain_dropout", 0.99),
                         ("mcc_temperature", None)):
            if key in merged:
                merged[key] = as_float(merged[key], f"{where}.{key}", minimum=0.0, maximum=top)
        return cls(**merged)

    @property
    def augment_config(self) -> AugmentConfig:
        return (AugmentConfig(**self.augment) if self.augment is not None
                else AugmentConfig(enabled=False))

    def use_bf16(self, device_type: str) -> bool:
        return self.bf16 is True or (self.bf16 == "auto" and device_type == "cuda")

    def use_channels_last(self, device_type: str) -> bool:
        # measured on 2 CPU cores: +17% (DANN) and +12% (supervised) images/s at the default
        return self.channels_last is True or (self.channels_last == "auto"
                                              and device_type in ("cuda", "cpu"))

    def model_config(self, n_classes: int, n_domains: int,
                     conditioning: str = "features") -> ModelConfig:
        from fer_da.models import ModelConfig

        return ModelConfig(backbone=self.backbone, n_classes=n_classes, n_domains=n_domains,
                           tap_dim=self.tap_dim, tap_pool=self.tap_pool, hidden=self.hidden,
                           domain_conditioning=conditioning,
                           domain_hidden=tuple(self.domain_hidden),
                           domain_dropout=self.domain_dropout,
                           input_size=None if self.input_size == "auto" else int(self.input_size))


# TrainConfig keys that change no result of a run: ``resume``, and ``seeds`` (the other
# runs' seeds; a run's own is ``RunPlan.seed``). Left out of its hash and registration key.
RESULT_NEUTRAL_KEYS = ("resume", "seeds")


@dataclass(frozen=True)
class RunPlan:
    """One model to train."""

    setup: str
    run: str
    seed: int
    mode: Literal["supervised", "dann"]
    train_domains: tuple[str, ...]  # domains whose images the run sees
    labelled_domains: tuple[str, ...]  # domains whose labels the run sees
    all_domains: tuple[str, ...]  # every declared domain (the domain classifier's classes)
    clamp: float | None = None
    # fixed: the domain classifier learns from its full loss, the clamp bounds what reaches
    # the features; paper: the loss itself capped (training/losses.py)
    clamp_mode: str = "fixed"
    init_from: str | None = None  # run id of the model to start from
    method: str = "dann"  # the method (methods/registry.py): erm, dann, ..., sna
    config: TrainConfig = field(default_factory=TrainConfig)
    options: Mapping[str, Any] = field(default_factory=dict)  # the method's options
    # per labelled domain, the preprocessing its faces had (inference repeats it)
    preprocessing: Mapping[str, Any] = field(default_factory=dict)
    # AdaBN at evaluation: each unlabelled domain is scored with batch-norm statistics
    # re-estimated on its own (unlabelled) train split (training/adabn.py)
    target_bn: bool = False

    @property
    def method_options(self) -> MethodOptions:
        return MethodOptions.from_params(self.options, f"{self.setup}.setup.options")

    @property
    def run_id(self) -> str:
        return f"{self.setup}/{self.run}/seed{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["run_id"] = self.run_id
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunPlan:
        data = {k: v for k, v in data.items() if k != "run_id"}
        data["config"] = TrainConfig.from_params(data["config"])
        data["options"] = dict(data.get("options") or {})
        data["preprocessing"] = dict(data.get("preprocessing") or {})
        data.setdefault("clamp_mode", "paper")  # plans written before the fixed clamp
        for key in ("train_domains", "labelled_domains", "all_domains"):
            data[key] = tuple(data[key])
        return cls(**data)

    def config_hash(self) -> str:
        """The plan and its configuration, less what changes no result of this run:
        ``resume``, and ``seeds`` (the other runs' seeds; this run's is ``seed``), so adding
        a seed keeps the finished runs' hashes and checkpoints."""
        plan = self.to_dict()
        for key in RESULT_NEUTRAL_KEYS:
            plan["config"].pop(key, None)
        if not plan["config"].get("validators"):  # plans made before the key hash as before
            plan["config"].pop("validators", None)
        return config_hash(plan)

    def fingerprint(self, data_digest: str, init_digest: str | None = None,
                    runtime: Mapping[str, Any] | None = None) -> str:
        """What a checkpoint must match to be reused: the plan (less ``resume``), the
        training data, the initial weights (fine-tuning), the package source (a code change
        retrains; no manual version bump) and the resolved device and precision."""
        body = json.dumps({"plan": self.config_hash(), "data": data_digest,
                           "init": init_digest, "source": code_provenance()["source_digest"],
                           "runtime": dict(runtime or {})}, sort_keys=True, default=str)
        return hashlib.sha256(body.encode()).hexdigest()[:16]

    def with_config(self, **changes: Any) -> RunPlan:
        return replace(self, config=replace(self.config, **changes))
