"""Two benchmark runs of the same protocol side by side (e.g. from a pretrained backbone and
from scratch), per method, paired by seed, as a Markdown table.

    uv run python benchmarks/side_by_side.py --target sfew \
        pretrained=<data_root A>/08_reporting scratch=<data_root B>/08_reporting

Each folder holds the ``baseline_metrics.csv`` and ``dann_metrics.csv`` that
``benchmarks/realdata.py`` leaves in ``<data_root>/08_reporting`` (copy them aside between
runs). Per method (source-only = the baseline, then each run of the dann setup) and per
folder: the target's test balanced accuracy, accuracy and macro-F1 (mean ± std over seeds,
%), the source's own test accuracy, and each method's paired difference against
``erm_mixed``; then the first folder minus the second, paired by seed.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd

logger = logging.getLogger("benchmark")
METRICS = ("balanced_accuracy", "accuracy", "macro_f1")


def load(folder: Path) -> pd.DataFrame:
    """Every run's test rows, the baseline's named ``source-only``."""
    frames = []
    for setup in ("baseline", "dann"):
        path = folder / f"{setup}_metrics.csv"
        if path.is_file():
            f = pd.read_csv(path)
            frames.append(f.assign(run="source-only") if setup == "baseline" else f)
    if not frames:
        raise SystemExit(f"{folder}: no baseline_metrics.csv or dann_metrics.csv")
    out = pd.concat(frames, ignore_index=True)
    return out[out["split"] == "test"]


def cell(values: pd.Series) -> str:
    v = values * 100
    return f"{v.mean():.1f} ± {v.std():.1f}" if len(v) > 1 else f"{v.mean():.1f}"


def paired(a: pd.Series, b: pd.Series) -> str:
    """Mean ± std of a − b over the seeds both have (points)."""
    d = (a - b).dropna() * 100
    return "—" if d.empty else (f"{d.mean():+.1f} ± {d.std():.1f}" if len(d) > 1
                                else f"{d.mean():+.1f}")


def table(runs: dict[str, pd.DataFrame], target: str, source: str) -> str:
    names = list(runs)
    head = (["method"] + [f"{n}: {target} bal." for n in names]
            + [f"{n}: vs erm_mixed" for n in names]
            + [f"{n}: {source} own acc." for n in names]
            + ([f"{names[0]} − {names[1]} ({target} bal.)"] if len(names) == 2 else []))
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    found = list(dict.fromkeys(m for f in runs.values() for m in f["run"]))
    methods = [m for m in ("source-only", "erm_mixed") if m in found] + sorted(
        m for m in found if m not in ("source-only", "erm_mixed"))
    for method in methods:
        row = [method]
        by = {n: {d: f[(f["run"] == method) & (f["eval_domain"] == d)].set_index("seed")
                  for d in (target, source)} for n, f in runs.items()}
        ctl = {n: f[(f["run"] == "erm_mixed") & (f["eval_domain"] == target)].set_index("seed")
               for n, f in runs.items()}
        row += [cell(by[n][target]["balanced_accuracy"]) for n in names]
        row += [paired(by[n][target]["balanced_accuracy"], ctl[n]["balanced_accuracy"])
                if method != "erm_mixed" and len(ctl[n]) else "—" for n in names]
        row += [cell(by[n][source]["accuracy"]) for n in names]
        if len(names) == 2:
            row.append(paired(by[names[0]][target]["balanced_accuracy"],
                              by[names[1]][target]["balanced_accuracy"]))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="name=folder, one or two")
    parser.add_argument("--target", required=True)
    parser.add_argument("--source", default=None, help="default: the other domain")
    args = parser.parse_args()
    runs = {}
    for item in args.runs:
        name, _, folder = item.partition("=")
        runs[name] = load(Path(folder))
    domains = sorted(set(next(iter(runs.values()))["eval_domain"]))
    source = args.source or next(d for d in domains if d != args.target)
    logger.info("%s", table(runs, args.target, source))


if __name__ == "__main__":
    main()
