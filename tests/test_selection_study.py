"""The selection study (issue 37): validators recorded at every epoch, the oracle computed
at evaluation only, each validator's pick against the oracle's."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from fer_da.reporting.selection_study import sweep_choice, validator_picks, validator_summary
from fer_da.training.checkpoints import CheckpointStore
from fer_da.training.config import RunPlan, TrainConfig
from fer_da.training.data import training_view
from fer_da.training.loop import train_run
from fer_da.training.options import LABEL_FREE_VALIDATORS
from fer_da.training.validators import LABEL_FREE

TINY = TrainConfig(epochs=3, batch_size=4, lr=1e-3, backbone="vgg11_slim_bn", device="cpu",
                   tap_dim=8, hidden=8)


def _rows(run, seed, val_snd, val_bnm, acc):
    run_id = f"dann/{run}/seed{seed}"
    pairs = enumerate(zip(val_snd, val_bnm, strict=True))
    history = [{"setup": "dann", "run": run, "seed": seed, "run_id": run_id, "epoch": e + 1,
                "val_snd": s, "val_bnm": b} for e, (s, b) in pairs]
    trace = [{"setup": "dann", "run": run, "seed": seed, "run_id": run_id, "epoch": e + 1,
              "eval_domain": "tgt", "n": 10, "accuracy": a} for e, a in enumerate(acc)]
    return history, trace


def test_picks_gaps_and_rank_correlations_by_hand():
    h1, t1 = _rows("clamp1", 0, [0.1, 0.3, 0.2], [3.0, 2.0, 1.0], [0.40, 0.60, 0.50])
    h2, t2 = _rows("clamp3", 0, [0.5, 0.4, 0.9], [1.0, 1.0, 2.0], [0.55, 0.45, 0.70])
    hc, tc = _rows("erm_mixed", 0, [9.0, 9.0, 9.0], [9.0, 9.0, 9.0], [0.9, 0.9, 0.9])
    history, trace = pd.DataFrame(h1 + h2 + hc), pd.DataFrame(t1 + t2 + tc)
    picks = validator_picks(history, trace).set_index(["run", "validator"])
    # clamp1: snd keeps epoch 2 (the oracle's: 60 %), bnm epoch 1 (40 %: 20 points short)
    assert picks.loc[("clamp1", "snd"), ["epoch", "accuracy", "gap"]].tolist() == \
        pytest.approx([2, 60.0, 0.0])
    assert picks.loc[("clamp1", "bnm"), ["epoch", "accuracy", "gap"]].tolist() == \
        pytest.approx([1, 40.0, 20.0])
    assert picks.loc[("clamp1", "last"), "epoch"] == 3
    assert picks.loc[("clamp1", "snd"), "spearman"] == pytest.approx(1.0)
    assert picks.loc[("clamp1", "bnm"), "spearman"] == pytest.approx(-0.5)
    # clamp3, bnm ties at epochs 1-2: ranks 1.5, 1.5, 3 against 2, 1, 3 -> rho 0.866
    assert picks.loc[("clamp3", "bnm"), "spearman"] == pytest.approx(math.sqrt(3) / 2)
    summary = validator_summary(picks.reset_index()).set_index(["validator", "eval_domain"])
    assert summary.loc[("bnm", "tgt"), "gap"] == pytest.approx((20.0 + 0.0 + 0.0) / 3)
    assert summary.loc[("snd", "all targets"), "runs"] == 3
    sweep = sweep_choice(history, trace).set_index("validator")
    # over clamp1 and clamp3 (not the control): the oracle's best is clamp3 epoch 3 (70 %)
    assert sweep.loc["snd", ["run", "epoch", "gap"]].tolist() == ["clamp3", 3, 0.0]
    assert sweep.loc["bnm", ["run", "epoch"]].tolist() == ["clamp1", 1]
    assert sweep.loc["bnm", "gap"] == pytest.approx(30.0)
    assert validator_picks(history.iloc[:0], trace).empty


def test_a_validator_a_run_did_not_record_and_adabn_runs_are_not_picks():
    h1, t1 = _rows("clamp1", 0, [0.1, 0.3, 0.2], [np.nan] * 3, [0.40, 0.60, 0.50])
    h2, t2 = _rows("clamp1_adabn", 0, [0.9, 0.1, 0.1], [1.0, 2.0, 3.0], [0.7, 0.2, 0.1])
    picks = validator_picks(pd.DataFrame(h1 + h2), pd.DataFrame(t1 + t2))
    assert set(picks["run"]) == {"clamp1"}  # AdaBN runs: other statistics than recorded
    assert set(picks["validator"]) == {"snd", "last"}  # bnm not recorded: no pick
    assert set(sweep_choice(pd.DataFrame(h1 + h2), pd.DataFrame(t1 + t2))["run"]) == {
        "clamp1"}


def test_a_run_without_a_target_cannot_select_by_one():
    from fer_da.training.plans import plan_runs
    from fer_da.validate import ConfigError

    domains = {"src": {"layout": "folder", "role": "source"},
               "tgt": {"layout": "folder", "role": "target"}}
    for setup in ({"kind": "baseline"}, {"kind": "dann", "methods": ["adabn"]},
                  {"kind": "jm"}):
        with pytest.raises(ConfigError, match=r"select must be source_val or last, not 'snd'"):
            plan_runs(setup, domains, {"select": "snd"})
    assert plan_runs({"kind": "dann"}, domains, {"select": "snd"})  # it has a target


def test_the_validator_names_agree_between_config_and_library():
    assert tuple(LABEL_FREE) == LABEL_FREE_VALIDATORS


def _plan(validators=(), select="last") -> RunPlan:
    cfg = TrainConfig(**{**TINY.__dict__, "validators": tuple(validators), "select": select})
    return RunPlan(setup="dann", run="clamp3", seed=0, mode="dann", method="dann",
                   train_domains=("src", "tgt"), labelled_domains=("src",),
                   all_domains=("src", "tgt"), clamp=3.0, config=cfg)


def _with_test_split(face_sets):
    """The fixture's face sets with one image per class moved to a test split."""
    from fer_da.facesets import FaceSet

    out = {}
    for name, fs in face_sets.items():
        table = fs.table.copy()
        table.loc[table["image_id"].str.endswith("1"), "split"] = "test"
        out[name] = FaceSet(fs.images, table)
    return out


def test_recording_validators_changes_no_weight_and_the_trace_scores_every_epoch(
        face_sets, tmp_path):
    from fer_da.training.scoring import evaluate_all, trace_selection

    face_sets = _with_test_split(face_sets)
    data = training_view(face_sets, ("src", "tgt"), ("src",))
    plain = train_run(_plan(), data, 7)
    store = CheckpointStore(tmp_path / "ckpt")
    study = train_run(_plan(LABEL_FREE_VALIDATORS), data, 7, store)
    for key in plain.state:  # recording is read-only: the same weights, bit for bit
        assert torch.equal(plain.state[key], study.state[key]), key
    assert _plan().config_hash() != _plan(["snd"]).config_hash()  # it retrains to record
    for h in study.history:
        assert all(np.isfinite(h[f"val_{n}"]) for n in LABEL_FREE_VALIDATORS), h
    assert sorted(store.epoch_states(study.run_id)) == [1, 2, 3]
    first = store.load_epoch(store.epoch_states(study.run_id)[1])
    assert any(not torch.equal(first[k], study.state[k]) for k in first)  # epoch 1's own
    trained = {study.run_id: study}
    trace = trace_selection(trained, face_sets, store, TINY, "none", [str(i) for i in range(7)])
    assert trace["epoch"].tolist() == [1, 2, 3] and set(trace["eval_domain"]) == {"tgt"}
    metrics, _ = evaluate_all(trained, face_sets, TINY, {}, ["test"],
                              [str(i) for i in range(7)])
    final = metrics[(metrics["eval_domain"] == "tgt")]["accuracy"].iloc[0]
    assert trace.loc[trace["epoch"] == 3, "accuracy"].iloc[0] == pytest.approx(final)
    assert trace_selection({plain.run_id: plain}, face_sets, store, TINY, "none",
                           [str(i) for i in range(7)]).empty  # no validators: no trace
    classes = [str(i) for i in range(7)]
    folder = store.epochs_folder(study.run_id)
    identity = (folder / "identity.json").read_text()
    (folder / "identity.json").write_text(identity.replace('"config_hash": "',
                                                           '"config_hash": "x'))
    with pytest.raises(ValueError, match="belong to another training of this run"):
        trace_selection(trained, face_sets, store, TINY, "none", classes)
    (folder / "identity.json").write_text(identity)
    (folder / "epoch0002.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"snapshots of epochs \[2\] are missing"):
        trace_selection(trained, face_sets, store, TINY, "none", classes)


@pytest.mark.parametrize("criterion", ["snd", "bnm", "class_ami", "dev"])
def test_a_run_keeps_the_epoch_its_validator_scores_best(face_sets, criterion):
    data = training_view(face_sets, ("src", "tgt"), ("src",))
    trained = train_run(_plan([criterion], select=criterion), data, 7)
    scores = [h[f"val_{criterion}"] for h in trained.history]
    assert [h["select_score"] for h in trained.history] == pytest.approx(scores)
    assert trained.provenance["selected_epoch"] == int(np.argmax(scores)) + 1


def test_a_source_only_run_records_the_validators_that_read_no_target(face_sets):
    from fer_da.training.selection import validator_scores

    plan = RunPlan(setup="baseline", run="src", seed=0, mode="supervised",
                   train_domains=("src",), labelled_domains=("src",),
                   all_domains=("src", "tgt"), config=TINY)
    data = training_view(face_sets, ("src",), ("src",))
    model = train_run(plan, data, 7)
    from fer_da.training.evaluate import load_model

    scores = validator_scores(LABEL_FREE_VALIDATORS, load_model(model.model_config,
                                                                model.state),
                              data, torch.device("cpu"), 64)
    assert list(scores) == ["val_source_val"]  # the others read the unlabelled pool
