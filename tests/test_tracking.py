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
