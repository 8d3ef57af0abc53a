"""The tracking hook reads node tags and dataset names, never node names (hooks.py)."""

from __future__ import annotations

from kedro.pipeline import node

from fer_da.hooks import TrainingTrackingHooks
from fer_da.pipelines import tags


def _identity(x):
    return x


def _recording(monkeypatch) -> list[tuple]:
    calls: list[tuple] = []
    for name in ("_log_models", "_log_protocol", "_log_figures", "_log_serving"):
        monkeypatch.setattr(TrainingTrackingHooks, name,
                            lambda self, *a, _n=name: calls.append((_n, *a)))
    return calls


def test_a_renamed_node_keeps_its_tracking_and_a_name_alone_tracks_nothing(monkeypatch):
    calls = _recording(monkeypatch)
    hook = TrainingTrackingHooks()
    renamed = node(_identity, "dann.models", "dann.metrics", name="score_every_model",
                   namespace="dann", tags=[tags.MODELS])
    hook.after_node_run(renamed, {"dann.models": {}}, {"dann.metrics": "m"})
    assert calls == [("_log_models", "dann", {"dann.models": {}}, {"dann.metrics": "m"})]
    calls.clear()
    untagged = node(_identity, "dann.models", "dann.metrics", name="evaluate_models",
                    namespace="dann")
    hook.after_node_run(untagged, {"dann.models": {}}, {"dann.metrics": "m"})
    assert calls == []


def test_protocol_and_figures_are_found_by_tag_and_dataset_name(monkeypatch):
    calls = _recording(monkeypatch)
    hook = TrainingTrackingHooks()
    prep = node(lambda a: (1, 2, "counts", "proto"), "m",
                ["faces", "rejects", "split_summary", "protocol"], name="cut",
                tags=[tags.PROTOCOL])
    hook.after_node_run(prep, {}, {"faces": 1, "rejects": 2, "split_summary": "counts",
                                   "protocol": "proto"})
    assert calls == [("_log_protocol", "proto", "counts")]
    calls.clear()
    figs = node(_identity, "p", ["tsne_figures", "names"], name="x", tags=[tags.TSNE])
    hook.after_node_run(figs, {}, {"tsne_figures": {"a": 1}, "names": []})
    assert calls == [("_log_figures", {"a": 1}, "tsne")]


def test_the_registered_pipelines_tag_what_the_hook_tracks():
    from fer_da.pipelines.reporting import create_pipeline as reporting
    from fer_da.pipelines.training.pipeline import plain_setup_pipelines

    for setup, pipe in plain_setup_pipelines().items():
        scored = [n for n in pipe.nodes if f"{setup}.metrics" in n.outputs]
        assert scored and all(tags.MODELS in n.tags for n in scored), setup
        served = [n for n in pipe.nodes if f"{setup}.serving_model" in n.outputs]
        assert served and all(tags.SERVING in n.tags for n in served), setup
        cut = [n for n in pipe.nodes if "protocol" in n.outputs]
        assert cut and all(tags.PROTOCOL in n.tags for n in cut), setup
    report = reporting()
    for dataset, tag in (("tsne_figures", tags.TSNE), ("confusion_figures", tags.CONFUSION)):
        assert [tag in n.tags for n in report.nodes if dataset in n.outputs] == [True]


def test_each_epoch_reaches_mlflow_while_the_run_still_trains(tmp_path):
    """The loop publishes each epoch (training/events.py); the hook logs it to the run's
    nested MLflow run at once, and the run's final logging reuses that run."""
    import mlflow

    from fer_da.training.events import publish_epoch

    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    hook = TrainingTrackingHooks()
    try:
        experiment = mlflow.tracking.MlflowClient().create_experiment("live")
        with mlflow.start_run(experiment_id=experiment) as parent:
            hook.before_pipeline_run(run_params={}, pipeline=None, catalog=None)
            publish_epoch("dann/clamp3/seed0", {"epoch": 1, "clf_loss": 1.5,
                                                "dmn_loss": float("nan")})
            client = mlflow.tracking.MlflowClient()
            nested = client.search_runs([experiment], f"tags.`mlflow.parentRunId` = "
                                                      f"'{parent.info.run_id}'")
            assert [r.info.run_name for r in nested] == ["dann/clamp3/seed0"]
            history = client.get_metric_history(nested[0].info.run_id, "clf_loss")
            assert [(m.step, m.value) for m in history] == [(1, 1.5)]
            named = client.get_run(parent.info.run_id).data.tags["mlflow.runName"]
            assert named == "synthetic: __default__"  # named while it still trains
            assert "dmn_loss" not in nested[0].data.metrics  # NaN: not logged
            publish_epoch("dann/clamp3/seed0", {"epoch": 2, "clf_loss": 1.2})
            history = client.get_metric_history(nested[0].info.run_id, "clf_loss")
            assert [(m.step, m.value) for m in history] == [(1, 1.5), (2, 1.2)]
            around = hook.after_pipeline_run(run_params={"env": "lab"}, pipeline=None,
                                             catalog=None)
            next(around)
            tags = client.get_run(parent.info.run_id).data.tags
            assert tags["fer_da.env"] == "lab" and tags["mlflow.runName"] == "lab: __default__"
    finally:
        hook._stop_listening()
        mlflow.set_tracking_uri(before)
    publish_epoch("dann/clamp3/seed0", {"epoch": 3, "clf_loss": 1.0})  # no subscriber left
    assert hook._unsubscribe is None


def test_the_run_ends_with_what_ran_the_headline_and_where_things_are():
    import pandas as pd

    from fer_da.reporting.run_summary import summary_lines

    rows = [{"setup": "dann", "run": run, "seed": seed, "eval_domain": d, "role": role,
             "split": "test", "accuracy": acc, "balanced_accuracy": acc / 2}
            for run, acc in (("erm_mixed", 0.5), ("clamp3", 0.7)) for seed in (0, 1)
            for d, role in (("kdef", "source"), ("jaffe", "target"))]
    lines = summary_lines({"dann": ("data/08_reporting/dann_metrics.csv", pd.DataFrame(rows))},
                          {"dann": "data/06_models/dann"}, None, synthetic=True)
    assert lines[0] == "Run finished: dann (on the embedded synthetic faces, not real data)"
    assert lines[1] == ("  dann on jaffe (test, mean of 2 seeds): erm_mixed 50.0% (bal. "
                        "25.0%), clamp3 70.0% (bal. 35.0%)")  # targets only, every run
    assert "metrics data/08_reporting/dann_metrics.csv, models data/06_models/dann" in lines[2]
    assert lines[-1].startswith("Report: not made by this run; `uv run kedro run "
                                "--pipelines=reporting`")
    done = summary_lines({"dann": ("m.csv", pd.DataFrame(rows))}, {}, "r/report.html", False)
    assert done[-1] == "Report: r/report.html" and "synthetic" not in done[0]
    named = summary_lines({"dann": ("m.csv", pd.DataFrame(rows))}, {}, None, False,
                          {"jaffe": "JAFFE"})
    assert named[1].startswith("  dann on JAFFE (test")  # the report's name for it
    assert summary_lines({}, {}, None, False) == []


def test_the_mlflow_line_opens_the_run_among_training_runs():
    from fer_da.reporting.run_summary import mlflow_line

    assert mlflow_line("sqlite:///mlflow.db", "1", "abc") == (
        "MLflow: `uv run kedro mlflow ui`, then "
        "http://127.0.0.1:5000/#/experiments/1/runs/abc?workflowType=machine_learning")
    assert mlflow_line("https://mlflow.lab.org/", "7", "r") == (
        "MLflow: https://mlflow.lab.org/#/experiments/7/runs/r?workflowType=machine_learning")


def test_the_face_sets_are_the_runs_dataset_and_the_experiment_is_model_training(tmp_path):
    import mlflow
    import pandas as pd

    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    hook = TrainingTrackingHooks()
    counts = pd.DataFrame({"domain": ["kdef"], "split": ["test"], "label": ["anger"], "n": [3]})
    protocol = pd.DataFrame([{"domain": "kdef", "layout": "kdef", "detector": "mtcnn",
                              "split_mode": "subject", "n_train": 1, "n_val": 1, "n_test": 3}])
    try:
        client = mlflow.tracking.MlflowClient()
        experiment = client.create_experiment("inputs")
        with mlflow.start_run(experiment_id=experiment) as run:
            hook.before_pipeline_run(run_params={}, pipeline=None, catalog=None)
            hook._log_protocol(protocol, counts)
            around = hook.after_pipeline_run(run_params={}, pipeline=None, catalog=None)
            next(around)
        inputs = client.get_run(run.info.run_id).inputs.dataset_inputs
        assert [i.dataset.name for i in inputs] == [hook._dataset.name]
        assert hook._dataset.name.startswith("face_sets@")
        tags = client.get_experiment(experiment).tags
        assert tags["mlflow.experimentKind"] == "custom_model_development"
    finally:
        hook._stop_listening()
        mlflow.set_tracking_uri(before)
