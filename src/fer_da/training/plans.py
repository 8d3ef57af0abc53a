"""How a setup becomes runs: one function per setup kind (``SetupSpec.kind``), then one
``RunPlan`` per run and seed. Library code (no Kedro): the training pipeline, the preflight,
the grid and the benchmarks all plan through ``plan_runs``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fer_da.ingest import parse_domain_specs
from fer_da.methods.registry import ADABN, CONTROL, SETUPS, adaptation_methods
from fer_da.methods.registry import method as method_spec
from fer_da.preprocess.config import domain_configs
from fer_da.validate import ConfigError, as_bool, as_float, as_str_list, check_keys

JOB_KEYS = ("run",)  # params:job (one run of a grid: docs/scaling.md)
Run = dict[str, Any]  # run name, train/labelled domains, method, clamp, ...


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
    if method not in adaptation_methods() or (plus and extra != ADABN):
        raise ConfigError(f"{key} must be one of {(*adaptation_methods(), ADABN)}, "
                          f"optionally '<method>+adabn', got {entry!r}")
    return method, bool(plus)


def _clamp_modes(value: Any, key: str) -> list[str]:
    modes = as_str_list(value, key)
    bad = [m for m in modes if m not in ("fixed", "paper")]
    if bad or not modes:
        raise ConfigError(f"{key} must list fixed and/or paper, got {value!r}")
    return list(dict.fromkeys(modes))


def _adversarial_grid(method: str, clamps: list[float | None],
                      modes: list[str]) -> list[tuple[float | None, str]]:
    """(clamp, clamp mode) of each run of ``method``: the grid for the adversarial methods
    (in the clamp modes they exist in), one unclamped run for the others."""
    spec = method_spec(method)
    if not spec.adversarial:
        return [(None, "fixed")]
    return [(c, m) for c in clamps for m in modes if m in spec.clamp_modes]


def _run_name(method: str, clamp: float | None, mode: str, target_bn: bool) -> str:
    spec = method_spec(method)
    name = method
    if spec.run_prefix is not None:
        name = spec.run_prefix + (f"clamp{clamp:g}" if clamp is not None else "noclamp")
    name += "_paper" if mode == "paper" else ""
    return f"{name}_adabn" if target_bn else name


def supervised_runs(setup: Mapping[str, Any], where: str, names: tuple[str, ...],
                    source: tuple[str, ...], targets: tuple[str, ...], cfg: Any) -> list[Run]:
    """baseline: the source domain(s)."""
    return [{"run": "+".join(source), "train": source, "method": "erm"}]


def method_runs(setup: Mapping[str, Any], where: str, names: tuple[str, ...],
                source: tuple[str, ...], targets: tuple[str, ...], cfg: Any) -> list[Run]:
    """A sibling paper's method: trained on the source, like the baseline."""
    kind = setup["kind"]
    return [{"run": "+".join(source), "train": source, "method": kind}]


def joint_runs(setup: Mapping[str, Any], where: str, names: tuple[str, ...],
               source: tuple[str, ...], targets: tuple[str, ...], cfg: Any) -> list[Run]:
    """Growing unions (``cumulative`` = the declared order, or explicit lists), less the
    source-only union, which is the baseline model (``reuse_baseline: false`` retrains)."""
    unions = setup.get("unions", "cumulative")
    if unions == "cumulative":
        unions = [names[: k + 1] for k in range(len(names))]
    reuse = as_bool(setup.get("reuse_baseline", True), f"{where}.reuse_baseline")
    return [{"run": "+".join(u), "train": tuple(u)} for u in unions
            if not (reuse and set(u) == set(source))]


def finetune_runs(setup: Mapping[str, Any], where: str, names: tuple[str, ...],
                  source: tuple[str, ...], targets: tuple[str, ...], cfg: Any) -> list[Run]:
    """One run per target, from the baseline model (``init_from``)."""
    base = setup.get("init_from", "baseline")
    return [{"run": t, "train": (t,), "init": f"{base}/{'+'.join(source)}"} for t in targets]


def _adabn_run(where: str, cfg: Any, source: tuple[str, ...]) -> Run:
    return {"run": ADABN, "train": source, "method": "erm", "mode": "supervised",
            "target_bn": True}


def _refuse_target_select(runs: list[Run], kind: str, where: str, cfg: Any) -> None:
    """A run that trains without an unlabelled domain cannot select by a validator that
    reads one (refused before any training, naming the key)."""
    from fer_da.training.options import TARGET_VALIDATORS

    alone = [r["run"] for r in runs if r.get("mode", "dann" if kind == "adaptation"
                                             else "supervised") == "supervised"]
    if alone and cfg.select in TARGET_VALIDATORS:
        raise ConfigError(f"{where}: {alone[0]} trains on labelled domains alone (no "
                          f"unlabelled target to read), so {where}.training.select must be "
                          f"source_val or last, not {cfg.select!r} (set it for this setup "
                          f"in {where}.training)")


def adaptation_runs(setup: Mapping[str, Any], where: str, names: tuple[str, ...],
                    source: tuple[str, ...], targets: tuple[str, ...], cfg: Any) -> list[Run]:
    """One run per adaptation method (``methods``, default the paper's ``dann``) and, for
    the adversarial ones, per clamp value and clamp mode; labels of the source only."""
    clamps = [_clamp(c, f"{where}.clamps") for c in (setup.get("clamps") or [None])]
    modes = _clamp_modes(setup.get("clamp_modes", ["fixed"]), f"{where}.clamp_modes")
    runs = []
    for entry in as_str_list(setup.get("methods", ["dann"]), f"{where}.methods"):
        method, target_bn = _method_entry(entry, f"{where}.methods[]")
        if method == ADABN:  # the baseline's training; target statistics at evaluation
            runs.append(_adabn_run(where, cfg, source))
            continue
        spec = method_spec(method)
        if spec.adversarial and not set(modes) & set(spec.clamp_modes):
            raise ConfigError(f"{where}.methods: {method} exists in the "
                              f"{'/'.join(spec.clamp_modes)} clamp mode only; add "
                              f"{spec.clamp_modes[0]} to {where}.clamp_modes")
        runs += [{"run": _run_name(method, c, mode, target_bn), "train": names,
                  "labelled": source, "clamp": c, "method": method, "clamp_mode": mode,
                  "target_bn": target_bn}
                 for c, mode in _adversarial_grid(method, clamps, modes)]
    return _with_adabn_twin(runs, names, source)


def _with_adabn_twin(runs: list[Run], names: tuple[str, ...], source: tuple[str, ...]
                     ) -> list[Run]:
    """A ``<method>+adabn`` run's control is ``erm_mixed`` scored with target statistics
    too (``erm_mixed_adabn``): planned whenever such a run is, so that the paired
    comparison isolates the method's term from AdaBN's own effect."""
    twin = _run_name(CONTROL, None, "fixed", True)
    needs = any(r.get("target_bn") and r.get("method") not in ("erm", CONTROL) for r in runs)
    if not needs or any(r["run"] == twin for r in runs):
        return runs
    return [*runs, {"run": twin, "train": names, "labelled": source, "clamp": None,
                    "method": CONTROL, "clamp_mode": "fixed", "target_bn": True}]


KINDS: Mapping[str, Callable[..., list[Run]]] = {
    "supervised": supervised_runs, "joint": joint_runs, "finetune": finetune_runs,
    "adaptation": adaptation_runs, "method": method_runs}


def _setup_spec(setup: Mapping[str, Any]) -> Any:
    kind = setup.get("kind")
    if kind not in SETUPS:
        raise ConfigError(f"<setup>.setup.kind must be one of {tuple(SETUPS)}, got {kind!r}")
    return SETUPS[kind]


def _options(setup: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A sibling method's options, validated now: a typo fails before any training."""
    from fer_da.methods.options import MethodOptions

    spec = method_spec(setup["kind"])
    return MethodOptions.from_params(setup.get("options"), f"{where}.options",
                                     spec.options).to_dict()


def _refuse_transductive(run: Run, prep: Mapping[str, Any], where: str) -> None:
    held = [d for d in run.get("labelled", run["train"])
            if (prep.get(d) or {}).get("split", {}).get("mode") == "transductive"]
    if held:  # refused before any training (preflight plans every setup)
        raise ConfigError(f"{where}: run {run['run']} trains on the labels of {held}, whose "
                          "split mode is transductive (every image is test); set "
                          f"domains.{held[0]}.preprocessing.split.mode to another mode, or "
                          "run --pipelines=adaptation")


def _plan(name: str, kind: str, run: Run, seed: int, names: tuple[str, ...], cfg: Any,
          options: dict[str, Any], prep: Mapping[str, Any]) -> dict[str, Any]:
    from fer_da.training.config import RunPlan

    return RunPlan(
        setup=name, run=run["run"], seed=seed,
        mode=run.get("mode", "dann" if kind == "adaptation" else "supervised"),
        train_domains=tuple(run["train"]),
        labelled_domains=tuple(run.get("labelled", run["train"])),
        all_domains=names, clamp=run.get("clamp"), clamp_mode=run.get("clamp_mode", "fixed"),
        init_from=f"{run['init']}/seed{seed}" if run.get("init") else None,
        method=run.get("method", "erm"), config=cfg, options=options,
        preprocessing={d: prep[d] for d in run.get("labelled", run["train"]) if d in prep},
        target_bn=run.get("target_bn", False)).to_dict()


def _only_job(plans: list[dict[str, Any]], name: str, job: Any) -> list[dict[str, Any]]:
    """``job.run`` (a run id of this setup) keeps that one run: one job of a grid
    (docs/scaling.md); a run id of another setup leaves this setup's runs alone."""
    wanted = check_keys(job, JOB_KEYS, "job").get("run")
    if not (wanted and str(wanted).startswith(f"{name}/")):
        return plans
    kept = [p for p in plans if p["run_id"] == wanted]
    if not kept:
        raise ConfigError(f"job.run {wanted!r} is not a run of {name}; its runs: "
                          f"{[p['run_id'] for p in plans]}")
    return kept


def plan_runs(setup: dict[str, Any], domains: dict[str, Any], training: dict[str, Any],
              preprocessing: dict[str, Any] | None = None,
              job: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The runs of one setup, from its parameters and the declared domains (the setup
    kinds above; ``erm_mixed``, ``adabn`` and ``<method>+adabn`` in docs/training.md).

    Each plan records the preprocessing of its labelled domains (``preprocessing``: the
    ``params:preprocessing`` defaults under each domain's own), which inference repeats.
    """
    from fer_da.training.config import TrainConfig

    spec = _setup_spec(setup)
    name = setup.get("name", spec.name)
    where = f"{name}.setup"
    check_keys(setup, spec.keys, where)
    cfg = TrainConfig.from_params(training, "training", **check_keys(
        setup.get("training"), TrainConfig.__dataclass_fields__, f"{where}.training"))
    specs = parse_domain_specs(domains)
    prep = ({n: c.to_dict() for n, c in domain_configs(
        preprocessing, {s.name: s.preprocessing for s in specs}).items()}
        if preprocessing is not None else {})
    names = tuple(s.name for s in specs)
    source = tuple(s.name for s in specs if s.role == "source")
    targets = tuple(s.name for s in specs if s.role == "target")
    runs = KINDS[spec.kind](setup, where, names, source, targets, cfg)
    _refuse_target_select(runs, spec.kind, where, cfg)
    options = _options(setup, where) if spec.kind == "method" else {}
    for r in runs:
        unknown = sorted(set(r["train"]) - set(names))
        if unknown:
            raise ValueError(f"{name}/{r['run']}: domains {unknown} are not declared")
        _refuse_transductive(r, prep, where)
    plans = [_plan(name, spec.kind, r, seed, names, cfg, options, prep)
             for seed in cfg.seeds for r in runs]
    if not plans:  # saved, an empty model version would hide every earlier one
        raise ConfigError(f"{where} plans no run (its methods, clamps, targets or "
                          "training.seeds are empty)")
    return _only_job(plans, name, job)
