"""A model carries its own identity: its class names and order are the authority, and a
content digest recorded at save makes a flipped bit or an edited metadata field an error
naming the file (issue 24)."""

from __future__ import annotations

import json
import logging
import struct
from dataclasses import replace
from pathlib import Path

import pytest
from kedro.io import DatasetError
from safetensors import safe_open
from safetensors.torch import save_file

from fer_da.datasets.models_dataset import ServingModelDataset, TrainedModelsDataset
from fer_da.digest import check_classes, model_digest
from fer_da.inference.serving import serving_model
from fer_da.labels import CANONICAL_LABELS
from fer_da.pipelines.evaluation.nodes import evaluate_models
from tests.test_inference import CLASSES, _serving, _trained

REORDERED = CLASSES[::-1]


def _flip_a_weight_bit(path: Path) -> None:
    """One bit in the middle of the tensor bytes (after the header), as a bad sector would."""
    raw = bytearray(path.read_bytes())
    header = struct.unpack("<Q", raw[:8])[0]
    start = 8 + header
    raw[start + (len(raw) - start) // 2] ^= 0x10
    path.write_bytes(bytes(raw))


def _edit_metadata(path: Path, **changes) -> None:
    with safe_open(path, framework="pt") as handle:
        meta = dict(handle.metadata())
        state = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
    meta.update({k: json.dumps(v) for k, v in changes.items()})
    save_file(state, str(path), metadata=meta)


def test_the_digest_covers_every_tensor_byte_and_the_meaning():
    state = _trained().state
    meaning = {"classes": CLASSES, "model_config": {"n_classes": 7}}
    base = model_digest(state, meaning)
    assert model_digest({k: v.clone() for k, v in state.items()}, meaning) == base
    name = sorted(state)[-1]
    changed = {**state, name: state[name].clone()}
    changed[name].view(-1)[0] += 1
    assert model_digest(changed, meaning) != base
    assert model_digest(state, {**meaning, "classes": REORDERED}) != base
    renamed = {("x" + k if k == name else k): v for k, v in state.items()}
    assert model_digest(renamed, meaning) != base


def test_a_flipped_bit_in_a_trained_model_file_is_refused_naming_it(tmp_path):
    trained = replace(_trained(), classes=CLASSES)
    ds = TrainedModelsDataset(str(tmp_path / "m"))
    ds.save({trained.run_id: trained})
    back = ds.load()[trained.run_id]
    assert back.classes == CLASSES
    path = next((tmp_path / "m").glob("*.safetensors"))
    _flip_a_weight_bit(path)
    with pytest.raises(DatasetError, match=rf"{path.name}.*does not match the digest"):
        ds.load()
    ds.save({trained.run_id: trained})
    path = next((tmp_path / "m").glob("*.safetensors"))
    # the plan decides how serving preprocesses faces: an edited plan is refused too
    _edit_metadata(path, plan={**trained.plan, "labelled_domains": ["tgt"]})
    with pytest.raises(DatasetError, match="does not match the digest"):
        ds.load()


def test_edited_class_names_in_a_serving_file_are_refused(tmp_path):
    path = tmp_path / "serving.safetensors"
    ServingModelDataset(str(path)).save(_serving(replace(_trained(), classes=CLASSES)))
    assert ServingModelDataset(str(path)).load().classes == CLASSES
    _edit_metadata(path, classes=REORDERED)  # would relabel every prediction
    with pytest.raises(DatasetError, match="does not match the digest"):
        ServingModelDataset(str(path)).load()
    _edit_metadata(path, classes=CLASSES[:3])  # was an IndexError in `mlflow models predict`
    with pytest.raises(DatasetError, match="does not match the digest"):
        ServingModelDataset(str(path)).load()
    ServingModelDataset(str(path)).save(_serving(replace(_trained(), classes=CLASSES)))
    _flip_a_weight_bit(path)
    with pytest.raises(DatasetError, match=str(path)):
        ServingModelDataset(str(path)).load()


def test_a_file_saved_before_digests_loads_with_a_warning(tmp_path, caplog):
    trained = _trained()
    ds = TrainedModelsDataset(str(tmp_path / "m"))
    ds.save({trained.run_id: trained})
    path = next((tmp_path / "m").glob("*.safetensors"))
    with safe_open(path, framework="pt") as handle:
        meta = {k: v for k, v in handle.metadata().items() if k != "digest"}
        state = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
    save_file(state, str(path), metadata=meta)
    with caplog.at_level(logging.WARNING):
        back = ds.load()[trained.run_id]
    assert back.classes is None and "records no digest" in caplog.text


def test_the_model_names_its_classes_and_a_reordered_configuration_is_an_error():
    trained = replace(_trained(), classes=CLASSES)
    serving = _serving(trained)
    args = (serving.preprocessing_domain, serving.preprocessing, "none", "run_id")
    assert serving_model(trained, CLASSES, *args).classes == CLASSES
    with pytest.raises(ValueError, match=r"predicts the classes \['anger'.*but labels.classes "
                                         r"is \['neutral'"):
        serving_model(trained, REORDERED, *args)
    # a model saved before it recorded its classes takes the configured ones
    assert serving_model(replace(trained, classes=None), REORDERED, *args).classes == REORDERED
    assert check_classes("r", None, ["a", "b"]) == ["a", "b"]


def test_evaluation_refuses_a_configuration_that_reorders_the_models_classes(face_sets):
    trained = replace(_trained(), classes=list(CANONICAL_LABELS))
    labels = {"classes": list(CANONICAL_LABELS)[::-1]}
    with pytest.raises(ValueError, match="labels.classes"):
        evaluate_models({trained.run_id: trained}, face_sets, {"device": "cpu"},
                        {"splits": ["val"]}, labels)
