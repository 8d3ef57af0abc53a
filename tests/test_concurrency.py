"""Two runs in one project at once never corrupt each other (issue 24): temporary files are
per process, and a setup that plans no run leaves no empty model version behind."""

from __future__ import annotations

import multiprocessing

import pytest
import torch

from fer_da.training.checkpoints import CheckpointStore  # all a spawned saver imports

RUN = "baseline/src/seed0"


def _save_many(root: str, n: int, tag: int, start) -> None:
    store = CheckpointStore(root)
    start.wait(60)  # both processes save at the same time
    for i in range(n):
        store.save(RUN, {"epoch": i, "tag": tag, "w": torch.full((50_000,), float(i)),
                         "fingerprint": "f"})


def test_two_processes_checkpointing_one_run_never_collide(tmp_path):
    """As two `kedro run --pipelines=baseline` at once: each epoch's checkpoint is written
    through a file of its own process (a shared `<run>.tmp` made the second run die).
    Spawned, not forked: a fork of a process whose torch thread pool has started hangs."""
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)
    procs = [ctx.Process(target=_save_many, args=(str(tmp_path), 100, t, start))
             for t in (1, 2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(180)
    for p in procs:
        if p.is_alive():
            p.kill()
    assert [p.exitcode for p in procs] == [0, 0]
    state = CheckpointStore(tmp_path).load(RUN, "f")
    assert state["epoch"] == 99 and state["tag"] in (1, 2)
    assert torch.equal(state["w"], torch.full((50_000,), 99.0))  # one writer's whole file
    assert [p.name for p in tmp_path.iterdir()] == ["baseline__src__seed0.pt"]  # no leftovers


def test_a_setup_that_plans_no_run_is_an_error_and_saves_nothing(tmp_path):
    from kedro.io import DatasetError

    from fer_da.datasets import TrainedModelsDataset
    from fer_da.training.plans import plan_runs
    from fer_da.validate import ConfigError

    domains = {"src": {"layout": "jaffe", "role": "source"},
               "tgt": {"layout": "jaffe", "role": "target"}}
    with pytest.raises(ConfigError, match=r"dann.setup plans no run"):
        plan_runs({"kind": "dann", "name": "dann", "methods": []}, domains, {"device": "cpu"})
    with pytest.raises(ConfigError, match=r"training.seeds is empty"):
        plan_runs({"kind": "baseline"}, domains, {"seeds": []})
    ds = TrainedModelsDataset(str(tmp_path / "m"))
    with pytest.raises(DatasetError, match="no trained model to save"):
        ds.save({})
    assert not (tmp_path / "m").exists()
