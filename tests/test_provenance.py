"""Every number traceable: code and data digests, face-set versions checked, mixed reports."""

from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from fer_da import provenance
from fer_da.facesets import FaceSet
from fer_da.pipelines.evaluation.nodes import evaluate_models
from fer_da.provenance import PACKAGE, source_digest
from fer_da.reporting.paper_tables import build_tables, pivot
from fer_da.training.checkpoints import CheckpointStore
from fer_da.training.config import RunPlan, TrainConfig
from fer_da.training.data import training_view
from fer_da.training.loop import train_run

TINY = TrainConfig(epochs=1, batch_size=4, device="cpu", tap_dim=8, hidden=8)
PLAN = RunPlan(setup="baseline", run="src", seed=0, mode="supervised", train_domains=("src",),
               labelled_domains=("src",), all_domains=("src", "tgt"), config=TINY)


def test_a_code_change_retrains_and_a_doc_change_does_not(face_sets, tmp_path, monkeypatch):
    pkg = tmp_path / "fer_da"
    shutil.copytree(PACKAGE, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    before = source_digest(pkg)
    (pkg / "NOTES.md").write_text("a doc file")
    assert source_digest(pkg) == before
    loss = pkg / "methods" / "domain_game.py"
    loss.write_text(loss.read_text() + "\n# a fix in the loss\n")
    after = source_digest(pkg)
    assert after != before

    data = training_view(face_sets, PLAN.train_domains, PLAN.labelled_domains)
    store, epochs = CheckpointStore(tmp_path / "ckpt"), []
    monkeypatch.setattr(provenance, "_package_digest", lambda: before)
    first = train_run(PLAN, data, 7, store, on_epoch_end=epochs.append)
    train_run(PLAN, data, 7, store, on_epoch_end=epochs.append)
    assert epochs == [1]  # same code: the checkpoint is reused
    monkeypatch.setattr(provenance, "_package_digest", lambda: after)
    second = train_run(PLAN, data, 7, store, on_epoch_end=epochs.append)
    assert epochs == [1, 1]  # the code changed: retrained, no version bump needed
    assert first.provenance["source_digest"] == before
    assert second.provenance["source_digest"] == after
    assert second.provenance["device"] == "cpu" and second.provenance["precision"] == "fp32"
    assert second.provenance["config_hash"] == PLAN.config_hash()


def test_a_resumed_run_must_match_the_resolved_precision(face_sets, tmp_path):
    data = training_view(face_sets, PLAN.train_domains, PLAN.labelled_domains)
    store, epochs = CheckpointStore(tmp_path), []
    train_run(PLAN, data, 7, store, on_epoch_end=epochs.append)
    train_run(PLAN.with_config(bf16=True), data, 7, store, on_epoch_end=epochs.append)
    assert epochs == [1, 1]  # an fp32 checkpoint is not reused for a bf16 run


def test_adding_a_seed_keeps_the_finished_runs_and_their_checkpoints(face_sets, tmp_path):
    data = training_view(face_sets, PLAN.train_domains, PLAN.labelled_domains)
    store, epochs = CheckpointStore(tmp_path), []
    first = train_run(PLAN, data, 7, store, on_epoch_end=epochs.append)
    more = PLAN.with_config(seeds=(0, 1, 2))
    assert more.config_hash() == PLAN.config_hash()
    again = train_run(more, data, 7, store, on_epoch_end=epochs.append)
    assert epochs == [1]  # seed 0 of [0, 1, 2] is seed 0 of [0]: resumed, not retrained
    assert again.provenance["config_hash"] == first.provenance["config_hash"]
    other = replace(more, seed=1)
    assert other.config_hash() != PLAN.config_hash()  # the run's own seed still counts
    train_run(other, data, 7, store, on_epoch_end=epochs.append)
    assert epochs == [1, 1]


def _versioned(face_sets, version):
    return {k: FaceSet(v.images, v.table, version) for k, v in face_sets.items()}


def test_evaluation_refuses_a_model_of_another_face_set_version(face_sets):
    v1 = _versioned(face_sets, "2026-11-23T10.00.00.000Z")
    data = training_view(v1, PLAN.train_domains, PLAN.labelled_domains)
    trained = train_run(PLAN, data, 7)
    assert trained.provenance["faceset_version"] == "2026-11-23T10.00.00.000Z"
    rerun = _versioned(face_sets, "2026-11-23T11.00.00.000Z")  # same content: accepted
    training = {"device": "cpu"}
    ok, _ = evaluate_models({PLAN.run_id: trained}, rerun, training, {"splits": ["val"]}, {})
    assert not ok["faceset_mismatch"].any()
    changed = {**face_sets, "src": FaceSet(face_sets["src"].images,
                                           face_sets["src"].table.assign(split="val"))}
    v2 = _versioned(changed, "2026-11-23T11.00.00.000Z")  # a new split: refused
    with pytest.raises(ValueError, match=r"face-set version 2026-11-23T10.00.00.000Z but would "
                                         r"be scored on version 2026-11-23T11.00.00.000Z"):
        evaluate_models({PLAN.run_id: trained}, v2, training, {"splits": ["val"]}, {})
    metrics, _ = evaluate_models({PLAN.run_id: trained}, v2, training,
                                 {"splits": ["val"], "allow_other_faceset": True}, {})
    assert metrics["faceset_mismatch"].all()
    assert set(metrics["eval_faceset_version"]) == {"2026-11-23T11.00.00.000Z"}
    same, _ = evaluate_models({PLAN.run_id: trained}, v1, training, {"splits": ["val"]}, {})
    assert not same["faceset_mismatch"].any()
    assert (same["source_digest"] == trained.provenance["source_digest"]).all()
    assert (same["faceset_digest"] == trained.provenance["faceset_digest"]).all()


def _row(setup, run, version, digest="abc", acc=0.5):
    return {"setup": setup, "run": run, "seed": 0, "run_id": f"{setup}/{run}/seed0",
            "eval_domain": "kdef", "split": "test", "accuracy": acc, "nll": 1.0,
            "faceset_version": version, "source_digest": digest}


def test_a_report_of_mixed_face_set_versions_is_refused_or_marked():
    metrics = {"baseline": pd.DataFrame([_row("baseline", "kdef", "v1")]),
               "dann": pd.DataFrame([_row("dann", "clamp3", "v2", acc=0.7)])}
    with pytest.raises(ValueError, match=r"P1: face sets v1, code abc \(baseline\); P2: face "
                                         r"sets v2, code abc \(dann\)"):
        build_tables(metrics, {"kdef": "KDEF"})
    marked = pivot(build_tables(metrics, {"kdef": "KDEF"}, mixed="mark"), "IV", "accuracy")
    assert marked.loc["KDEF", "baseline"] == "50.00% [P1]"
    assert marked.loc["KDEF", "clamp = 3"] == "70.00% [P2]"
    same = {"baseline": metrics["baseline"],
            "dann": pd.DataFrame([_row("dann", "clamp3", "v1", acc=0.7)])}
    assert pivot(build_tables(same, {"kdef": "KDEF"}), "IV", "accuracy").loc[
        "KDEF", "clamp = 3"] == "70.00%"
    code = {"baseline": metrics["baseline"],
            "dann": pd.DataFrame([_row("dann", "clamp3", "v1", digest="def")])}
    with pytest.raises(ValueError, match="different face-set versions or code"):
        build_tables(code, {"kdef": "KDEF"})


def test_face_set_digest_covers_images_labels_and_splits(face_sets):
    fs = face_sets["src"]
    other = FaceSet(fs.images.copy(), fs.table.assign(split="train"))
    assert fs.digest == FaceSet(fs.images.copy(), fs.table.copy()).digest != other.digest
    flipped = FaceSet(np.flip(fs.images, 0).copy(), fs.table)
    assert flipped.digest != fs.digest
