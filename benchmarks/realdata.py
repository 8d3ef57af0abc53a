"""Source-only against every adaptation method on real faces, both directions, 3 seeds.

    uv run python benchmarks/realdata.py                 # FER2013 -> SFEW and SFEW -> FER2013
    uv run python benchmarks/realdata.py --pairs fer2013:sfew --seeds 0
    uv run python benchmarks/realdata.py --epochs sfew=40   # epochs when sfew is the source
    uv run python benchmarks/realdata.py --setups baseline,ed2l,sna,hagan --pairs fer2013:sfew
    uv run python benchmarks/realdata.py --pairs fer2013:sfew --max-train 10000 --methods dann
    uv run python benchmarks/realdata.py --pairs sfew:fer2013 --adapted-select target_im
    uv run python benchmarks/realdata.py --pairs fer2013:sfew --max-train 10000 \
        --methods adabn,dann+adabn          # AdaBN alone and on DANN (docs/training.md)

Runs ``kedro run --env realbench --pipeline=dann`` and ``--pipeline=baseline`` in-process for
each direction (the roles swapped with runtime parameters), then prints, per target, the
source-only and adapted balanced accuracy (mean ± std over seeds) and the paired difference
with its 95 % interval, plus the source's own test accuracy. Needs ../shared/realdata
(local benchmarks only; never used by the tests).
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
                  adapted_select: str | None = None) -> dict:
    import mlflow
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(ROOT)
    params = {"domains": {source: {"role": "source"}, target: {"role": "target"}},
              "training": {"seeds": seeds, **({"epochs": epochs} if epochs else {})}}
    if max_train:  # the source's training split, stratified subsample (split.max_train)
        params["domains"][source]["preprocessing"] = {"split": {"max_train": max_train}}
    if methods:
        params["dann"] = {"setup": {"methods": methods}}
    if adapted_select:  # the adaptation runs' own epoch-selection criterion (no target label)
        params.setdefault("dann", {}).setdefault("setup", {})["training"] = {
            "select": adapted_select}
    start = time.perf_counter()
    for pipeline in setups:
        with KedroSession.create(ROOT, env=env, runtime_params=params) as session:
            session.run(pipeline_names=[pipeline])
        while mlflow.active_run():  # one MLflow run per session, never one across directions
            mlflow.end_run()
    reports = ROOT / "data" / "realbench" / "08_reporting"
    out: dict = {s: pd.read_csv(reports / f"{s}_metrics.csv") for s in setups}
    out["seconds"] = time.perf_counter() - start
    return out


def summarise(source: str, target: str, result: dict) -> str:
    from fer_da.reporting.tables import paired_comparison

    lines = [f"\n== {source} -> {target} ({result['seconds'] / 60:.1f} min)"]
    # every other setup against source-only; source-only setups (ed2l, sna, ...) by name
    others = [f.assign(run=f["run"] if name == "dann" else name)
              for name, f in result.items() if name not in ("baseline", "seconds")]
    adapted = pd.concat(others, ignore_index=True) if others else None
    for metric in ("balanced_accuracy", "accuracy", "macro_f1") if others else ():
        table = paired_comparison(result["baseline"], adapted, metric)
        lines.append(f"-- {metric} on {target}'s test split, %")
        for r in table.to_dict("records"):
            lines.append(
                f"  {r['run']:>14}: source-only {r['source_only']:5.1f} ± "
                f"{r['source_only_std']:4.1f}   adapted {r['adapted']:5.1f} ± "
                f"{r['adapted_std']:4.1f}   diff {r['diff']:+5.1f} ± {r['diff_std']:4.1f} "
                f"[{r['ci_low']:+5.1f}, {r['ci_high']:+5.1f}]  ({r['seeds']} seeds)")
    own = result["baseline"]
    own = own[(own["eval_domain"] == source) & (own["split"] == "test")]
    lines.append(f"-- source-only on {source}'s own test split: accuracy "
                 f"{own['accuracy'].mean() * 100:.1f} ± {own['accuracy'].std() * 100:.1f}, "
                 f"balanced {own['balanced_accuracy'].mean() * 100:.1f}")
    return "\n".join(lines)


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
    parser.add_argument("--adapted-select", default=None,
                        choices=["source_val", "target_entropy", "target_im", "last"],
                        help="epoch selection of the dann setup's runs (default: the env's)")
    parser.add_argument("--setups", default="baseline,dann",
                        help="pipelines to run; each is compared with baseline (source-only)")
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
                                                                args.adapted_select)))
    text = "\n".join(out)
    path = ROOT / "data" / "realbench" / "08_reporting" / "benchmark.txt"
    path.write_text(text + "\n")
    logger.info("%s\n(written to %s)", text, path)


if __name__ == "__main__":
    main()
