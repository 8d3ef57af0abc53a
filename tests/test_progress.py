"""The whole job's progress: runs x epochs, restored epochs counted as done, the rest priced
by the epochs trained so far; the loop tells where each run starts, the hook listens."""

from __future__ import annotations

import logging

import pytest

from fer_da.training.checkpoints import CheckpointStore
from fer_da.training.config import RunPlan, TrainConfig
from fer_da.training.data import training_view
from fer_da.training.events import EPOCH, START, subscribed
from fer_da.training.loop import train_run
from fer_da.training.progress import JobProgress, planned_epochs
from tests.conftest import make_face_sets


def test_the_job_counts_restored_and_trained_epochs_and_prices_the_rest():
    job = JobProgress({"a": 3, "b": 3, "c": 2})
    assert (job.total, job.finished, job.seconds_left()) == (8, 0, None)
    assert job.line() == "Job: 0/8 epochs (0%), 0/3 runs done"  # no estimate before an epoch
    job.start("a", 0, 3)
    job.epoch("a", 1, 2.0)
    assert job.seconds_left() == pytest.approx(2 * 2.0 + 3 * 2.0 + 2 * 2.0)
    job.epoch("a", 2, 4.0)  # a's own last epoch prices a; the mean (3 s) the others
    assert job.seconds_left() == pytest.approx(1 * 4.0 + 3 * 3.0 + 2 * 3.0)
    job.start("b", 3, 3)  # restored whole from a checkpoint: done, and costs nothing
    assert (job.finished, job.runs_finished()) == (5, 1)
    assert job.seconds_left() == pytest.approx(1 * 4.0 + 2 * 3.0)
    job.epoch("a", 3, 4.0)
    assert job.line() == "Job: 6/8 epochs (75%), 2/3 runs done, about 7 s left"  # c: 2 x 10/3 s
    job.start("d", 0, 5)  # a run the plan did not foresee is counted too
    assert job.total == 13


def test_planned_epochs_reads_each_setups_plans():
    cfg = TrainConfig(epochs=4)
    plans = {"dann": [RunPlan(setup="dann", run=r, seed=0, mode="dann", train_domains=("s",),
                              labelled_domains=("s",), all_domains=("s",), config=cfg
                              ).to_dict() for r in ("clamp1", "clamp3")]}
    assert planned_epochs(plans) == {"dann/clamp1/seed0": 4, "dann/clamp3/seed0": 4}


def _plan() -> RunPlan:
    cfg = TrainConfig(epochs=3, batch_size=6, tap_dim=8, hidden=8, device="cpu",
                      augment={}, domain_hidden=(16, 16), select="last")
    return RunPlan(setup="dann", run="dann_clamp3", seed=1, mode="dann",
                   train_domains=("src", "tgt"), labelled_domains=("src",),
                   all_domains=("src", "tgt"), clamp=3.0, method="dann", config=cfg)


class _Killed(Exception):
    pass


def test_the_loop_tells_the_job_where_each_run_starts(tmp_path):
    """Killed after epoch 2, resumed, then run again whole from its checkpoint: the job
    hears (start 0, epochs 1 2), (start 2, epoch 3), (start 3) and ends at 3/3."""
    data = training_view(make_face_sets(size=32, per_label=4), ("src", "tgt"), ("src",))
    store, job = CheckpointStore(tmp_path), JobProgress({_plan().run_id: 3})
    heard: list[tuple] = []

    def on_start(run_id, event):
        heard.append(("start", event["done"]))
        job.start(run_id, event["done"], event["epochs"])

    def on_epoch(run_id, record):
        heard.append(("epoch", record["epoch"]))
        job.epoch(run_id, record["epoch"], record["seconds"])

    def kill(epoch: int) -> None:
        if epoch == 2:
            raise _Killed

    with subscribed(on_start, START), subscribed(on_epoch, EPOCH):
        with pytest.raises(_Killed):
            train_run(_plan(), data, 7, store, on_epoch_end=kill)
        train_run(_plan(), data, 7, store)
        train_run(_plan(), data, 7, store)
    assert heard == [("start", 0), ("epoch", 1), ("epoch", 2), ("start", 2), ("epoch", 3),
                     ("start", 3)]
    assert (job.finished, job.runs_finished(), job.seconds_left()) == (3, 1, 0.0)


class _Catalog:
    def __init__(self, params):
        self.params = params

    def load(self, name):
        assert name == "parameters"
        return self.params


class _Pipeline:
    def __init__(self, outputs):
        self.outputs = outputs

    def all_outputs(self):
        return set(self.outputs)


def test_the_hook_plans_the_whole_job_and_logs_at_each_runs_end(caplog):
    from pathlib import Path

    from fer_da.config_loader import LabConfigLoader
    from fer_da.hooks import JobProgressHook
    from fer_da.training.events import publish_epoch, publish_start

    conf = Path(__file__).parents[1] / "conf"
    params = LabConfigLoader(str(conf), base_env="base",
                             default_run_env="synthetic")["parameters"]
    epochs = params["training"]["epochs"]
    hook = JobProgressHook()
    caplog.set_level(logging.INFO, logger="fer_da.hooks")
    hook.before_pipeline_run({}, _Pipeline({"dann.plans", "dann.metrics", "face_sets"}),
                             _Catalog(params))
    try:
        job = hook._progress
        assert list(job.planned) == [f"dann/{r}/seed0" for r in (
            "clamp1", "clamp3", "clamp3000", "erm_mixed")]  # the synthetic default's runs
        assert job.total == 4 * epochs
        first = "dann/clamp1/seed0"
        publish_start(first, 0, epochs)
        for epoch in range(1, epochs):  # priced by the wall time since the last event
            hook._since[first] -= 1.0
            publish_epoch(first, {"epoch": epoch, "seconds": 0.001})
        said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Job:")]
        assert said == [f"Job: 0/{4 * epochs} epochs (0%), 0/4 runs done (dann)"]  # quiet
        hook._since[first] -= 1.0
        publish_epoch(first, {"epoch": epochs, "seconds": 0.001})  # the run's end is said
        said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Job:")]
        assert said[-1] == (f"Job: {epochs}/{4 * epochs} epochs (25%), 1/4 runs done, "
                            f"about {3 * epochs} s left")
    finally:
        hook.after_pipeline_run({}, None, None)
    from fer_da.training import events

    assert hook._progress is None
    assert not [s for s in events._subscribers[EPOCH] + events._subscribers[START]
                if getattr(s, "__self__", None) is hook]  # nobody listens any more
