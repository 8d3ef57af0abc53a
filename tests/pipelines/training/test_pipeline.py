"""The four namespaced setups end to end on tiny tensors, with an in-memory catalog."""

from __future__ import annotations

import pandas as pd
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from fer_da.pipelines.training.pipeline import setup_pipeline, setup_pipelines
from fer_da.training.checkpoints import CheckpointStore
from fer_da.training.plans import plan_runs
from tests.conftest import make_face_sets

DOMAINS = {"src": {"layout": "jaffe", "role": "source"},
           "tgt": {"layout": "jaffe", "role": "target"},
           "tgt2": {"layout": "jaffe", "role": "target"}}
TRAINING = {"epochs": 1, "batch_size": 4, "backbone": "vgg11_slim_bn", "device": "cpu",
            "tap_dim": 8, "hidden": 8, "seeds": [0]}


def test_plans_follow_the_paper():
    plans = {k: plan_runs({"kind": k, **({"clamps": [3000, 5000]} if k == "dann" else {})},
                          DOMAINS, TRAINING)
             for k in ("baseline", "joint", "finetune", "dann")}
    assert [p["run_id"] for p in plans["baseline"]] == ["baseline/src/seed0"]
    assert [p["train_domains"] for p in plans["joint"]] == [  # ("src",) is the baseline
        ("src", "tgt"), ("src", "tgt", "tgt2")]
    retrained = plan_runs({"kind": "joint", "reuse_baseline": False}, DOMAINS, TRAINING)
    assert [p["train_domains"] for p in retrained][0] == ("src",)
    assert [(p["run"], p["init_from"]) for p in plans["finetune"]] == [
        ("tgt", "baseline/src/seed0"), ("tgt2", "baseline/src/seed0")]
    assert [(p["run"], p["clamp"], p["labelled_domains"]) for p in plans["dann"]] == [
        ("clamp3000", 3000.0, ("src",)), ("clamp5000", 5000.0, ("src",))]
    two_seeds = plan_runs({"kind": "baseline"}, DOMAINS, {**TRAINING, "seeds": [0, 1]})
    assert [p["seed"] for p in two_seeds] == [0, 1]


def test_namespaced_setups_run_end_to_end(tmp_path):
    face_sets = make_face_sets(("src", "tgt", "tgt2"), per_label=3, size=32)
    pipe = (setup_pipeline("baseline") + setup_pipeline("joint")
            + setup_pipeline("finetune", init_from="baseline") + setup_pipeline("dann"))
    data = {"face_sets": face_sets, "params:domains": DOMAINS, "params:training": TRAINING,
            "params:labels": {"keep_contempt": False},
            "params:evaluation": {"splits": ["val"]}, "params:inference": {}, "params:job": {},
            "params:preprocessing": {"detector": {"backend": "none"}, "margin": 0},
            "params:baseline.setup": {"kind": "baseline"},
            "params:joint.setup": {"kind": "joint", "unions": [["src"], ["src", "tgt"]]},
            "params:finetune.setup": {"kind": "finetune", "init_from": "baseline"},
            "params:dann.setup": {"kind": "dann", "clamps": [3000],
                                  "methods": ["dann", "adabn", "erm_mixed"]}}
    for setup in ("baseline", "joint", "finetune", "dann"):
        data[f"{setup}.checkpoints"] = CheckpointStore(tmp_path / setup)
    catalog = DataCatalog({k: MemoryDataset(v, copy_mode="assign") for k, v in data.items()})
    for setup in ("baseline", "joint", "finetune", "dann"):
        for name in ("models", "history", "metrics", "predictions", "serving_model"):
            catalog[f"{setup}.{name}"] = MemoryDataset(copy_mode="assign")
    SequentialRunner().run(pipe, catalog)
    expected_runs = {"baseline": 1, "joint": 1, "finetune": 2, "dann": 3}
    for setup, runs in expected_runs.items():
        metrics: pd.DataFrame = catalog[f"{setup}.metrics"].load()
        assert len(metrics) == runs * 3  # one row per (run, eval_domain)
        assert set(metrics["eval_domain"]) == {"src", "tgt", "tgt2"}
        assert (metrics["n"] == 7).all() and metrics["accuracy"].between(0, 1).all()
        preds = catalog[f"{setup}.predictions"].load()
        assert len(preds) == runs * 3 * 7 and "f47" in preds.columns  # 6 taps x 8
        history = catalog[f"{setup}.history"].load()
        assert len(history) == runs  # one epoch each
    dann_history = catalog["dann.history"].load()
    adversarial = dann_history[dann_history["run"] == "clamp3000"]
    assert adversarial["lambda"].notna().all() and adversarial["dmn_acc"].between(0, 1).all()
    for column in ("clamped_frac", "dmn_majority", "dmn_acc_src", "dmn_acc_tgt2", "adv_loss"):
        assert adversarial[column].between(0, 1e9).all(), column
    assert adversarial["collapsed"].isin([0.0, 1.0]).all()
    control = dann_history[dann_history["run"] == "erm_mixed"]
    assert len(control) == 1 and control["dmn_loss"].isna().all()  # no adversary to watch
    assert len(list((tmp_path / "dann").glob("*.pt"))) == 3
    # AdaBN: the baseline's training (the same weights, so the same source scores), each
    # target scored with its own train split's batch-norm statistics
    base = catalog["baseline.metrics"].load().set_index("eval_domain")
    adabn = catalog["dann.metrics"].load().query("run == 'adabn'").set_index("eval_domain")
    assert adabn.loc["src", "nll"] == base.loc["src", "nll"]
    assert adabn.loc["src", "bn_stats"] == "trained"
    assert list(adabn.loc[["tgt", "tgt2"], "bn_stats"]) == ["tgt/train", "tgt2/train"]
    assert (adabn.loc[["tgt", "tgt2"], "nll"] != base.loc[["tgt", "tgt2"], "nll"]).all()
    serving = catalog["finetune.serving_model"].load()  # the best of two runs
    assert serving.run_id in {"finetune/tgt/seed0", "finetune/tgt2/seed0"}
    assert serving.selected_by.startswith("source_val_accuracy=")
    assert serving.preprocessing["margin"] == 0.0 and "split" not in serving.preprocessing
    assert serving.preprocessing["detector"]["backend"] == "none"


def test_registry_exposes_every_setup_with_its_upstream():
    from fer_da.pipeline_registry import register_pipelines

    pipes = register_pipelines()
    assert {"ingestion", "preprocessing", "baseline", "joint", "finetune", "dann",
            "evaluation", "training", "__default__"} <= set(pipes)
    dann_nodes = {n.name for n in pipes["dann"].nodes}
    assert {"ingest_domains", "detect_faces", "dann.train_models",
            "dann.evaluate_models"} <= dann_nodes
    assert "baseline.train_models" in {n.name for n in pipes["finetune"].nodes}
    assert set(setup_pipelines()) == {"baseline", "joint", "finetune", "dann", "jm", "atf",
                                      "ed2l", "sna", "hagan"}
    assert {"sna.fit_autoencoders", "sna.train_models", "sna.evaluate_models"} <= {
        n.name for n in pipes["sna"].nodes}
