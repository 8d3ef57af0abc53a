"""Configuration checked before a run does any work.

Every mistake a run would otherwise meet late (after ingestion, preprocessing or training,
often with an error naming nothing) fails here, at the start, naming the key and what it
accepts: the domains, labels and preprocessing of every run; for the setups in the pipeline
their plans (setup keys, training, method options), seeds, device and the image size their
backbone takes; the evaluation splits. Runs from a hook (``fer_da.hooks.PreflightHook``)
before the first node; torch is imported only when the pipeline trains.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from fer_da.preprocess.splits import SPLITS
from fer_da.validate import ConfigError, as_str_list


def evaluation_splits(evaluation: Mapping[str, Any] | None) -> list[str]:
    """``evaluation.splits`` (default ``[test]``): known split names, at least one."""
    splits = as_str_list((evaluation or {}).get("splits", ["test"]), "evaluation.splits")
    unknown = [s for s in splits if s not in SPLITS]
    if unknown or not splits:
        raise ConfigError(f"evaluation.splits must list split names among {list(SPLITS)}, "
                          f"got {splits!r}" + (f" (unknown: {unknown})" if unknown else ""))
    return splits


def check_data(params: Mapping[str, Any]) -> None:
    """Domains, labels and preprocessing (per domain): no torch needed."""
    from fer_da.ingest import parse_domain_specs
    from fer_da.labels import vocabulary
    from fer_da.preprocess.config import domain_configs

    specs = parse_domain_specs(params.get("domains") or {})
    vocabulary(params.get("labels") or {})
    configs = domain_configs(params.get("preprocessing") or {},
                             {s.name: s.preprocessing for s in specs})
    splits = evaluation_splits(params.get("evaluation"))
    for name, cfg in configs.items():
        where = f"domains.{name}.preprocessing" if any(
            s.name == name and s.preprocessing for s in specs) else "preprocessing"
        if "test" in splits and cfg.split.test_fraction == 0 and cfg.split.mode != "source":
            raise ConfigError(f"{where}.split.test_fraction is 0 with split mode "
                              f"{cfg.split.mode!r}: domain {name!r} would have no test split, "
                              "and evaluation.splits asks for 'test'; set a fraction in "
                              "(0, 0.9] or use mode 'source' for a layout with its own")


def setups_in(pipeline_namespaces: Iterable[str], params: Mapping[str, Any]) -> list[str]:
    """The setups (parameter groups with a ``setup`` key) whose namespace the pipeline runs."""
    tops = {ns.split(".")[0] for ns in pipeline_namespaces if ns}
    return sorted(n for n in tops if isinstance(params.get(n), Mapping)
                  and isinstance(params[n].get("setup"), Mapping))


def check_setups(params: Mapping[str, Any], setups: Iterable[str]) -> None:
    """Each setup's plans as ``plan_runs`` makes them, then what only a trained model would
    reveal: the device exists, the image size fits the backbone."""
    setups = list(setups)
    if not setups:  # a pipeline that does not train imports no torch
        return
    from fer_da.devices import check_device
    from fer_da.training.plans import plan_runs

    for name in setups:
        plans = plan_runs(params[name]["setup"], params.get("domains") or {},
                          params.get("training") or {}, params.get("preprocessing") or {},
                          params.get("job"))
        for plan in plans:
            cfg = plan["config"]
            check_device(cfg["device"], f"{name}.setup.training.device (or training.device)")
            smallest = check_backbone(cfg, name)
            if plan.get("target_bn"):
                check_batchnorm(cfg["backbone"], plan["run_id"], name)
            if cfg.get("input_size", "auto") != "auto" or own_input_size(cfg["backbone"]):
                continue  # the model resizes every crop to its input: checked above
            for domain, prep in (plan.get("preprocessing") or {}).items():
                if prep["image_size"] < smallest:
                    raise ConfigError(
                        f"preprocessing.image_size {prep['image_size']} (domain {domain!r}) "
                        f"is below what the backbone {cfg['backbone']!r} of {plan['run_id']} "
                        f"takes: at least {smallest} px")


def own_input_size(backbone: str) -> int | None:
    """The input a self-registering backbone resizes every crop to (None: the crops')."""
    from fer_da.models.backbones import build_taps, registered

    return build_taps(backbone).input_size if backbone in registered() else None


def check_batchnorm(backbone: str, run_id: str, setup: str) -> None:
    """AdaBN re-estimates batch-norm statistics: a backbone without any has none to adapt."""
    from fer_da.models.backbones import build_taps
    from fer_da.training.adabn import batchnorm_layers

    if not batchnorm_layers(build_taps(backbone)):
        raise ConfigError(f"{setup}.setup.methods: {run_id} is an AdaBN run, but the backbone "
                          f"{backbone!r} has no batch-normalisation layer to adapt (dlib's are "
                          "affine layers: a batch norm frozen into a scale); drop the adabn "
                          "methods or choose a backbone with batch norm (e.g. vgg11_slim_bn)")


def check_backbone(cfg: Mapping[str, Any], setup: str) -> int:
    """The backbone exists, its frozen stage (``freeze``) is one of its stages and a named
    weights file exists; returns the smallest input it takes."""
    from fer_da.models.backbones import build_taps, min_input_size

    where = f"{setup}.setup.training.%s (or training.%s)"
    try:
        smallest = min_input_size(cfg["backbone"])
    except ValueError as exc:
        raise ConfigError(f"{where % ('backbone', 'backbone')}: {exc}") from exc
    freeze = cfg.get("freeze", "none")
    if freeze != "none":
        stages = getattr(build_taps(cfg["backbone"]), "stage_names", None)
        if not stages or freeze not in stages:
            raise ConfigError(f"{where % ('freeze', 'freeze')}: {freeze!r} is not a stage of "
                              f"{cfg['backbone']!r} (its stages: {list(stages or [])}; "
                              "none freezes nothing)")
    size = cfg.get("input_size", "auto")
    if size != "auto" and int(size) < smallest:
        raise ConfigError(f"{where % ('input_size', 'input_size')}: {size} is below what "
                          f"{cfg['backbone']!r} takes: at least {smallest} px")
    weights = cfg.get("weights_file")
    if cfg.get("pretrained") and weights and not Path(str(weights)).is_file():
        raise ConfigError(f"{where % ('weights_file', 'weights_file')}: {weights} does not "
                          "exist")
    return smallest


def preflight(params: Mapping[str, Any], pipeline_namespaces: Iterable[str]) -> list[str]:
    """Every check above; returns the setups checked."""
    check_data(params)
    setups = setups_in(pipeline_namespaces, params)
    check_setups(params, setups)
    return setups
