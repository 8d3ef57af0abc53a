"""Source-only against every adaptation method on real faces, both directions, 3 seeds.

    uv run python benchmarks/realdata.py                 # FER2013 -> SFEW and SFEW -> FER2013
    uv run python benchmarks/realdata.py --pairs fer2013:sfew --seeds 0
    uv run python benchmarks/realdata.py --epochs sfew=40   # epochs when sfew is the source
    uv run python benchmarks/realdata.py --setups baseline,ed2l,sna,hagan --pairs fer2013:sfew
    uv run python benchmarks/realdata.py --pairs fer2013:sfew --max-train 10000 --methods dann
    uv run python benchmarks/realdata.py --pairs sfew:fer2013 --adapted-select target_im
    uv run python benchmarks/realdata.py --pairs fer2013:sfew --max-train 10000 \
        --methods adabn,dann+adabn          # AdaBN alone and on DANN (docs/training.md)
    uv run python benchmarks/realdata.py --methods erm_mixed,dann,cdan_e,confusion \
        --clamp-modes fixed,paper           # the live adversary against both controls
    uv run python benchmarks/realdata.py --validators source_val,target_entropy,target_im,\
        snd,bnm,class_ami,dev               # each validator's picks against the oracle's

Runs ``kedro run --env realbench --pipelines=dann`` and ``--pipelines=baseline`` (or the
``--setups``) in-process for each direction (the roles swapped with runtime parameters; every
setup trained for the run's epochs: one labelled-source budget, HA-GAN's 60 of conf/base
included), then prints, per target, the
source-only and adapted balanced accuracy (mean ± std over seeds) and the paired difference
with its 95 % interval against source-only and against ``erm_mixed`` (when listed), then per
run the source's own test accuracy, the proxy A-distance between source and target test
features and the adversary's diagnostics (domain accuracy, majority share, collapsed
epochs). Needs ../shared/realdata (local benchmarks only; never used by the tests).
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
logger = logging.getLogger("benchmark")


def run_direction(source: str, target: str, seeds: list[int], env: str,
                  epochs: int | None = None,
                  setups: tuple[str, ...] = ("baseline", "dann"),
                  max_train: int | None = None, methods: list[str] | None = None,
                  adapted_select: str | None = None,
                  clamp_modes: list[str] | None = None,
                  training: dict | None = None, extra: dict | None = None) -> dict:
    import mlflow
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(ROOT)
    params = {"domains": {source: {"role": "source"}, target: {"role": "target"}},
              "training": {**(training or {}), "seeds": seeds,
                           **({"epochs": epochs} if epochs else {})}}
    # one labelled-source budget: a setup whose conf/base sets its own epochs (HA-GAN: 60 on
    # the synthetic default) gets the run's epochs here, as the baseline does
    budget = epochs or env_epochs(env)
    for setup in setups:
        if setup not in ("baseline", "dann"):
            params[setup] = {"setup": {"training": {"epochs": budget}}}
    if max_train:  # the source's training split, stratified subsample (split.max_train)
        params["domains"][source]["preprocessing"] = {"split": {"max_train": max_train}}
    if methods:
        params["dann"] = {"setup": {"methods": methods}}
    if clamp_modes:
        params.setdefault("dann", {}).setdefault("setup", {})["clamp_modes"] = clamp_modes
    if (training or {}).get("validators"):  # the selection study: the adaptation runs
        params.setdefault("dann", {}).setdefault("setup", {}).setdefault("training", {})[
            "validators"] = training["validators"]
        params["training"].pop("validators")
    if adapted_select:  # the adaptation runs' own epoch-selection criterion (no target label)
        params.setdefault("dann", {}).setdefault("setup", {}).setdefault("training", {})[
            "select"] = adapted_select
    params = merged(params, extra or {})
    start, now = time.perf_counter(), time.time()
    for pipeline in setups:
        with KedroSession.create(ROOT, env=env, runtime_params=params) as session:
            session.run(pipeline_names=[pipeline])
        while mlflow.active_run():  # one MLflow run per session, never one across directions
            mlflow.end_run()
    reports = env_data_root(env) / "08_reporting"
    outputs = env_data_root(env) / "07_model_output"
    out: dict = {s: pd.read_csv(reports / f"{s}_metrics.csv") for s in setups}
    out["seconds"] = time.perf_counter() - start
    out["extra"] = {"history": {s: pd.read_csv(outputs / f"{s}_history.csv") for s in setups},
                    "adist": a_distances(outputs, setups, source, target)}
    trace = reports / "dann_selection_trace.csv"
    if "dann" in setups and trace.exists() and trace.stat().st_mtime >= now - 1:
        out["extra"]["trace"] = pd.read_csv(trace)  # written by this run (validators)
    return out


def env_data_root(env: str) -> Path:
    """Where the env writes (``data_root`` of conf/<env>/globals.yml, else ``data``)."""
    import yaml

    path = ROOT / "conf" / env / "globals.yml"
    root = (yaml.safe_load(path.read_text()) or {}).get("data_root") if path.exists() else None
    return ROOT / (root or "data")


def env_epochs(env: str) -> int:
    """``training.epochs`` of the benchmark's environment (else conf/base's)."""
    import yaml

    for folder in (env, "base"):
        for path in sorted((ROOT / "conf" / folder).glob("parameters*.yml")):
            training = (yaml.safe_load(path.read_text()) or {}).get("training") or {}
            if "epochs" in training:
                return int(training["epochs"])
    raise KeyError(f"no training.epochs in conf/{env} or conf/base")


def a_distances(outputs: Path, setups: tuple[str, ...], source: str,
                target: str) -> pd.DataFrame:
    """Proxy A-distance between the source's and the target's test features, per run id
    (strong probe C=1 and weak probe C=1e-4; reporting/adistance.py)."""
    from fer_da.reporting.adistance import proxy_a_distance

    rows = []
    for setup in setups:
        preds = pd.read_parquet(outputs / f"{setup}_predictions.parquet")
        cols = [c for c in preds.columns if c.startswith("f") and c[1:].isdigit()]
        for run_id, p in preds.groupby("run_id", sort=True):
            src = p[p["eval_domain"] == source][cols].to_numpy()
            tgt = p[p["eval_domain"] == target][cols].to_numpy()
            rows.append({"run_id": run_id, "a_distance": proxy_a_distance(src, tgt, c=1.0),
                         "a_distance_weak": proxy_a_distance(src, tgt, c=1e-4)})
    return pd.DataFrame(rows)


def _runs(result: dict) -> pd.DataFrame:
    """Every run's metrics, with ``run`` = the dann setup's run name or the setup's name."""
    return pd.concat([f.assign(run=f["run"] if name == "dann" else name)
                      for name, f in result.items() if name not in ("seconds", "extra")],
                     ignore_index=True)


def summarise(source: str, target: str, result: dict) -> str:
    from fer_da.reporting.comparisons import paired_with_controls
    from fer_da.reporting.mechanisms import collapse_summary

    lines = [f"\n== {source} -> {target} ({result['seconds'] / 60:.1f} min)"]
    runs = _runs(result)
    adapted = runs[runs["setup"] != "baseline"]
    for metric in ("balanced_accuracy", "accuracy", "macro_f1") if len(adapted) else ():
        table = paired_with_controls(result["baseline"], adapted, metric)
        lines.append(f"-- {metric} on {target}'s test split, %, paired by seed")
        for r in table.to_dict("records"):
            lines.append(
                f"  {r['run']:>20} vs {r['control']:<11}: control {r['source_only']:5.1f} ± "
                f"{r['source_only_std']:4.1f}   run {r['adapted']:5.1f} ± "
                f"{r['adapted_std']:4.1f}   diff {r['diff']:+5.1f} ± {r['diff_std']:4.1f} "
                f"[{r['ci_low']:+5.1f}, {r['ci_high']:+5.1f}]  ({r['seeds']} seeds)")
    own = runs[(runs["eval_domain"] == source) & (runs["split"] == "test")]
    extra = result.get("extra", {})
    adist = extra.get("adist", pd.DataFrame(columns=["run_id", "a_distance",
                                                     "a_distance_weak"]))
    history = pd.concat(list(extra.get("history", {}).values()) or [pd.DataFrame()],
                        ignore_index=True)
    dead = collapse_summary(history).set_index("run_id") if len(history) else pd.DataFrame()
    lines.append(f"-- per run: {source}'s own test split (%), proxy A-distance "
                 f"{source}/{target} test features (C=1 | C=1e-4), adversary (last epoch)")
    for run, g in own.groupby("run", sort=False):
        ids = set(g["run_id"])
        a = adist[adist["run_id"].isin(ids)]
        text = (f"  {run:>20}: acc {g['accuracy'].mean() * 100:5.1f} ± "
                f"{g['accuracy'].std() * 100:4.1f}  bal {g['balanced_accuracy'].mean() * 100:5.1f}"
                f" ± {g['balanced_accuracy'].std() * 100:4.1f}   A {a['a_distance'].mean():.2f}"
                f" | {a['a_distance_weak'].mean():.2f}")
        d = dead[dead.index.isin(ids)] if len(dead) else dead
        if len(d):
            flagged = sum(bool(str(e)) for e in d["collapsed_epochs"].fillna(""))
            text += (f"   dmn-acc {d['last_dmn_acc'].mean():.3f} majority "
                     f"{d['last_majority'].mean():.2f} clamped {d['last_clamped_frac'].mean():.2f}"
                     f"  collapsed in {flagged}/{len(d)} seeds"
                     + (f" ({', '.join(sorted(set(d['reasons']) - {''}))})" if flagged else ""))
        lines.append(text)
    if "trace" in extra:
        lines += selection_lines(extra["history"]["dann"], extra["trace"])
    return "\n".join(lines)


def selection_lines(history: pd.DataFrame, trace: pd.DataFrame) -> list[str]:
    """Each validator's picks against the oracle's (runs trained with validators)."""
    from fer_da.reporting.selection_study import sweep_choice, validator_picks, validator_summary

    picks = validator_picks(history, trace)
    lines = ["-- checkpoint selection without target labels: per validator, the target test "
             "accuracy (%) of the epochs it keeps, the oracle's, the gap (points), "
             "Spearman's rho over the epochs"]
    for r in validator_summary(picks).to_dict("records"):
        lines.append(f"  {r['validator']:>15} {r['eval_domain']:>12}: pick {r['accuracy']:5.1f}"
                     f"  oracle {r['oracle_accuracy']:5.1f}  gap {r['gap']:4.1f} ± "
                     f"{r['gap_std']:4.1f}  rho {r['spearman']:+.2f}  ({r['runs']} runs)")
    per_run = picks.groupby(["run", "validator"], sort=False).agg(
        acc=("accuracy", "mean"), sd=("accuracy", "std"), gap=("gap", "mean"),
        rho=("spearman", "mean"))
    lines.append("-- per adaptation method (mean over seeds): pick accuracy, gap, rho")
    for (run, name), r in per_run.iterrows():
        lines.append(f"  {run:>20} {name:>15}: {r['acc']:5.1f} ± {r['sd']:4.1f}  gap "
                     f"{r['gap']:4.1f}  rho {r['rho']:+.2f}")
    sweep = sweep_choice(history, trace)
    lines.append("-- the sweep (every adaptation run and epoch of a seed) chosen by each "
                 "validator against the oracle's (mean over seeds)")
    for name, g in sweep.groupby("validator", sort=False):
        lines.append(f"  {name:>15}: {g['accuracy'].mean():5.1f}  oracle "
                     f"{g['oracle_accuracy'].mean():5.1f}  gap {g['gap'].mean():4.1f}  "
                     f"runs chosen {', '.join(g['run'])}")
    return lines


def validators(args: argparse.Namespace) -> dict:
    names = [v for v in args.validators.split(",") if v]
    return {"validators": names} if names else {}


def parse_training(text: str) -> dict:
    """'backbone=dlib_resnet29,freeze=level1' -> {'backbone': ..., 'freeze': ...} (YAML)."""
    import yaml

    out = {}
    for part in filter(None, text.split(",")):
        key, sep, value = part.partition("=")
        if not sep:
            raise SystemExit(f"--training: {part!r} is not key=value")
        out[key.strip()] = yaml.safe_load(value)
    return out


def nested(flat: dict) -> dict:
    """{'a.b.c': 1} -> {'a': {'b': {'c': 1}}} (Kedro's runtime parameters are nested)."""
    out: dict = {}
    for key, value in flat.items():
        *parents, last = key.split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return out


def merged(base: dict, extra: dict) -> dict:
    """``extra`` deep-merged over ``base`` (a new dict)."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = (merged(out[key], value) if isinstance(value, dict)
                    and isinstance(out.get(key), dict) else value)
    return out


def parse_epochs(text: str) -> dict[str, int]:
    """'sfew=40,fer2013=12' -> per source; a bare number applies to every source ('*')."""
    out: dict[str, int] = {}
    for part in filter(None, text.split(",")):
        name, _, value = part.rpartition("=")
        out[name or "*"] = int(value)
    return out


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", default="fer2013:sfew,sfew:fer2013")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--env", default="realbench")
    parser.add_argument("--max-train", type=int, default=None,
                        help="source training faces (stratified subsample; env's default)")
    parser.add_argument("--methods", default="",
                        help="the dann setup's methods, e.g. 'dann' (default: the env's)")
    parser.add_argument("--clamp-modes", default="",
                        help="the dann setup's clamp_modes, e.g. 'fixed,paper' (env's default)")
    parser.add_argument("--adapted-select", default=None,
                        choices=["source_val", "target_entropy", "target_im", "snd", "bnm",
                                 "class_ami", "dev", "last"],
                        help="epoch selection of the dann setup's runs (default: the env's)")
    parser.add_argument("--setups", default="baseline,dann",
                        help="pipelines to run; each is compared with baseline (source-only)")
    parser.add_argument("--training", default="",
                        help="training keys for every run, e.g. 'backbone=dlib_resnet29,"
                             "pretrained=true,freeze=level1' (YAML values)")
    parser.add_argument("--params", default="",
                        help="any parameters, dotted keys, e.g. 'ed2l.setup.options.branch=fc'"
                             " (YAML values; merged last)")
    parser.add_argument("--validators", default="",
                        help="validators recorded at every epoch of every run (training."
                             "validators, e.g. 'source_val,snd,bnm'); the study is printed")
    parser.add_argument("--epochs", default="",
                        help="training epochs per source, e.g. 'sfew=40' or '2' for every "
                             "source (default: the env's)")
    args = parser.parse_args()
    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
    seeds = [int(s) for s in args.seeds.split(",")]
    epochs = parse_epochs(args.epochs)
    setups = tuple(args.setups.split(","))
    if setups[0] != "baseline":
        parser.error("--setups must start with baseline (every row is paired with it)")
    out = []
    for pair in args.pairs.split(","):
        source, target = pair.split(":")
        out.append(summarise(source, target, run_direction(source, target, seeds, args.env,
                                                                epochs.get(source,
                                                                           epochs.get("*")),
                                                                setups, args.max_train,
                                                                [m for m in args.methods.split(",")
                                                                 if m] or None,
                                                                args.adapted_select,
                                                                [m for m in
                                                                 args.clamp_modes.split(",")
                                                                 if m] or None,
                                                                {**parse_training(
                                                                    args.training),
                                                                 **validators(args)},
                                                                nested(parse_training(
                                                                    args.params)))))
    text = "\n".join(out)
    path = env_data_root(args.env) / "08_reporting" / "benchmark.txt"
    path.write_text(text + "\n")
    logger.info("%s\n(written to %s)", text, path)


if __name__ == "__main__":
    main()
