"""``conf/local`` as Kedro users expect: a plain ``kedro run`` reads base, the default run
env's recipe (``conf/synthetic``), then ``conf/local``; ``--params`` last; ``--env`` reads
that env alone over base."""

from __future__ import annotations

import yaml

from fer_da.config_loader import LabConfigLoader


def _conf(tmp_path, **envs):
    for env, params in envs.items():
        (tmp_path / env).mkdir(parents=True, exist_ok=True)
        if params is not None:
            (tmp_path / env / "parameters.yml").write_text(yaml.safe_dump(params))
    return str(tmp_path)


def test_a_plain_run_reads_conf_local_over_the_default_recipe(tmp_path):
    conf = _conf(tmp_path, base={"a": 1, "training": {"lr": 0.1, "epochs": 5}},
                 synthetic={"training": {"epochs": 15}},
                 local={"training": {"lr": 0.01}}, lab={"training": {"epochs": 30}})
    plain = LabConfigLoader(conf, base_env="base", default_run_env="synthetic")
    assert plain["parameters"] == {"a": 1, "training": {"lr": 0.01, "epochs": 15}}
    cli = LabConfigLoader(conf, base_env="base", default_run_env="synthetic",
                          runtime_params={"training": {"lr": 0.5}})
    assert cli["parameters"]["training"] == {"lr": 0.5, "epochs": 15}  # the command line last
    lab = LabConfigLoader(conf, base_env="base", default_run_env="synthetic", env="lab")
    assert lab["parameters"] == {"a": 1, "training": {"lr": 0.1, "epochs": 30}}


def test_an_empty_conf_local_changes_nothing(tmp_path):
    conf = _conf(tmp_path, base={"a": 1}, synthetic={"b": 2}, local=None)
    assert LabConfigLoader(conf, base_env="base",
                           default_run_env="synthetic")["parameters"] == {"a": 1, "b": 2}
