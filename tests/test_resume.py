"""A run killed between epochs and resumed ends with the weights of the uninterrupted run,
bit for bit: every random stream the remaining epochs use (the epoch's index plan,
augmentation, dropout) is a function of (seed, epoch), and the rest is in the checkpoint."""

from __future__ import annotations

import pytest
import torch

from fer_da.training.checkpoints import CheckpointStore
from fer_da.training.config import RunPlan, TrainConfig
from fer_da.training.data import training_view
from fer_da.training.loop import train_run
from tests.conftest import make_face_sets


class Killed(Exception):
    pass


def _plan() -> RunPlan:
    cfg = TrainConfig(epochs=3, batch_size=6, tap_dim=8, hidden=8, device="cpu",
                      augment={}, domain_hidden=(16, 16), domain_dropout=0.5,
                      select="last", schedule="cosine", warmup=0.2,
                      label_smoothing=0.1, weight_decay=5e-4)
    return RunPlan(setup="dann", run="dann_clamp3", seed=3, mode="dann",
                   train_domains=("src", "tgt"), labelled_domains=("src",),
                   all_domains=("src", "tgt"), clamp=3.0, method="dann", config=cfg)


def test_a_dann_run_killed_and_resumed_ends_as_the_uninterrupted_run(tmp_path):
    data = training_view(make_face_sets(size=32, per_label=4), ("src", "tgt"), ("src",))
    whole = train_run(_plan(), data, 7, CheckpointStore(tmp_path / "whole"))

    def kill(epoch: int) -> None:
        if epoch == 2:
            torch.rand(100)  # whatever the process did before dying moves the global RNG
            raise Killed

    store = CheckpointStore(tmp_path / "killed")
    with pytest.raises(Killed):
        train_run(_plan(), data, 7, store, on_epoch_end=kill)
    resumed = train_run(_plan(), data, 7, store)
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]
    for key, value in whole.state.items():
        assert torch.equal(resumed.state[key], value), key
    assert resumed.history[-1]["clf_loss"] == whole.history[-1]["clf_loss"]
