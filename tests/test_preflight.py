"""Configuration mistakes fail before any work, naming the key (issue 24): image sizes the
backbone cannot take or too large to hold, unknown evaluation splits, empty seeds, a zero
test fraction, an absent device, domain names that cannot be folder names."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
import yaml

from fer_da.preflight import evaluation_splits, preflight, setups_in
from fer_da.validate import ConfigError
from tests.conftest import PROJECT, make_tiny_project, run_in_project

BASE = {k: v for f in sorted((PROJECT / "conf" / "base").glob("parameters*.yml"))
        for k, v in (yaml.safe_load(f.read_text()) or {}).items()}
TRAINING_NS = {"dann", "dann.something", "", "ingestion"}


def _with(**changes) -> dict:
    params = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        node = params
        for key in path:
            node = node.setdefault(key, {})
        node[last] = value
    return params


@pytest.mark.parametrize("env", ["paper", "realbench", "realfaces", "example_lab"])
def test_every_shipped_environment_passes(env):
    from fer_da.config_loader import LabConfigLoader

    params = LabConfigLoader(str(PROJECT / "conf"), env=env, base_env="base",
                             default_run_env="local",
                             merge_strategy={"parameters": "soft"})["parameters"]
    assert preflight(params, {k for k, v in params.items()
                              if isinstance(v, dict) and "setup" in v})


def test_the_shipped_configuration_passes_for_every_setup():
    setups = preflight(BASE, {k for k, v in BASE.items()
                              if isinstance(v, dict) and "setup" in v})
    assert {"baseline", "dann", "sna", "hagan"} <= set(setups)
    assert setups_in(TRAINING_NS, BASE) == ["dann"]
    assert setups_in({"", "ingestion", "preprocessing"}, BASE) == []


@pytest.mark.parametrize("changes,match", [
    ({"preprocessing__image_size": 17}, r"preprocessing.image_size 17 .*backbone "
                                        r"'vgg11_slim_bn'.*at least 32 px"),
    ({"preprocessing__image_size": 10000}, r"preprocessing.image_size must be at most 512"),
    ({"evaluation__splits": ["test", "vall"]}, r"evaluation.splits .*unknown: \['vall'\]"),
    ({"evaluation__splits": ["tset"]}, r"evaluation.splits"),
    ({"evaluation__splits": []}, r"evaluation.splits"),
    ({"training__seeds": []}, r"training.seeds is empty"),
    ({"training__seeds": [0, 0]}, r"training.seeds lists a seed twice"),
    ({"preprocessing__split__test_fraction": 0}, r"preprocessing.split.test_fraction is 0"),
    ({"training__device": "tpu"}, r"training.device"),
    ({"training__backbone": "vgg12"}, r"training.backbone.*unknown backbone 'vgg12'"),
])
def test_each_mistake_fails_at_the_start_naming_its_key(changes, match):
    with pytest.raises(ConfigError, match=match):
        preflight(_with(**changes), TRAINING_NS)


def test_a_per_domain_mistake_names_the_domain_key():
    params = _with(domains__jaffe__preprocessing={"split": {"test_fraction": 0}})
    with pytest.raises(ConfigError, match=r"domains.jaffe.preprocessing.split.test_fraction"):
        preflight(params, TRAINING_NS)
    # a layout's own test split ('source' mode) needs no fraction; val-only evaluation neither
    preflight(_with(preprocessing__split__test_fraction=0, evaluation__splits=["val"]),
              TRAINING_NS)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_an_absent_cuda_device_is_named_before_training():
    with pytest.raises(ConfigError, match=r"training.device\) is 'cuda' but this machine "
                                          r"has no usable CUDA device"):
        preflight(_with(training__device="cuda"), TRAINING_NS)
    # only pipelines that train check the device
    preflight(_with(training__device="cuda"), {"", "ingestion", "preprocessing"})


@pytest.mark.parametrize("name", ["my/dom", "../up", "a b", ".hidden", ""])
def test_a_domain_name_that_cannot_be_a_folder_is_named(name):
    params = copy.deepcopy(BASE)
    params["domains"][name] = params["domains"].pop("jaffe")
    with pytest.raises(ConfigError, match=r"a domain name becomes a folder"):
        preflight(params, set())


def test_splits_are_read_in_order():
    assert evaluation_splits({"splits": ["val", "test"]}) == ["val", "test"]
    assert evaluation_splits(None) == ["test"]


def test_a_kedro_run_with_a_mistake_writes_nothing(tmp_path: Path):
    """The hook runs before the first node: a split name that evaluation alone reads (after
    ingestion, preprocessing and training) stops the run before any file is written."""
    root = make_tiny_project(tmp_path / "lab")
    with pytest.raises(ConfigError, match=r"evaluation.splits .*unknown: \['tset'\]"):
        run_in_project(root, "tiny", "dann", {"evaluation": {"splits": ["tset"]}})
    data = root / "data"
    assert not data.exists() or not [p for p in data.rglob("*") if p.is_file()]
