"""Incremental re-runs: unchanged inputs do no work and leave nothing new behind; a change
makes exactly one new version; the retention command keeps what it promises."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from kedro.io import Version
from PIL import Image
from safetensors.torch import save_file

from fer_da.datasets.facesets_dataset import FaceSetsDataset
from fer_da.datasets.models_dataset import TrainedModelsDataset
from fer_da.datasets.tables_dataset import TableDataset, TablesDataset
from fer_da.facesets import FaceSet
from fer_da.ingest import RawTree
from fer_da.pipelines.ingestion.nodes import ingest_domains
from fer_da.prune import Store, describe, plan_prune
from fer_da.prune import main as prune_main
from fer_da.training.trained import TrainedModel
from tests.conftest import make_tiny_project, run_in_project, write_image


def _version(i: int) -> Version:
    return Version(None, f"2026-01-0{i}T00.00.00.000Z")


def _faces(label: str = "happy") -> dict[str, FaceSet]:
    table = pd.DataFrame({"image_id": ["a/1", "a/2"], "label": [label, "sad"],
                          "split": ["train", "test"],
                          "landmarks": [[1.0, 2.0], None]})  # an object column hashes too
    return {"a": FaceSet(np.arange(32, dtype=np.uint8).reshape(2, 4, 4), table)}


def _saved(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_identical_face_sets_reuse_the_latest_version_silently(tmp_path, caplog):
    path = tmp_path / "face_sets"
    FaceSetsDataset(str(path), version=_version(1)).save(_faces())
    again = FaceSetsDataset(str(path), version=_version(2))
    with warnings.catch_warnings(), caplog.at_level(logging.INFO):
        warnings.simplefilter("error")  # Kedro's save/load mismatch warning would fail here
        again.save(_faces())
    assert _saved(path) == ["2026-01-01T00.00.00.000Z"]
    assert "unchanged, reusing 2026-01-01T00.00.00.000Z" in caplog.text
    # a newer version appearing meanwhile (another run) does not change what this run reads
    FaceSetsDataset(str(path), version=_version(5)).save(_faces("fear"))
    loaded = again.load()
    assert loaded["a"].version == "2026-01-01T00.00.00.000Z"
    np.testing.assert_array_equal(loaded["a"].images, _faces()["a"].images)


def test_only_the_reusing_datasets_own_version_warning_is_silenced(tmp_path):
    from fer_da.datasets.versions import _is_own_mismatch

    own = FaceSetsDataset(str(tmp_path / "a"), version=_version(1))
    other = FaceSetsDataset(str(tmp_path / "b"), version=_version(1))
    said = "Save version 'x' did not match load version 'y' for {}. This is strongly discouraged"
    assert _is_own_mismatch(said.format(own), own)
    assert not _is_own_mismatch(said.format(other), own)  # another thread's: passed on
    assert not _is_own_mismatch(f"something else about {own}.", own)


@pytest.mark.parametrize("change", ["crop", "label", "landmarks", "new_domain"])
def test_any_change_of_a_face_set_is_exactly_one_new_version(tmp_path, change):
    path = tmp_path / "face_sets"
    FaceSetsDataset(str(path), version=_version(1)).save(_faces())
    changed = _faces()
    if change == "crop":
        changed["a"].images[1, 0, 0] ^= 1
    elif change == "label":
        changed["a"].table.loc[0, "label"] = "fear"
    elif change == "landmarks":
        changed["a"].table.at[0, "landmarks"] = [1.0, 2.5]
    else:
        changed["b"] = changed["a"]
    FaceSetsDataset(str(path), version=_version(2)).save(changed)
    FaceSetsDataset(str(path), version=_version(3)).save(changed)  # unchanged since
    assert len(_saved(path)) == 2
    latest = FaceSetsDataset(str(path), version=Version(None, None)).load()["a"]
    assert latest.version == "2026-01-02T00.00.00.000Z"


def test_only_the_latest_version_is_reused(tmp_path):
    """A -> B -> A writes a third version: 'the latest' must stay what the next run loads."""
    path = tmp_path / "face_sets"
    for i, label in enumerate(["happy", "fear", "happy"], start=1):
        FaceSetsDataset(str(path), version=_version(i)).save(_faces(label))
    assert len(_saved(path)) == 3
    latest = FaceSetsDataset(str(path), version=Version(None, None)).load()["a"]
    assert latest.table["label"][0] == "happy"


def _models(weight: float = 1.0, commit: str = "abc", seconds: float = 1.0):
    plan = {"setup": "baseline", "run": "kdef", "seed": 0}
    history = [{"epoch": 1, "loss": 0.5, "seconds": seconds, "images_per_s": 100 / seconds}]
    return {"baseline/kdef/seed0": TrainedModel(
        "baseline/kdef/seed0", plan, {"n_classes": 2}, {"w": torch.full((2, 2), weight)},
        history, {"git_commit": commit, "faceset_version": "v1", "source_digest": "s"},
        ["happy", "sad"])}


def test_an_unchanged_run_reuses_its_models_version(tmp_path):
    path = tmp_path / "baseline"
    TrainedModelsDataset(str(path), version=_version(1)).save(_models())
    # a doc-only commit and other timings: the same model, trained at the first commit
    TrainedModelsDataset(str(path), version=_version(2)).save(_models(commit="def",
                                                                      seconds=2.0))
    assert _saved(path) == ["2026-01-01T00.00.00.000Z"]
    TrainedModelsDataset(str(path), version=_version(3)).save(_models(weight=1.5))
    assert len(_saved(path)) == 2
    loaded = TrainedModelsDataset(str(path), version=Version(None, None)).load()[
        "baseline/kdef/seed0"]
    assert float(loaded.state["w"][0, 0]) == 1.5


def test_unchanged_tables_are_not_rewritten(tmp_path):
    one = TableDataset(str(tmp_path / "t.parquet"))
    many = TablesDataset(str(tmp_path / "m"))
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    one.save(frame)
    many.save({"k": frame, "l": frame})
    stamps = [(tmp_path / "t.parquet").stat().st_mtime_ns, (tmp_path / "m").stat().st_ino]
    os.utime(tmp_path / "t.parquet", ns=(1, 1))  # a rewrite would give it a new time
    one.save(frame.copy())
    many.save({"k": frame.copy(), "l": frame.copy()})
    assert (tmp_path / "t.parquet").stat().st_mtime_ns == 1
    assert (tmp_path / "m").stat().st_ino == stamps[1]  # the folder was not replaced
    one.save(frame.assign(a=[1, 3]))
    many.save({"k": frame})  # a key fewer is a change too
    assert (tmp_path / "t.parquet").stat().st_mtime_ns > 1
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["k.parquet"]
    assert TableDataset(str(tmp_path / "absent.parquet"), missing_ok=True).load().empty


DOMAINS = {"lab": {"layout": "folder", "role": "source"}}


def _counting(monkeypatch) -> list[str]:
    read: list[str] = []
    original = RawTree.content_bytes

    def content_bytes(self, ref):
        read.append(ref)
        return original(self, ref)

    monkeypatch.setattr(RawTree, "content_bytes", content_bytes)
    return read


def test_ingestion_reads_only_files_whose_size_mtime_inode_or_ctime_changed(tmp_path, monkeypatch):
    root = tmp_path / "lab"
    for i, label in enumerate(["happiness", "sadness", "happiness", "fear"]):  # BMP: a
        write_image(root / label / f"s{i}_{label}.bmp", value=10 * i)  # rewrite keeps size
    read = _counting(monkeypatch)
    first, _, summary, index = ingest_domains({"lab": RawTree(root)}, DOMAINS, {})
    assert len(read) == 4 and summary["read"].tolist() == [4]
    read.clear()
    other = pd.DataFrame([{**index.iloc[0].to_dict(), "root": "/elsewhere"}])
    again, _, summary, index = ingest_domains({"lab": RawTree(root)}, DOMAINS, {},
                                              pd.concat([index, other]))
    assert read == [] and summary["read"].tolist() == [0]
    pd.testing.assert_frame_equal(again["lab"], first["lab"])
    assert "/elsewhere" in set(index["root"])  # another env's entries are kept
    changed, size = root / "sadness" / "s1_sadness.bmp", None
    for how in ("mtime", "inode", "ctime"):
        stat = changed.stat()
        size = stat.st_size
        if how == "mtime":  # rewritten in place, same size: only the time tells
            write_image(changed, value=200)
        elif how == "ctime":  # rewritten in place, its modification time put back: the
            write_image(changed, value=150)  # change time (which no tool can set) tells
            os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns))
            assert changed.stat().st_ino == stat.st_ino
        else:  # replaced by another file of the same size and time: only the inode tells
            write_image(tmp_path / "new.bmp", value=90)
            os.replace(tmp_path / "new.bmp", changed)
            os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert changed.stat().st_size == size
        read.clear()
        later, _, summary, index = ingest_domains({"lab": RawTree(root)}, DOMAINS, {}, index)
        assert read == ["sadness/s1_sadness.bmp"] and summary["read"].tolist() == [1], how
        before = first["lab"].set_index("path")["sha256"]
        after = later["lab"].set_index("path")["sha256"]
        assert (before != after).tolist() == [p.endswith("s1_sadness.bmp")
                                              for p in before.index]


def test_a_fully_cached_detection_builds_no_detector(tmp_path, monkeypatch):
    from fer_da.detect import registry
    from fer_da.pipelines.preprocessing.nodes import detect_faces

    root = tmp_path / "lab"
    for i in range(3):
        write_image(root / "happiness" / f"s{i}_happiness.png", size=(40, 40))
    manifests, _, _, _ = ingest_domains({"lab": RawTree(root)}, DOMAINS, {})
    params = {"detector": {"backend": "none"}}
    detections, cache = detect_faces(manifests, {"lab": RawTree(root)}, pd.DataFrame(),
                                     params, DOMAINS)
    assert len(cache) == 3

    def refuse(**_):
        raise AssertionError("a detector was built although every image is cached")

    monkeypatch.setitem(registry.BACKENDS, "none", refuse)
    again, new = detect_faces(manifests, {"lab": RawTree(root)}, cache, params, DOMAINS)
    assert new.empty and again["faces"].tolist() == detections["faces"].tolist()
    with pytest.raises(AssertionError, match="although every image"):  # reached when needed
        detect_faces(manifests, {"lab": RawTree(root)}, pd.DataFrame(), params, DOMAINS)


def test_the_backend_is_known_without_building_it(tmp_path, monkeypatch):
    from fer_da.detect.registry import RETINAFACE_WEIGHTS_URL, resolve_backend

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert resolve_backend("retinaface", "mtcnn", download=False) == "mtcnn"
    assert resolve_backend("retinaface", None, download=False) is None
    assert resolve_backend("retinaface", "mtcnn", download=True) is None  # only trying tells
    assert resolve_backend("retinaface", "mtcnn", weights=str(tmp_path / "w.pth")) == "mtcnn"
    (tmp_path / "w.pth").write_bytes(b"x")
    assert resolve_backend("retinaface", "mtcnn", weights=str(tmp_path / "w.pth")) \
        == "retinaface"
    cached = tmp_path / "torch" / "hub" / "checkpoints" / RETINAFACE_WEIGHTS_URL.rsplit("/")[-1]
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"x")
    assert resolve_backend("retinaface", "mtcnn", download=False) == "mtcnn"  # as built
    assert resolve_backend("retinaface", "mtcnn", download=True) == "retinaface"
    import torch.hub  # the same folder torch would look in

    assert Path(torch.hub.get_dir()) == tmp_path / "torch" / "hub"


# -- retention ------------------------------------------------------------------------------


def _model_file(path: Path, faceset: str, model_version: str | None = None) -> None:
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    provenance = {"faceset_version": faceset}
    if model_version:
        provenance["model_version"] = model_version
    save_file({"w": torch.zeros(4)}, str(path), metadata={"provenance": json.dumps(provenance)})


def _store(tmp_path: Path) -> tuple[list[Store], Path]:
    faces = tmp_path / "face_sets"
    for v in ["v1", "v2", "v3", "v4"]:
        (faces / v / "face_sets").mkdir(parents=True)
        (faces / v / "face_sets" / "a.safetensors").write_bytes(b"x" * 1000)
    models = tmp_path / "baseline"
    _model_file(models / "m1" / "baseline" / "r.safetensors", "v1")
    _model_file(models / "m2" / "baseline" / "r.safetensors", "v1")  # trained on the oldest
    _model_file(models / "m3" / "baseline" / "r.safetensors", "v3")
    serving = tmp_path / "serving"
    _model_file(serving / "baseline.safetensors", "v1", model_version="m1")
    return [Store("face_sets", faces, "face_sets"), Store("baseline.models", models, "models")
            ], serving


def test_prune_keeps_the_latest_and_what_kept_models_were_trained_on(tmp_path):
    stores, _ = _store(tmp_path)
    (tmp_path / "face_sets" / "v9").mkdir()  # a failed save's empty folder: not a version
    plan = plan_prune(stores, keep=1)
    assert plan.keep == {"face_sets": ["v4", "v3"], "baseline.models": ["m3"]}
    assert sorted(v for _, v, _ in plan.remove) == ["m1", "m2", "v1", "v2"]
    plan = plan_prune(stores, keep=2)  # m2 stays: so does v1, its face set
    assert plan.keep == {"face_sets": ["v4", "v3", "v1"], "baseline.models": ["m3", "m2"]}
    with pytest.raises(ValueError, match="--keep must be at least 1"):
        plan_prune(stores, keep=0)


def test_prune_keeps_what_a_serving_model_came_from_and_says_what_it_frees(tmp_path):
    stores, serving = _store(tmp_path)
    plan = plan_prune(stores, keep=1, serving_folders=[serving])
    assert plan.keep == {"face_sets": ["v4", "v3", "v1"], "baseline.models": ["m3", "m1"]}
    assert [v for _, v, _ in plan.remove] == ["v2", "m2"]
    lines = describe(plan, dry_run=True)
    assert "face_sets: keeps 3 version(s)" in lines[0] and "would remove 1" in lines[0]
    assert "v1 (a kept model was trained on it)" in lines[0]
    assert "m1 (a serving model was taken from it)" in lines[1]
    assert lines[-1].startswith("in all: would remove 2 version(s)")
    assert plan.freed == 1000 + (tmp_path / "baseline" / "m2" / "baseline" / "r.safetensors"
                                 ).stat().st_size


@pytest.mark.slow
def test_unchanged_preprocessing_reruns_leave_one_version_and_changes_add_one(tmp_path):
    root = make_tiny_project(tmp_path / "project")
    faces = root / "data" / "05_model_input" / "face_sets"
    run_in_project(root, "tiny", "preprocessing")
    first = _saved(faces)
    said: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: said.append(record.getMessage())
    logging.getLogger("fer_da.datasets.versions").addHandler(handler)  # Kedro sets logging
    try:
        run_in_project(root, "tiny", "preprocessing")
    finally:
        logging.getLogger("fer_da.datasets.versions").removeHandler(handler)
    assert _saved(faces) == first and len(first) == 1
    assert any(f"unchanged, reusing {first[0]}" in m for m in said)
    summary = pd.read_csv(root / "data" / "08_reporting" / "ingestion_summary.csv")
    assert summary["read"].sum() == 0  # nothing hashed again
    # one changed image: one new version, one file read
    image = sorted((root / "data" / "01_raw" / "synthetic" / "jaffe").glob("*.tiff"))[0]
    pixels = np.asarray(Image.open(image)).copy()
    Image.fromarray(255 - pixels).save(image)
    run_in_project(root, "tiny", "preprocessing")
    summary = pd.read_csv(root / "data" / "08_reporting" / "ingestion_summary.csv")
    assert summary["read"].sum() == 1 and len(_saved(faces)) == 2
    # one changed preprocessing key: one new version
    run_in_project(root, "tiny", "preprocessing", {"preprocessing": {"margin": 0.3}})
    run_in_project(root, "tiny", "preprocessing", {"preprocessing": {"margin": 0.3}})
    assert len(_saved(faces)) == 3
    # the retention command, on this project's own catalog
    latest = _saved(faces)[-1]
    prune_main(["--project", str(root), "--env", "tiny", "--keep", "1"])
    assert _saved(faces) == [latest]


@pytest.mark.slow
def test_an_unchanged_baseline_rerun_leaves_one_model_and_one_registered_version(lab):
    import mlflow

    models = lab / "data" / "06_models" / "baseline"
    before = _saved(models)
    run_in_project(lab, "tiny", "baseline")
    assert _saved(models) == before and len(before) == 1
    uri = f"sqlite:///{lab / 'mlflow.db'}"
    client = mlflow.tracking.MlflowClient(uri, registry_uri=uri)
    versions = client.search_model_versions("name='fer_da.tiny.baseline'")  # the env's name
    assert [str(v.version) for v in versions] == ["1"]


def test_normalisation_takes_unchanged_crops_from_the_previous_version(tmp_path,
                                                                         monkeypatch):
    from fer_da.pipelines.preprocessing.nodes import detect_faces, normalise_faces

    root = tmp_path / "lab"
    for i, label in enumerate(["happiness", "sadness", "fear"]):
        write_image(root / label / f"s{i}_{label}.png", size=(40, 40), value=40 * i)
    raw = {"lab": RawTree(root)}
    manifests, _, _, _ = ingest_domains(raw, DOMAINS, {})
    params = {"detector": {"backend": "none"}, "split": {"mode": "random"}}
    detections, _ = detect_faces(manifests, raw, pd.DataFrame(), params, DOMAINS)
    first, *_ = normalise_faces(manifests, raw, detections, params, DOMAINS, {}, {})
    path = tmp_path / "face_sets"
    FaceSetsDataset(str(path), version=_version(1)).save(first)
    previous = FaceSetsDataset(str(path), version=Version(None, None), mmap=True).load()
    read = _counting_images(monkeypatch)
    again, *_ = normalise_faces(manifests, raw, detections, params, DOMAINS, {}, {}, previous)
    assert read == []  # every crop came from the previous version
    FaceSetsDataset(str(path), version=_version(2)).save(again)
    assert _saved(path) == ["2026-01-01T00.00.00.000Z"]  # and it is that version, unchanged
    wider, *_ = normalise_faces(manifests, raw, detections, {**params, "margin": -0.2},
                                DOMAINS, {}, {}, previous)
    assert len(read) == 3  # other crop settings: every image is cropped anew
    assert not np.array_equal(wider["lab"].images, first["lab"].images)


def _counting_images(monkeypatch) -> list[str]:
    read: list[str] = []
    original = RawTree.open_image

    def open_image(self, ref, data=None):
        read.append(ref)
        return original(self, ref, data)

    monkeypatch.setattr(RawTree, "open_image", open_image)
    return read


class _Pipeline:
    """Stands for kedro-mlflow's PipelineML: only what the hook reads."""

    def __init__(self):
        self.log_model_kwargs = {"name": "model", "registered_model_name": "fer_da.baseline"}


def test_a_served_model_registers_a_version_only_when_its_digest_changed(tmp_path):
    import mlflow

    from fer_da.hooks import TrainingTrackingHooks

    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        client = mlflow.tracking.MlflowClient()
        experiment = client.create_experiment("reruns")  # not an earlier test's active one
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.set_tag("serving.baseline.registration", "X")
        # the registered name carries the env (the default run env here): fer_da.<env>.<setup>
        client.create_registered_model("fer_da.synthetic.baseline")
        client.create_model_version("fer_da.synthetic.baseline", source=str(tmp_path),
                                    run_id=run.info.run_id)
        hooks, pipeline = TrainingTrackingHooks(), _Pipeline()
        with mlflow.start_run(experiment_id=experiment):
            for digest, registers in (("X", False), ("Y", True)):
                hooks._serving = {"baseline": digest}
                around = hooks.after_pipeline_run(run_params={}, pipeline=pipeline,
                                                  catalog=None)
                next(around)  # kedro-mlflow logs (and registers) here
                seen = dict(pipeline.log_model_kwargs)
                with pytest.raises(StopIteration):
                    next(around)
                assert ("registered_model_name" in seen) is registers, digest
                if registers:
                    assert seen["registered_model_name"] == "fer_da.synthetic.baseline"
                assert pipeline.log_model_kwargs["registered_model_name"] == "fer_da.baseline"
            hooks._serving = {}  # no served model seen in this run: register as usual
            assert not hooks._registered_unchanged({"registered_model_name":
                                                    "fer_da.synthetic.baseline"})
        with mlflow.start_run(experiment_id=experiment) as old:  # logged before the key
            mlflow.set_tag("serving.baseline.digest", "X")
        client.create_model_version("fer_da.synthetic.baseline", source=str(tmp_path),
                                    run_id=old.info.run_id)
        with mlflow.start_run(experiment_id=experiment):
            hooks._serving = {"baseline": "X"}
            assert not hooks._registered_unchanged({"registered_model_name":
                                                    "fer_da.synthetic.baseline"})
    finally:
        mlflow.set_tracking_uri(before)


def test_a_registered_version_stands_for_the_model_and_the_inference_code():
    from fer_da.digest import registration_key

    code = {"source_digest": "s1", "fer_da_version": "0.1.0"}
    key = registration_key("weights", code)
    assert key == registration_key("weights", dict(code))
    assert key != registration_key("other weights", code)
    assert key != registration_key("weights", {**code, "source_digest": "s2"})  # a code fix
    assert key != registration_key("weights", {**code, "fer_da_version": "0.2.0"})
