import numpy as np
import pytest
import torch
from kedro.io import DatasetError, Version

from fer_da.datasets import FaceSetsDataset, TableCacheDataset, TrainedModelsDataset
from fer_da.training.trained import TrainedModel


def test_face_sets_roundtrip_and_versions(tmp_path, face_sets):
    path = str(tmp_path / "face_sets")
    FaceSetsDataset(path, version=Version(None, "2026-01-01T00.00.00.000Z")).save(face_sets)
    later = {k: v.subset(np.arange(len(v.table)) < 3) for k, v in face_sets.items()}
    FaceSetsDataset(path, version=Version(None, "2026-01-02T00.00.00.000Z")).save(later)
    latest = FaceSetsDataset(path, version=Version(None, None)).load()
    assert len(latest["src"].table) == 3
    first = FaceSetsDataset(path, version=Version("2026-01-01T00.00.00.000Z", None)).load()
    np.testing.assert_array_equal(first["tgt"].images, face_sets["tgt"].images)
    assert first["tgt"].table.equals(face_sets["tgt"].table)
    assert not list((tmp_path / "face_sets").rglob("*.pkl"))


def test_trained_models_roundtrip_without_pickle(tmp_path):
    model = TrainedModel("dann/clamp1/seed0", {"setup": "dann"}, {"backbone": "vgg11_slim"},
                         {"w": torch.arange(4.0)}, [{"epoch": 1, "clf_loss": 0.5}],
                         {"faceset_version": "v1", "source_digest": "abc"})
    ds = TrainedModelsDataset(str(tmp_path / "m"))
    ds.save({model.run_id: model})
    back = ds.load()["dann/clamp1/seed0"]
    assert torch.equal(back.state["w"], model.state["w"])
    assert back.plan == model.plan and back.history == model.history
    assert back.provenance == {**model.provenance, "model_version": None}
    with pytest.raises(DatasetError, match="no trained model"):
        TrainedModelsDataset(str(tmp_path / "empty")).load()


def test_table_cache_appends_shards(tmp_path):
    import pandas as pd

    ds = TableCacheDataset(str(tmp_path / "c"))
    assert ds.load().empty
    ds.save(pd.DataFrame({"key": ["a", "b"], "v": [1, 2]}))
    ds.save(pd.DataFrame({"key": ["b"], "v": [3]}))
    assert ds.load().sort_values("key")["v"].tolist() == [1, 3]


def test_two_training_runs_leave_two_model_versions(tmp_path):
    import time

    def model(value: float) -> TrainedModel:
        return TrainedModel("baseline/kdef/seed0", {}, {}, {"w": torch.full((2,), value)}, [])

    TrainedModelsDataset(str(tmp_path / "m"), version=Version(None, None)).save(
        {"baseline/kdef/seed0": model(1.0)})
    time.sleep(0.01)
    TrainedModelsDataset(str(tmp_path / "m"), version=Version(None, None)).save(
        {"baseline/kdef/seed0": model(2.0)})
    versions = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert len(versions) == 2
    latest = TrainedModelsDataset(str(tmp_path / "m"), version=Version(None, None)).load()
    assert latest["baseline/kdef/seed0"].state["w"].tolist() == [2.0, 2.0]
    assert latest["baseline/kdef/seed0"].provenance["model_version"] == versions[1]
    first = TrainedModelsDataset(str(tmp_path / "m"), version=Version(versions[0], None)).load()
    assert first["baseline/kdef/seed0"].state["w"].tolist() == [1.0, 1.0]


def test_face_sets_load_memory_mapped_and_splits_are_views(tmp_path):
    from tests.conftest import make_face_sets

    faces = make_face_sets(("src",), per_label=5, size=16)["src"]
    faces.table.loc[faces.table.index % 5 == 1, "split"] = "test"  # interleaved splits
    grouped = faces.grouped_by_split()
    assert list(grouped.table["split"]) == sorted(faces.table["split"],
                                                  key=["train", "val", "test"].index)
    dataset = FaceSetsDataset(str(tmp_path / "fs"), mmap=True)
    dataset.save({"src": grouped})
    mapped = dataset.load()["src"]
    assert isinstance(mapped.images, np.memmap)
    assert np.array_equal(mapped.images, grouped.images)
    train = mapped.split("train")
    assert np.shares_memory(train.images, mapped.images)  # a view of the file, not a copy
    assert np.array_equal(train.images, faces.images[faces.table["split"] == "train"])
    scattered = faces.split("test")  # not grouped: a copy, still right
    assert not np.shares_memory(scattered.images, faces.images)
