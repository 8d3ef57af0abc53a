"""Configuration checked before a run does any work.

Every mistake a run would otherwise meet late (after ingestion, preprocessing or training,
often with an error naming nothing) fails here, at the start, naming the key and what it
accepts. Runs from a hook (``fer_da.hooks.PreflightHook``) before the first node; every
problem found is collected and raised as one :class:`ConfigError` listing them all.

The rule (docs/bad_inputs.md, "The preflight"):

- **unknown keys, everywhere, always**: the top level (against the parameters some
  registered pipeline reads), every section and its nested sections, whichever pipeline
  runs: a typo is a typo, and finding one is cheap;
- **values, for the sections the pipeline reads**: types, finiteness and sane ranges of
  ``domains``, ``labels``, ``preprocessing``, ``training``, ``evaluation``, ``inference``,
  ``reporting`` and ``job``; for the setups the pipeline trains, their plans, device,
  backbone (its name, timm's included), frozen stage, input size, weights file (exists, is a
  file, its header reads) and HA-GAN's characters (a FERG-DB root listed, not read).

The key lists come from the readers of each section (their dataclasses and ``*_KEYS``
tuples). torch is imported only when the pipeline trains.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fer_da.preprocess.splits import SPLITS
from fer_da.training.options import TTA
from fer_da.training.plans import JOB_KEYS
from fer_da.validate import ConfigError, as_bool, as_choice, as_str_list, check_keys, unknown_keys

EVALUATION_KEYS = ("splits", "allow_other_faceset", "tta")
DATA_SECTIONS = ("domains", "labels", "preprocessing", "evaluation")


def evaluation_splits(evaluation: Mapping[str, Any] | None) -> list[str]:
    """``evaluation.splits`` (default ``[test]``): known split names, at least one."""
    splits = as_str_list((evaluation or {}).get("splits", ["test"]), "evaluation.splits")
    unknown = [s for s in splits if s not in SPLITS]
    if unknown or not splits:
        raise ConfigError(f"evaluation.splits must list split names among {list(SPLITS)}, "
                          f"got {splits!r}" + (f" (unknown: {unknown})" if unknown else ""))
    return splits


def evaluation_config(evaluation: Mapping[str, Any] | None) -> dict[str, Any]:
    """``params:evaluation`` checked: its keys, ``tta``, ``allow_other_faceset``, splits."""
    cfg = check_keys(evaluation, EVALUATION_KEYS, "evaluation")
    as_choice(cfg.get("tta", "none"), "evaluation.tta", TTA)
    as_bool(cfg.get("allow_other_faceset", False), "evaluation.allow_other_faceset")
    evaluation_splits(cfg)
    return cfg


# ---------------------------------------------------------------- unknown keys
def _preprocessing_unknown(raw: Any, where: str) -> list[str]:
    from fer_da.preprocess.config import DetectorConfig, PreprocessConfig, SplitConfig

    out = unknown_keys(raw, PreprocessConfig.__dataclass_fields__, where)
    if isinstance(raw, Mapping):
        out += unknown_keys(raw.get("detector"), DetectorConfig.__dataclass_fields__,
                            f"{where}.detector")
        out += unknown_keys(raw.get("split"), SplitConfig.__dataclass_fields__, f"{where}.split")
    return out


def _training_unknown(raw: Any, where: str) -> list[str]:
    from fer_da.training.config import TrainConfig
    from fer_da.training.options import AugmentConfig

    out = unknown_keys(raw, TrainConfig.__dataclass_fields__, where)
    if isinstance(raw, Mapping):
        out += unknown_keys(raw.get("augment"), AugmentConfig.__dataclass_fields__,
                            f"{where}.augment")
    return out


def _domains_unknown(domains: Any) -> list[str]:
    from fer_da.ingest.core import DOMAIN_KEYS
    from fer_da.ingest.parsers import LAYOUT_OPTIONS

    out: list[str] = []
    for name, body in (domains or {}).items() if isinstance(domains, Mapping) else ():
        where = f"domains.{name}"
        out += unknown_keys(body, DOMAIN_KEYS, where)
        if isinstance(body, Mapping):
            if body.get("layout") in LAYOUT_OPTIONS:
                out += unknown_keys(body.get("options"), LAYOUT_OPTIONS[body["layout"]],
                                    f"{where}.options")
            out += _preprocessing_unknown(body.get("preprocessing"), f"{where}.preprocessing")
    return out


def _setup_unknown(name: str, group: Mapping[str, Any], children: set[str] | None
                   ) -> list[str]:
    """A setup group: its own keys (those the pipelines read), its setup's keys (by kind),
    the setup's training and options, and HA-GAN's characters."""
    from fer_da.ingest.characters import CHARACTER_KEYS
    from fer_da.methods.registry import METHODS, SETUPS

    out = unknown_keys(group, children, name) if children else []
    setup = group.get("setup")
    kind = setup.get("kind") if isinstance(setup, Mapping) else None
    if kind in SETUPS:
        out += unknown_keys(setup, SETUPS[kind].keys, f"{name}.setup")
        out += _training_unknown(setup.get("training"), f"{name}.setup.training")
        if "options" in SETUPS[kind].keys:  # a sibling method reads its own options
            out += unknown_keys(setup.get("options"), METHODS[kind].options,
                                f"{name}.setup.options")
    out += unknown_keys(group.get("characters"), CHARACTER_KEYS, f"{name}.characters")
    return out


def section_readers() -> dict[str, Callable[[Any], list[str]]]:
    """Per top-level section, the unknown keys under it (from each reader's own keys)."""
    from fer_da.inference.config import INFERENCE_KEYS
    from fer_da.labels import LABEL_KEYS
    from fer_da.reporting.config import REPORTING_KEYS

    return {"domains": _domains_unknown,
            "labels": lambda v: unknown_keys(v, LABEL_KEYS, "labels"),
            "preprocessing": lambda v: _preprocessing_unknown(v, "preprocessing"),
            "training": lambda v: _training_unknown(v, "training"),
            "evaluation": lambda v: unknown_keys(v, EVALUATION_KEYS, "evaluation"),
            "inference": lambda v: unknown_keys(v, INFERENCE_KEYS, "inference"),
            "reporting": lambda v: unknown_keys(v, REPORTING_KEYS, "reporting"),
            "job": lambda v: unknown_keys(v, JOB_KEYS, "job")}


def unknown_parameters(params: Mapping[str, Any], known: Iterable[str] | None
                       ) -> dict[str, list[str]]:
    """Every unknown key, at any depth, per top-level key ("": the top level itself): the
    top level against ``known`` (the dotted parameters the registered pipelines read, e.g.
    ``training``, ``hagan.characters``; None: not checked), each section against its
    reader's keys."""
    children: dict[str, set[str]] = {}
    for dotted in known or ():
        top, _, child = dotted.partition(".")
        children.setdefault(top, set()).update([child] if child else [])
    out = {"": unknown_keys({k: v for k, v in params.items() if not str(k).startswith("_")},
                            children, "") if known is not None else []}
    readers = section_readers()
    for name, value in params.items():
        if name in readers:
            out[name] = readers[name](value)
        elif isinstance(value, Mapping) and isinstance(value.get("setup"), Mapping):
            out[name] = _setup_unknown(name, value, children.get(name))
    return {k: v for k, v in out.items() if v}


# ---------------------------------------------------------------- values
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
    """Each setup's checks (:func:`check_setup`); raises at the first setup at fault."""
    for name in setups:
        check_setup(params, name)


def check_setup(params: Mapping[str, Any], name: str) -> None:
    """One setup's plans as ``plan_runs`` makes them, then what only a trained model would
    reveal: the device exists, the backbone and its weights, the image size fits the
    backbone, HA-GAN's character set."""
    from fer_da.devices import check_device
    from fer_da.training.plans import plan_runs

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
    hagan = [p for p in plans if p["method"] == "hagan"]
    if hagan:
        from fer_da.ingest.characters import character_options

        needed = max(int((p.get("options") or {}).get("characters", 1)) for p in hagan)
        character_options(params[name].get("characters"), needed, f"{name}.characters")


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
    """The backbone exists (a ``timm:`` name among timm's models), its frozen stage
    (``freeze``) is one of its stages and a named weights file is a readable one; returns
    the smallest input it takes."""
    from fer_da.models.backbones import build_taps, min_input_size
    from fer_da.models.weights import check_weights_file

    where = f"{setup}.setup.training.%s (or training.%s)"
    try:
        smallest = min_input_size(cfg["backbone"])
        if cfg["backbone"].startswith("timm:"):
            from fer_da.models.backbone_timm import check_timm_name

            check_timm_name(cfg["backbone"].removeprefix("timm:"))
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
    if cfg.get("pretrained") and cfg.get("weights_file"):
        try:
            check_weights_file(cfg["weights_file"], where % ("weights_file", "weights_file"))
        except (OSError, ValueError) as exc:
            raise ConfigError(str(exc)) from exc
    return smallest


def check_sections(params: Mapping[str, Any], setups: list[str]
                   ) -> dict[str, Callable[[], Any]]:
    """The value checks of the sections that are no setup's, as thunks (one per section)."""
    from fer_da.reporting.config import reporting_config
    from fer_da.training.config import TrainConfig

    return {"training": lambda: TrainConfig.from_params(params.get("training") or {}),
            "evaluation": lambda: evaluation_config(params.get("evaluation")),
            "inference": lambda: check_inference(params),
            "reporting": lambda: reporting_config(params.get("reporting")),
            "job": lambda: check_job(params.get("job"), setups)}


def check_inference(params: Mapping[str, Any]) -> None:
    """``inference``: its values, and the setup and run it serves name a setup."""
    from fer_da.inference.config import InferenceConfig

    cfg = params.get("inference") or {}
    InferenceConfig.from_params(cfg)
    names = sorted(n for n, v in params.items()
                   if isinstance(v, Mapping) and isinstance(v.get("setup"), Mapping))
    for key in ("setup", "run_id"):
        value = cfg.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or value.split("/")[0] not in names:
            raise ConfigError(f"inference.{key} must name a setup among {names}"
                              + (" as <setup>/<run>/seed<n>" if key == "run_id" else "")
                              + f", got {value!r}")


def check_job(job: Any, setups: list[str]) -> None:
    """``job.run``: null, or a run id of a setup this pipeline trains (else that setup's
    runs would all train: one job of a grid would be the whole grid)."""
    wanted = check_keys(job, JOB_KEYS, "job").get("run")
    if wanted is not None and not isinstance(wanted, str):
        raise ConfigError(f"job.run must be a run id (<setup>/<run>/seed<n>) or null, got "
                          f"{wanted!r}")
    if wanted is None or not setups:
        return
    if wanted.split("/")[0] not in setups:
        raise ConfigError(f"job.run {wanted!r} is not a run id (<setup>/<run>/seed<n>) of a "
                          f"setup this pipeline trains ({setups}); every run of those setups "
                          "would train. Give one of their run ids (python -m fer_da.grid "
                          "lists them) or job.run: null")


def _attempt(problems: list[str], check: Callable[[], Any]) -> bool:
    """Run one check; its error joins ``problems``. True when it passed."""
    try:
        check()
    except (ValueError, OSError) as exc:  # ConfigError, and readers' own errors
        problems.append(str(exc))
        return False
    return True


def preflight(params: Mapping[str, Any], pipeline_namespaces: Iterable[str],
              reads: Iterable[str] | None = None, known: Iterable[str] | None = None
              ) -> list[str]:
    """Every check above; returns the setups checked. ``reads``: the dotted parameters the
    pipeline reads (None: all), whose sections' values are checked; ``known``: those any
    registered pipeline reads, against which the top level is checked (None: not checked).
    Raises one :class:`ConfigError` listing every problem found; a section with unknown
    keys, or whose values fail, is not checked further (nor the setups that use it)."""
    tops = None if reads is None else {r.split(".")[0] for r in reads}
    setups = setups_in(pipeline_namespaces, params)
    unknown = unknown_parameters(params, known)
    problems = [line for lines in unknown.values() for line in lines]
    failed = set(unknown)
    if ((tops is None or tops & set(DATA_SECTIONS)) and not failed & set(DATA_SECTIONS)
            and not _attempt(problems, lambda: check_data(params))):
        failed.add("domains")
    for section, check in check_sections(params, setups).items():
        if ((tops is None or section in tops) and section not in failed
                and not _attempt(problems, check)):
            failed.add(section)
    if not failed & {"training", "domains", "preprocessing", "labels", "job"}:
        for name in setups:
            if name not in failed:
                _attempt(problems, lambda name=name: check_setup(params, name))
    if problems:
        raise ConfigError(f"{len(problems)} configuration problem(s), found before any "
                          "work (nothing ran):\n- " + "\n- ".join(dict.fromkeys(problems)))
    return setups
