"""Two envs' runs of one setup side by side, paired by seed: are their numbers the same?

    uv run python benchmarks/compare_envs.py --setup baseline \
        <lab data_root>/08_reporting/baseline_metrics.csv \
        data/realfaces/08_reporting/baseline_metrics.csv

Prints, per evaluated domain of the test split, accuracy / balanced accuracy / macro-F1 of
each env (mean ± sample std over the seeds both ran, in %), the mean paired difference and
its largest absolute value, and whether the runs saw the same face sets (content digest) and
trained the same plan (configuration hash); exits 1 when any number differs. docs/labs.md
measures with it that an env of domains alone is conf/realfaces.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import pandas as pd

METRICS = ("accuracy", "balanced_accuracy", "macro_f1")
logger = logging.getLogger("compare_envs")


def _runs(path: Path, setup: str, split: str) -> pd.DataFrame:
    frame = pd.read_csv(path)
    missing = {"setup", "run", "seed", "split", "eval_domain", *METRICS} - set(frame.columns)
    if missing:
        raise SystemExit(f"{path}: not a fer-da metrics table (missing {sorted(missing)})")
    part = frame[(frame["setup"] == setup) & (frame["split"] == split)]
    if part.empty:
        raise SystemExit(f"{path}: no {setup!r} run on the {split!r} split")
    return part


def _mean_std(values: pd.Series) -> str:
    return f"{values.mean():.2f} ± {values.std():.2f}" if len(values) > 1 \
        else f"{values.mean():.2f}"


def compare(a: pd.DataFrame, b: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, bool]]:
    """Per (eval_domain, metric): both envs' mean ± std (%) over their common seeds, the
    mean paired difference and its largest absolute value (points)."""
    keys = ["run", "eval_domain", "seed"]
    both = a.merge(b, on=keys, suffixes=("_a", "_b"))
    if both.empty:
        raise SystemExit("the two tables share no (run, domain, seed)")
    rows = []
    for (run, domain), g in both.groupby(["run", "eval_domain"], sort=True):
        for metric in METRICS:
            x, y = g[f"{metric}_a"] * 100, g[f"{metric}_b"] * 100
            diff = x - y
            rows.append({"run": run, "domain": domain, "metric": metric, "seeds": len(g),
                         "a": _mean_std(x), "b": _mean_std(y),
                         "diff": round(diff.mean(), 4), "max_abs_diff": round(diff.abs().max(), 4)})
    same = {column: bool((both[f"{column}_a"].fillna("") == both[f"{column}_b"].fillna("")).all())
            for column in ("faceset_digest", "config_hash") if f"{column}_a" in both}
    return pd.DataFrame(rows), same


def _markdown(frame: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * frame.shape[1]]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--setup", default="baseline")
    parser.add_argument("--split", default="test")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    table, same = compare(_runs(args.a, args.setup, args.split),
                          _runs(args.b, args.setup, args.split))
    logger.info("a = %s\nb = %s\n%s", args.a, args.b, _markdown(table))
    for column, equal in same.items():
        logger.info("%s: %s", column, "the same in every paired run" if equal else "DIFFERS")
    return 0 if (table["max_abs_diff"] == 0).all() else 1  # 0: the same numbers


if __name__ == "__main__":
    raise SystemExit(main())
