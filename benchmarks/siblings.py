"""Every setup on the synthetic default, several seeds: balanced accuracy per domain and the
paired difference of each method against the control with its labelled budget.

    uv run python benchmarks/siblings.py                       # all setups, seeds 0-2
    uv run python benchmarks/siblings.py --setups baseline,ed2l --seeds 0,1

Runs ``kedro run --pipelines=<setup>`` in-process with ``training.seeds`` as a runtime
parameter (``baseline60``: the baseline at HA-GAN's 60 epochs), keeps each setup's metrics
and history under ``data/08_reporting/benchmarks/``, then logs the table of docs/results.md
("The sibling papers' methods on the synthetic default"). Controls: the 15-epoch baseline
for JM, ATF, ED²L and SNA; ``erm_mixed`` (same mixed batches, no adversary) for DANN; the
60-epoch baseline for HA-GAN.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "data" / "08_reporting" / "benchmarks"
DOMAINS = ("kdef", "ckplus", "jaffe", "tfeid")
SETUPS = ("baseline", "baseline60", "dann", "jm", "atf", "ed2l", "sna", "hagan")
CONTROL = {"jm": "baseline", "atf": "baseline", "ed2l": "baseline", "sna": "baseline",
           "hagan": "baseline60", "dann": "dann:erm_mixed"}
DIAGNOSTICS = ("dmn_acc", "collapsed", "id_acc", "dispel_acc", "masked", "g_diversity",
               "real_diversity")
logger = logging.getLogger("benchmark")


def run_setup(setup: str, seeds: list[int]) -> float:
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(ROOT)
    params: dict = {"training": {"seeds": seeds}}
    pipeline = "baseline" if setup == "baseline60" else setup
    if setup == "baseline60":
        params["baseline"] = {"setup": {"training": {"epochs": 60}}}
    start = time.perf_counter()
    with KedroSession.create(ROOT, runtime_params=params) as session:
        session.run(pipeline_names=[pipeline])
    OUT.mkdir(parents=True, exist_ok=True)
    for kind, folder in (("metrics", "08_reporting"), ("history", "07_model_output")):
        table = pd.read_csv(ROOT / "data" / folder / f"{pipeline}_{kind}.csv")
        table.to_csv(OUT / f"synthetic_{setup}_{kind}.csv", index=False)
    return time.perf_counter() - start


def scores(setup: str, run: str | None = None) -> pd.DataFrame:
    """Balanced accuracy (%) on each domain's test split: rows seeds, columns domains."""
    m = pd.read_csv(OUT / f"synthetic_{setup}_metrics.csv")
    m = m[m["split"] == "test"]
    if run is not None:
        m = m[m["run"] == run]
    return m.pivot_table(index="seed", columns="eval_domain",
                         values="balanced_accuracy").reindex(columns=list(DOMAINS)) * 100


def paired(a: pd.Series, b: pd.Series) -> str:
    from scipy import stats

    diff = (a - b).dropna()
    if len(diff) < 2:
        return f"{diff.mean():+.1f}"
    half = stats.t.ppf(0.975, len(diff) - 1) * diff.std() / np.sqrt(len(diff))
    return f"{diff.mean():+.1f} ± {diff.std():.1f} [{diff.mean() - half:+.1f}, " \
           f"{diff.mean() + half:+.1f}]"


def summary(setups: list[str]) -> str:
    lines = ["| run | " + " | ".join(DOMAINS) + " | mechanism, last epoch |",
             "|---|" + "---|" * (len(DOMAINS) + 1)]
    for setup in setups:
        history = pd.read_csv(OUT / f"synthetic_{setup}_history.csv")
        for run in sorted(pd.read_csv(OUT / f"synthetic_{setup}_metrics.csv")["run"].unique()):
            table = scores(setup, run)
            cells = [f"{table[d].mean():.1f} ± {table[d].std():.1f}" for d in DOMAINS]
            last = history[history["run"] == run].sort_values("epoch").groupby("seed").tail(1)
            diag = ", ".join(f"{c} {last[c].mean():.2f}" for c in DIAGNOSTICS
                             if c in last and last[c].notna().any())
            lines.append(f"| {setup} {run} | " + " | ".join(cells) + f" | {diag} |")
    lines += ["", "| method - control | " + " | ".join(DOMAINS) + " |",
              "|---|" + "---|" * len(DOMAINS)]
    for setup in setups:
        control = CONTROL.get(setup)
        if control is None:
            continue
        ref_setup, _, ref_run = control.partition(":")
        if not (OUT / f"synthetic_{ref_setup}_metrics.csv").exists():
            continue
        ref = scores(ref_setup, ref_run or None)
        runs = pd.read_csv(OUT / f"synthetic_{setup}_metrics.csv")["run"].unique()
        for run in sorted(r for r in runs if r != ref_run):
            table = scores(setup, run)
            lines.append(f"| {setup} {run} - {control} | "
                         + " | ".join(paired(table[d], ref[d]) for d in DOMAINS) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setups", default=",".join(SETUPS))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--summary-only", action="store_true",
                        help="tabulate the kept metrics without training")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    setups = [s for s in args.setups.split(",") if s]
    unknown = sorted(set(setups) - set(SETUPS))
    if unknown:
        raise SystemExit(f"unknown setups {unknown}; choose among {list(SETUPS)}")
    if not args.summary_only:
        seeds = [int(s) for s in args.seeds.split(",")]
        for setup in setups:
            logger.info("%s: %.0f s", setup, run_setup(setup, seeds))
    logger.info("\n%s", summary(setups))


if __name__ == "__main__":
    main()
