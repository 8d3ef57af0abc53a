"""The experiment grid as one command per run, for a scheduler (docs/scaling.md).

    uv run python -m fer_da.grid --env grid                 # every setup -> data/grid/jobs.txt
    uv run python -m fer_da.grid --env grid --setups dann,baseline --out jobs.txt

Writes, in an order a scheduler can follow (the baseline's runs before the setups that
start from them), one ``kedro run`` per run of every setup: the setup's nodes from
``plan_runs`` on, ``--params job.run=<run id>``. Run ``kedro run --env grid
--pipelines=preprocessing`` once before, and ``--pipelines=gather`` (or ``reporting``) after.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from fer_da.methods.registry import SETUPS

logger = logging.getLogger(__name__)

# the registry's order: a setup comes after those it starts from (methods/registry.py)
ORDER = tuple(SETUPS)


def job_commands(params: dict, setups: list[str], env: str | None) -> list[str]:
    """One command per planned run of each setup (its plan computed from ``params``)."""
    from fer_da.training.plans import plan_runs

    env_flag = f" --env {env}" if env else ""
    lines = []
    for setup in sorted(setups, key=lambda s: ORDER.index(s) if s in ORDER else len(ORDER)):
        for plan in plan_runs(params[setup]["setup"], params["domains"], params["training"],
                              params.get("preprocessing")):
            lines.append(f"kedro run{env_flag} --pipelines={setup} "
                         f"--from-nodes={setup}.plan_runs --params=job.run={plan['run_id']}")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default=None)
    parser.add_argument("--setups", default=",".join(ORDER))
    parser.add_argument("--out", default="data/grid/jobs.txt")
    args = parser.parse_args(argv)

    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(Path.cwd())
    with KedroSession.create(Path.cwd(), env=args.env) as session:
        params = session.load_context().params
    lines = job_commands(params, args.setups.split(","), args.env)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    logger.info("%d jobs written to %s (one line per run)", len(lines), out)


if __name__ == "__main__":
    main()
