"""Run a setup's pipeline data-parallel, one process per rank (docs/scaling.md).

    torchrun --nproc-per-node 2 -m fer_da.launch --pipeline dann
    torchrun --nnodes 2 --nproc-per-node 4 --rdzv-endpoint host:29500 -m fer_da.launch \\
        --pipeline baseline --env mylab --params training.epochs=30

Each rank opens a Kedro session on the project in the current directory. Rank 0 first runs
the setups' upstream alone (the ``preprocessing`` pipeline: ingestion, detection, face
sets); then every rank runs the setups' nodes from ``plan_runs`` on, the training loop
splitting each global batch between the ranks (``fer_da.training.distributed``). Only
rank 0 writes: on the other ranks every output of the run is kept in memory and MLflow is
off (``hooks.DistributedOutputsHook``). The process group uses NCCL on GPUs (each rank
takes the GPU of its ``LOCAL_RANK``) and gloo on CPUs.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger(__name__)


def parse_params(text: str) -> dict[str, Any]:
    """``a.b=1,c=x`` as nested runtime parameters (values read as YAML), as ``kedro run
    --params`` reads them."""
    out: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--params: {item!r} is not key=value")
        node = out
        *parents, leaf = key.split(".")
        for name in parents:
            node = node.setdefault(name, {})
        node[leaf] = yaml.safe_load(value)
    return out


def _init_process_group() -> tuple[int, int]:
    import torch
    import torch.distributed as dist

    if "WORLD_SIZE" not in os.environ:
        raise RuntimeError("fer_da.launch runs under torchrun (WORLD_SIZE is not set); for "
                           "one process use `kedro run --pipelines=<setup>`")
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl")
    else:
        dist.init_process_group("gloo")
    return dist.get_rank(), dist.get_world_size()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", required=True, help="a setup pipeline, e.g. dann")
    parser.add_argument("--env", default=None)
    parser.add_argument("--params", default="", help="key=value,... (as kedro run)")
    parser.add_argument("--conf-source", default=None)
    args = parser.parse_args(argv)

    import torch.distributed as dist
    from kedro.framework.project import pipelines
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    project = Path.cwd()
    bootstrap_project(project)
    params = parse_params(args.params)
    rank, world = _init_process_group()
    logging.basicConfig(level=logging.INFO)
    try:
        setup_nodes = sorted(n.name for n in pipelines[args.pipeline].nodes
                             if n.name.endswith(".plan_runs"))
        if not setup_nodes:
            raise ValueError(f"--pipeline {args.pipeline} has no setup (no plan_runs node)")
        kwargs = {"env": args.env, "runtime_params": params, "conf_source": args.conf_source}
        if rank == 0:  # every setup's upstream: ingestion and preprocessing, written once
            with KedroSession.create(project, **kwargs) as session:
                session.run(pipeline_names=["preprocessing"])
        dist.barrier()
        logger.info("rank %d of %d: %s from %s", rank, world, args.pipeline, setup_nodes)
        with KedroSession.create(project, **kwargs) as session:
            session.run(pipeline_names=[args.pipeline], from_nodes=setup_nodes)
        dist.barrier()
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
