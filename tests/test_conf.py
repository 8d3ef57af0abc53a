"""Every shipped configuration is consistent: declared domains have roots, and vice versa."""

from pathlib import Path

import pytest

from fer_da.config_loader import LabConfigLoader
from fer_da.ingest import parse_domain_specs
from fer_da.labels import vocabulary
from fer_da.preprocess.config import domain_configs
from fer_da.training.plans import plan_runs

CONF = Path(__file__).parents[1] / "conf"


def _load(env: str):
    loader = LabConfigLoader(str(CONF), base_env="base", default_run_env=env)
    return loader["parameters"], loader["catalog"]


@pytest.mark.parametrize("env", ["local", "synthetic", "paper", "example_lab", "realfaces",
                                 "realbench", "cdfer", "gpu"])
def test_env_declares_matching_domains_and_roots(env):
    params, catalog = _load(env)
    specs = parse_domain_specs(params["domains"])
    assert {s.name for s in specs} == set(catalog["raw_domains"]["domains"])
    assert vocabulary(params["labels"])
    configs = domain_configs(params["preprocessing"], {s.name: s.preprocessing for s in specs})
    assert set(configs) == {s.name for s in specs}
    for kind in ("baseline", "joint", "finetune", "dann"):
        assert plan_runs(params[kind]["setup"], params["domains"], params["training"])


def test_paper_env_uses_the_paper_hyper_parameters():
    params, _ = _load("paper")
    t = params["training"]
    assert (t["epochs"], t["batch_size"], t["lr"], t["backbone"]) == (100, 40, 1e-4, "vgg19")
    assert params["preprocessing"]["image_size"] == 224
    assert params["preprocessing"]["detector"]["min_score"] == 0.8  # merged from conf/base
    assert params["preprocessing"]["split"]["mode"] == "random"
    assert params["dann"]["setup"]["clamps"] == [3000, 5000, 7000, 10000]


def test_realfaces_env_treats_its_sets_as_face_crops_with_their_own_splits():
    params, _ = _load("realfaces")
    specs = {s.name: s for s in parse_domain_specs(params["domains"])}
    configs = domain_configs(params["preprocessing"],
                             {n: s.preprocessing for n, s in specs.items()})
    assert {c.detector.backend for c in configs.values()} == {"none"}
    assert configs["sfew"].split.within == "group" and configs["sfew"].split.mode == "source"
    assert configs["fer2013"].image_size == 48


def test_a_relative_sqlite_mlflow_store_is_the_projects(tmp_path):
    from fer_da.config_loader import absolute_sqlite_uris

    conf = {"server": {"mlflow_tracking_uri": "sqlite:///mlflow.db",
                       "mlflow_registry_uri": None}, "tracking": {"x": 1}}
    out = absolute_sqlite_uris(conf, tmp_path)
    assert out["server"]["mlflow_tracking_uri"] == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert out["server"]["mlflow_registry_uri"] is None and out["tracking"] == {"x": 1}
    absolute = {"server": {"mlflow_tracking_uri": f"sqlite:///{tmp_path}/other.db"}}
    assert absolute_sqlite_uris(absolute, tmp_path / "elsewhere") == absolute
    remote = {"server": {"mlflow_tracking_uri": "http://mlflow:5000"}}
    assert absolute_sqlite_uris(remote, tmp_path) == remote


def test_a_lab_env_of_domains_alone_trains_exactly_as_conf_realfaces(tmp_path):
    """conf/base is the real-face recipe: an env that declares only conf/realfaces's domains
    plans the very runs conf/realfaces plans (same configuration hashes, preprocessing and
    evaluation), so its numbers are conf/realfaces's."""
    import shutil

    import yaml

    from fer_da.training.config import RunPlan

    shutil.copytree(CONF / "base", tmp_path / "base")
    shutil.copytree(CONF / "realfaces", tmp_path / "realfaces")
    realfaces = yaml.safe_load((CONF / "realfaces" / "parameters.yml").read_text())
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "parameters.yml").write_text(yaml.safe_dump(
        {"domains": realfaces["domains"]}))

    def plans(env: str) -> list[str]:
        params = LabConfigLoader(str(tmp_path), base_env="base",
                                 default_run_env=env)["parameters"]
        runs = plan_runs(params["baseline"]["setup"], params["domains"], params["training"],
                         params["preprocessing"])
        return [RunPlan.from_dict(p).config_hash() for p in runs], params["evaluation"]

    lab, realfaces_plans = plans("lab"), plans("realfaces")
    assert lab == realfaces_plans
    synthetic = LabConfigLoader(str(CONF), base_env="base",
                                default_run_env="synthetic")["parameters"]["training"]
    assert (synthetic["epochs"], synthetic["augment"], synthetic["select"]) == (15, None,
                                                                                "last")


def test_the_grid_trains_what_a_plain_kedro_run_trains():
    grid, _ = _load("grid")
    synthetic, _ = _load("synthetic")
    assert grid["training"] == synthetic["training"]
    assert grid["evaluation"] == synthetic["evaluation"]


@pytest.mark.parametrize("env", ["realfaces", "realbench", "cdfer"])
def test_a_real_data_env_writes_only_under_its_own_data_root(env):
    """Every output of a real-data env lives under data/<env>/: none overwrites the synthetic
    default's (conf/realfaces once wrote its histories into data/07_model_output)."""
    _, catalog = _load(env)
    inputs = ("raw_domains", "inference_input")  # read, never written
    paths = {name: body.get("filepath") or body.get("path")
             or (body.get("dataset") or {}).get("filepath")  # MLflow artifact wrappers
             for name, body in catalog.items() if isinstance(body, dict) and name not in inputs}
    assert None not in paths.values(), [n for n, p in paths.items() if p is None]
    outside = {n: p for n, p in paths.items() if not str(p).startswith(f"data/{env}/")}
    assert len(paths) > 30 and not outside
