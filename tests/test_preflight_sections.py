"""The preflight covers every section (issue 39): unknown keys anywhere, the top level
included, whichever pipeline runs; the values of the sections the pipeline reads (numbers
finite and in range, backbone and detector names, weight files, the FERG root, inference,
evaluation, reporting, job); every problem in one message, before any node.

Each test runs ``kedro run`` in a lab env whose raw folders do not exist: with the
preflight hook in place it stops with a ConfigError naming the key; without it, the first
node fails on the missing folder (or the missing models) instead, so each test fails."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import save_file

from fer_da.config_loader import LabConfigLoader
from fer_da.models.weights import check_weights_file
from fer_da.preflight import preflight
from fer_da.validate import ConfigError
from tests.conftest import PROJECT, run_in_project

LAB = yaml.safe_load((PROJECT / "conf" / "example_lab" / "parameters.yml").read_text())


def _merged(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in over.items():
        out[key] = (_merged(out[key], value) if isinstance(value, dict)
                    and isinstance(out.get(key), dict) else value)
    return out


def _lab(tmp_path: Path, changes: dict) -> Path:
    """A project whose env ``lab`` is conf/example_lab with ``changes`` merged in; its raw
    folders (data/01_raw/kdef, /data/lab/webcam_faces) do not exist."""
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    shutil.copy(PROJECT / "pyproject.toml", root / "pyproject.toml")
    shutil.copytree(PROJECT / "conf" / "base", root / "conf" / "base")
    (root / "conf" / "local").mkdir()
    shutil.copytree(PROJECT / "conf" / "example_lab", root / "conf" / "lab")
    (root / "conf" / "lab" / "parameters.yml").write_text(yaml.safe_dump(_merged(LAB, changes)))
    return root


def _stopped(root: Path, pipeline: str) -> str:
    """The ConfigError a run of ``pipeline`` stops with; nothing was written."""
    with pytest.raises(ConfigError) as info:
        run_in_project(root, "lab", pipeline)
    data = root / "data"
    assert not data.exists() or not [p for p in data.rglob("*") if p.is_file()]
    return str(info.value)


def _passes_preflight(root: Path, pipeline: str) -> None:
    """The run gets past the preflight: it fails at its first node, on the absent raw root."""
    with pytest.raises(FileNotFoundError, match="raw dataset root"):
        run_in_project(root, "lab", pipeline)


def test_a_typo_in_every_section_is_named_in_one_message(tmp_path):
    changes = {"trainig": {"epochs": 3}, "training": {"lrr": 0.1, "augment": {"flipp": True}},
               "preprocessing": {"detector": {"backnd": "mtcnn"}, "splitt": {}},
               "labels": {"clases": ["anger"]}, "evaluation": {"tta_": "flip"},
               "inference": {"batchsize": 8}, "reporting": {"metrik": "f1"},
               "job": {"rn": "dann/clamp1/seed0"},
               "domains": {"kdef": {"optionz": {}}, "webcam": {"role": "target"}},
               "dann": {"sertup": 1, "setup": {"clamp": [1.0]}},
               "hagan": {"characters": {"sorce": "ferg"}, "setup": {"options": {"l1weight": 1}}}}
    message = _stopped(_lab(tmp_path, changes), "dann")
    named = ["trainig", "training.lrr", "training.augment.flipp", "preprocessing.splitt",
             "preprocessing.detector.backnd", "labels.clases", "evaluation.tta_",
             "inference.batchsize", "reporting.metrik", "job.rn", "domains.kdef.optionz",
             "dann.sertup", "dann.setup.clamp", "hagan.characters.sorce",
             "hagan.setup.options.l1weight"]
    for key in named:
        assert f"- {key}: unknown key" in message, key
    assert message.startswith(f"{len(named)} configuration problem(s)")
    assert "trainig: unknown key (did you mean 'training'?)" in message
    assert "training.lrr: unknown key (did you mean 'lr'?); training accepts [" in message


def test_a_misspelt_top_level_section_stops_any_pipeline(tmp_path):
    message = _stopped(_lab(tmp_path, {"trainig": {"epochs": 3}}), "ingestion")
    assert "trainig: unknown key (did you mean 'training'?); the top level accepts" in message


@pytest.mark.parametrize("training,match", [
    ({"lr": float("nan")}, r"training.lr must be finite, got nan"),
    ({"hidden": 10 ** 12}, r"training.hidden must be <= 16384, got 1000000000000"),
    ({"lr": 1000.0}, r"training.lr must be <= 10.0"),
])
def test_training_numbers_are_finite_and_in_range_before_preprocessing(tmp_path, training,
                                                                        match):
    root = _lab(tmp_path, {"training": training})
    with pytest.raises(ConfigError, match=match):  # preprocessing reads params:training
        run_in_project(root, "lab", "preprocessing")
    _passes_preflight(root, "ingestion")  # which does not read it: its values wait


@pytest.mark.parametrize("changes,pipeline,match", [
    ({"training": {"backbone": "timm:resnet_nope"}}, "dann",
     r"training.backbone.*timm has no model 'resnet_nope'"),
    ({"training": {"backbone": "vgg12"}}, "dann", r"unknown backbone 'vgg12'"),
    ({"preprocessing": {"detector": {"backend": "retinafce"}}}, "preprocessing",
     r"preprocessing.detector.backend must be one of .*got 'retinafce'"),
    ({"domains": {"webcam": {"preprocessing": {"detector": {"fallback": "mtcn"}}}}},
     "preprocessing", r"domains.webcam.preprocessing.*detector.fallback .*'mtcn'"),
    ({"preprocessing": {"detector": {"weights": 123}}}, "ingestion",
     r"preprocessing.detector.weights must be a path \(a string\) or null, got 123"),
])
def test_backbone_and_detector_names_are_checked_first(tmp_path, changes, pipeline, match):
    with pytest.raises(ConfigError, match=match):
        run_in_project(_lab(tmp_path, changes), "lab", pipeline)


def _weights(tmp_path: Path) -> dict[str, Path]:
    good = tmp_path / "good.safetensors"
    save_file({"w": torch.ones(64, 64)}, str(good))
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    pth = tmp_path / "pth.safetensors"
    torch.save({"w": torch.ones(2)}, pth)
    torch_cut = tmp_path / "cut.pth"
    torch.save({"w": torch.ones(4096)}, torch_cut)
    torch_cut.write_bytes(torch_cut.read_bytes()[:1000])
    (tmp_path / "folder.safetensors").mkdir()
    return {"good": good, "cut": cut, "pth": pth, "torch_cut": torch_cut,
            "folder": tmp_path / "folder.safetensors", "missing": tmp_path / "none.pth"}


@pytest.mark.parametrize("name,match", [
    ("cut", r"cut\.safetensors is not a readable weights file: it is cut short"),
    ("pth", r"pth\.safetensors is not a readable weights file: its header"),
    ("torch_cut", r"cut\.pth is not a readable weights file: it is no zip archive"),
    ("folder", r"folder\.safetensors is not a file"),
    ("missing", r"none\.pth does not exist"),
])
def test_a_damaged_weights_file_is_named_before_any_work(tmp_path, name, match):
    path = _weights(tmp_path)[name]
    root = _lab(tmp_path, {"training": {"pretrained": True, "weights_file": str(path)}})
    with pytest.raises(ConfigError, match=r"training.weights_file\)?: .*" + match):
        run_in_project(root, "lab", "dann")


def test_readable_weights_files_pass_the_cheap_check(tmp_path):
    files = _weights(tmp_path)
    check_weights_file(files["good"])
    whole = tmp_path / "whole.pth"
    torch.save({"w": torch.ones(4096)}, whole)
    check_weights_file(whole)
    dat = tmp_path / "dlib_face_recognition_resnet_model_v1.dat"  # dlib's format: its reader's
    dat.write_bytes(b"\x00dlib")
    check_weights_file(dat)
    with pytest.raises(ValueError, match=r"must be a path \(a string\), got 123"):
        check_weights_file(123)


def test_the_ferg_root_and_character_options_are_checked_before_ingestion(tmp_path):
    ferg = {"source": "ferg", "root": str(tmp_path / "no_ferg")}
    root = _lab(tmp_path, {"hagan": {"characters": ferg}})
    assert "hagan.characters.root" in _stopped(root, "hagan")
    assert "is not a folder" in _stopped(root, "hagan")
    for name in ("aia", "ray"):
        (tmp_path / "no_ferg" / name / f"{name}_joy").mkdir(parents=True)
    root = _lab(tmp_path / "b", {"hagan": {"characters": {**ferg, "names": ["bonnie"]}}})
    assert "hagan.characters.names ['bonnie'] not found" in _stopped(root, "hagan")
    root = _lab(tmp_path / "c", {"hagan": {"characters": ferg,
                                           "setup": {"options": {"characters": 3}}}})
    assert "2 characters under" in _stopped(root, "hagan")
    root = _lab(tmp_path / "d", {"hagan": {"characters": {"count": 0}}})
    assert "hagan.characters.count must be >= 1" in _stopped(root, "hagan")


@pytest.mark.parametrize("pipeline,changes,match", [
    ("inference", {"inference": {"batchsize": 8}}, r"inference.batchsize: unknown key"),
    ("inference", {"inference": {"batch_size": 10 ** 9}}, r"inference.batch_size must be <="),
    ("inference", {"inference": {"setup": "dan"}}, r"inference.setup must name a setup"),
    ("inference", {"inference": {"every_s": float("inf")}}, r"inference.every_s must be "
                                                             r"finite"),
    ("evaluation", {"evaluation": {"tta": "flop"}}, r"evaluation.tta must be one of"),
    ("evaluation", {"evaluation": {"allow_other_faceset": "yes"}},
     r"evaluation.allow_other_faceset must be true or false"),
    # reporting's own nodes check too: the default pipeline (training, then reporting)
    ("__default__", {"reporting": {"tsne_max_points": 0}}, r"reporting.tsne_max_points must "
                                                         r"be >= 2"),
    ("__default__", {"reporting": {"paper_reference": "false"}},
     r"reporting.paper_reference must be true or false"),
    ("ingestion", {"reporting": {"metrik": "f1"}}, r"reporting.metrik: unknown key"),
])
def test_inference_evaluation_and_reporting_are_checked_before_a_model_exists(
        tmp_path, pipeline, changes, match):
    with pytest.raises(ConfigError, match=match):
        run_in_project(_lab(tmp_path, changes), "lab", pipeline)


def test_job_run_names_a_run_of_a_setup_the_pipeline_trains(tmp_path):
    root = _lab(tmp_path, {"job": {"run": "baseline/kdef/seed0"}})
    assert ("job.run 'baseline/kdef/seed0' is not a run id (<setup>/<run>/seed<n>) of a "
            "setup this pipeline trains (['dann'])") in _stopped(root, "dann")
    root = _lab(tmp_path / "b", {"job": {"run": "dann/nope/seed0"}})
    assert "job.run 'dann/nope/seed0' is not a run of dann" in _stopped(root, "dann")
    root = _lab(tmp_path / "c", {"job": {"rn": "dann/clamp1/seed0"}})
    assert "job.rn: unknown key (did you mean 'run'?)" in _stopped(root, "ingestion")
    _passes_preflight(_lab(tmp_path / "d", {"job": {"run": "dann/clamp1/seed0"}}), "dann")


@pytest.mark.parametrize("env", ["paper", "realbench", "realfaces", "example_lab", "grid",
                                 "synthetic"])
def test_every_shipped_environment_passes_the_top_level_check(env):
    """The top level against what the registered pipelines read: no shipped key is taken
    for a typo."""
    from fer_da.hooks import parameters_read
    from fer_da.pipeline_registry import register_pipelines

    known = {p for each in register_pipelines().values() for p in parameters_read(each)}
    params = LabConfigLoader(str(PROJECT / "conf"), env=env, base_env="base",
                             default_run_env="local",
                             merge_strategy={"parameters": "soft"})["parameters"]
    assert preflight(params, set(), reads=set(), known=known) == []
