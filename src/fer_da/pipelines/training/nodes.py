"""Training nodes, shared by every setup (baseline, joint, finetune, dann and the sibling
papers' jm, atf, ed2l, sna, hagan)."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from fer_da.facesets import FaceSet, content_digest
from fer_da.ingest import parse_domain_specs
from fer_da.labels import vocabulary
from fer_da.pipelines._types import CheckpointStore, DomainData, TrainedModel
from fer_da.preprocess.config import domain_configs
from fer_da.training.names import ADABN, ADVERSARIAL, METHODS, SOURCE_ONLY
from fer_da.validate import ConfigError, as_bool, as_float, as_str_list, check_keys

logger = logging.getLogger(__name__)
KINDS = ("baseline", "joint", "finetune", "dann", *SOURCE_ONLY)
SETUP_KEYS = {"baseline": ("kind", "name", "training"),
              "joint": ("kind", "name", "training", "unions", "reuse_baseline"),
              "finetune": ("kind", "name", "training", "init_from"),
              "dann": ("kind", "name", "training", "clamps", "clamp_modes", "methods"),
              # the sibling papers' methods: trained on the source like the baseline
              **{k: ("kind", "name", "training", "options") for k in SOURCE_ONLY}}


def _clamp(value: Any, key: str) -> float | None:
    """A clamp is a positive, finite number, or null for no clamping."""
    if value is None:
        return None
    return as_float(value, key, positive=True)


def _method_entry(entry: str, key: str) -> tuple[str, bool]:
    """``method`` or ``method+adabn`` (the method, scored with target batch-norm statistics);
    ``adabn`` alone is source-only training with target statistics."""
    method, plus, extra = entry.partition("+")
    if method == ADABN and not plus:
        return ADABN, True
    if method not in METHODS or (plus and extra != ADABN):
        raise ConfigError(f"{key} must be one of {(*METHODS, ADABN)}, optionally "
                          f"'<method>+adabn', got {entry!r}")
    return method, bool(plus)


def _clamp_modes(value: Any, key: str) -> list[str]:
    modes = as_str_list(value, key)
    bad = [m for m in modes if m not in ("fixed", "paper")]
    if bad or not modes:
        raise ConfigError(f"{key} must list fixed and/or paper, got {value!r}")
    return list(dict.fromkeys(modes))


def _adversarial_grid(method: str, clamps: list[float | None],
                      modes: list[str]) -> list[tuple[float | None, str]]:
    """(clamp, clamp mode) of each run of ``method``: the grid for DANN and CDAN+E, fixed
    only for confusion, one unclamped run for the others (and the erm_mixed control)."""
    if method not in ADVERSARIAL:
        return [(None, "fixed")]
    kept = ["fixed"] if method == "confusion" else modes
    return [(c, m) for c in clamps for m in kept]


def plan_runs(setup: dict[str, Any], domains: dict[str, Any], training: dict[str, Any],
              preprocessing: dict[str, Any] | None = None,
              job: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The runs of one setup, from its parameters and the declared domains.

    Each plan records the preprocessing of its labelled domains (``preprocessing``: the
    ``params:preprocessing`` defaults under each domain's own), which inference repeats.
    ``job.run`` (a run id of this setup) keeps that one run: one job of a grid
    (docs/scaling.md); a run id of another setup leaves this setup's runs alone.

    baseline: the source domain(s). joint: growing unions (``cumulative`` = the declared
    order, or explicit lists), less the source-only union, which is the baseline model
    (``reuse_baseline: false`` retrains it). finetune: one run per target, from the baseline model.
    dann: one run per adaptation method (``methods``, default the paper's ``dann``) and, for
    the adversarial ones, per clamp value and clamp mode (``clamp_modes``: ``fixed``, the
    default, and/or ``paper``; run ``<run>_paper``); labels of the source only.
    ``erm_mixed``: the control, source-only loss on the same aggregated batches. ``adabn``: the
    baseline's training, scored on each target with that target's batch-norm statistics;
    ``<method>+adabn`` (run ``<run>_adabn``): a method scored so.
    """
    from fer_da.training.config import RunPlan, TrainConfig
    from fer_da.training.objectives import MethodOptions

    kind = setup.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"<setup>.setup.kind must be one of {KINDS}, got {kind!r}")
    where = f"{setup.get('name', kind)}.setup"
    check_keys(setup, SETUP_KEYS[kind], where)
    cfg = TrainConfig.from_params(training, "training", **check_keys(
        setup.get("training"), TrainConfig.__dataclass_fields__, f"{where}.training"))
    specs = parse_domain_specs(domains)
    prep = ({n: c.to_dict() for n, c in domain_configs(
        preprocessing, {s.name: s.preprocessing for s in specs}).items()}
        if preprocessing is not None else {})
    names = tuple(s.name for s in specs)
    source = tuple(s.name for s in specs if s.role == "source")
    targets = tuple(s.name for s in specs if s.role == "target")
    name = setup.get("name", kind)
    runs: list[dict[str, Any]] = []
    options: dict[str, Any] = {}
    if kind in ("baseline", *SOURCE_ONLY):
        runs = [{"run": "+".join(source), "train": source,
                 "method": kind if kind in SOURCE_ONLY else "erm"}]
        if kind in SOURCE_ONLY:  # validated now: a typo fails before any training
            options = MethodOptions.from_params(setup.get("options"),
                                                f"{where}.options").to_dict()
    elif kind == "joint":
        unions = setup.get("unions", "cumulative")
        if unions == "cumulative":
            unions = [names[: k + 1] for k in range(len(names))]
        reuse = as_bool(setup.get("reuse_baseline", True), f"{where}.reuse_baseline")
        # the source-only union is the baseline model: Table I reuses it (no retraining)
        runs = [{"run": "+".join(u), "train": tuple(u)} for u in unions
                if not (reuse and set(u) == set(source))]
    elif kind == "finetune":
        base = setup.get("init_from", "baseline")
        runs = [{"run": t, "train": (t,), "init": f"{base}/{'+'.join(source)}"} for t in targets]
    elif kind == "dann":
        clamps = [_clamp(c, f"{where}.clamps") for c in (setup.get("clamps") or [None])]
        modes = _clamp_modes(setup.get("clamp_modes", ["fixed"]), f"{where}.clamp_modes")
        for entry in as_str_list(setup.get("methods", ["dann"]), f"{where}.methods"):
            method, target_bn = _method_entry(entry, f"{where}.methods[]")
            if method == ADABN:  # the baseline's training; target statistics at evaluation
                if cfg.select.startswith("target_"):
                    raise ConfigError(f"{where}.methods: adabn trains on the source alone, "
                                      f"so {where}.training.select must be source_val or "
                                      f"last, not {cfg.select!r}")
                runs.append({"run": ADABN, "train": source, "method": "erm",
                             "mode": "supervised", "target_bn": True})
                continue
            if method == "confusion" and "fixed" not in modes:
                raise ConfigError(f"{where}.methods: confusion exists in the fixed clamp mode "
                                  f"only (the paper's mode is DANN's); add fixed to "
                                  f"{where}.clamp_modes")
            for c, mode in _adversarial_grid(method, clamps, modes):
                suffix = f"clamp{c:g}" if c is not None else "noclamp"
                run = (suffix if method == "dann" else method if method not in ADVERSARIAL
                       else f"{method}_{suffix}")
                run += "_paper" if mode == "paper" else ""
                runs.append({"run": f"{run}_adabn" if target_bn else run, "train": names,
                             "labelled": source, "clamp": c, "method": method,
                             "clamp_mode": mode, "target_bn": target_bn})
    plans = []
    for seed in cfg.seeds:
        for r in runs:
            unknown = sorted(set(r["train"]) - set(names))
            if unknown:
                raise ValueError(f"{name}/{r['run']}: domains {unknown} are not declared")
            held = [d for d in r.get("labelled", r["train"])
                    if (prep.get(d) or {}).get("split", {}).get("mode") == "transductive"]
            if held:  # refused before any training (preflight plans every setup)
                raise ConfigError(f"{where}: run {r['run']} trains on the labels of {held}, "
                                  "whose split mode is transductive (every image is test); "
                                  f"set domains.{held[0]}.preprocessing.split.mode to "
                                  "another mode, or run --pipelines=adaptation")
            plans.append(RunPlan(
                setup=name, run=r["run"], seed=seed,
                mode=r.get("mode", "dann" if kind == "dann" else "supervised"),
                train_domains=tuple(r["train"]), labelled_domains=tuple(r.get("labelled",
                                                                               r["train"])),
                all_domains=names, clamp=r.get("clamp"),
                clamp_mode=r.get("clamp_mode", "fixed"),
                init_from=f"{r['init']}/seed{seed}" if r.get("init") else None,
                method=r.get("method", "erm"), config=cfg, options=options,
                preprocessing={d: prep[d] for d in r.get("labelled", r["train"])
                               if d in prep},
                target_bn=r.get("target_bn", False)).to_dict())
    if not plans:  # saved, an empty model version would hide every earlier one
        raise ConfigError(f"{where} plans no run (its methods, clamps, targets or "
                          "training.seeds are empty)")
    wanted = check_keys(job, ("run",), "job").get("run")
    if wanted and str(wanted).startswith(f"{name}/"):
        kept = [p for p in plans if p["run_id"] == wanted]
        if not kept:
            raise ConfigError(f"job.run {wanted!r} is not a run of {name}; its runs: "
                              f"{[p['run_id'] for p in plans]}")
        plans = kept
    return plans


def select_training_data(face_sets: dict[str, FaceSet],
                         plans: list[dict[str, Any]]) -> dict[str, list[DomainData]]:
    """Per run, the train split of its domains; unlabelled domains arrive without labels."""
    from fer_da.training.config import RunPlan
    from fer_da.training.data import training_view

    out, content = {}, content_digest(face_sets)
    for p in plans:
        plan = RunPlan.from_dict(p)
        out[plan.run_id] = training_view(face_sets, plan.train_domains, plan.labelled_domains,
                                         plan.seed, content)
    return out


def fit_autoencoders(training_data: dict[str, list[DomainData]],
                     plans: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per sna run, a small autoencoder on its labelled training faces (paper 002): the
    latent space in which semantic neighbours are made. Seeded by the run's seed."""
    from fer_da.devices import resolve_device
    from fer_da.models.autoencoder import fit_autoencoder
    from fer_da.training.config import RunPlan

    out = {}
    for p in plans:
        plan = RunPlan.from_dict(p)
        if plan.method != "sna":
            continue
        opts = plan.method_options
        faces = np.concatenate([d.images for d in training_data[plan.run_id] if d.labelled])
        state, code_std = fit_autoencoder(faces, opts.latent, opts.ae_epochs, plan.seed,
                                          resolve_device(plan.config.device),
                                          kind=opts.generator)
        out[plan.run_id] = {"state": state, "code_std": code_std}
    return out


def render_animated_characters(plans: list[dict[str, Any]], labels: dict[str, Any],
                               preprocessing: dict[str, Any],
                               characters: dict[str, Any] | None = None) -> dict[str, Any]:
    """HA-GAN's animated character set (paper 004): drawn by the synthetic renderer or read
    from FERG-DB (``hagan.characters``), at the faces' size, with every class of the
    ``options.characters`` identities the runs use."""
    from fer_da.datasets.characters import character_set
    from fer_da.training.config import RunPlan

    needed = max([RunPlan.from_dict(p).method_options.characters for p in plans] or [1])
    size = int(preprocessing.get("image_size", 48))
    return character_set(characters, list(vocabulary(labels)), size, needed).to_dict()


def train_models(
    training_data: dict[str, list[DomainData]],
    plans: list[dict[str, Any]],
    checkpoints: CheckpointStore,
    labels: dict[str, Any],
    init_models: dict[str, TrainedModel] | None = None,
    autoencoders: dict[str, dict[str, Any]] | None = None,
    characters: dict[str, Any] | None = None,
) -> tuple[dict[str, TrainedModel], pd.DataFrame]:
    """Train every planned run (resuming from checkpoints); returns models and histories."""
    from fer_da.datasets.characters import CharacterSet
    from fer_da.training.config import RunPlan
    from fer_da.training.hagan import train_hagan
    from fer_da.training.loop import train_run

    n_classes = len(vocabulary(labels))
    models, rows = {}, []
    for p in plans:
        plan = RunPlan.from_dict(p)
        init = None
        if plan.init_from:
            if not init_models or plan.init_from not in init_models:
                raise KeyError(f"{plan.run_id} starts from {plan.init_from}, which was not "
                               f"trained (available: {sorted(init_models or {})})")
            init = init_models[plan.init_from].state
        if plan.method == "hagan":
            if characters is None:
                raise ValueError(f"{plan.run_id}: hagan needs the render_characters node")
            trained = train_hagan(plan, training_data[plan.run_id], n_classes,
                                  CharacterSet.from_dict(characters), checkpoints)
        else:
            trained = train_run(plan, training_data[plan.run_id], n_classes, checkpoints,
                                init, autoencoder=(autoencoders or {}).get(plan.run_id))
        models[plan.run_id] = replace(trained, classes=list(vocabulary(labels)))
        rows += [{"setup": plan.setup, "run": plan.run, "seed": plan.seed,
                  "run_id": plan.run_id, **h} for h in trained.history]
    return models, pd.DataFrame(rows)
