"""The grid as independent jobs: one run per process, gathered by a reporting pipeline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from fer_da.grid import job_commands
from fer_da.training.plans import plan_runs
from fer_da.validate import ConfigError
from tests.conftest import PROJECT, make_tiny_project, run_in_project

DOMAINS = {"src": {"layout": "jaffe", "role": "source"},
           "tgt": {"layout": "jaffe", "role": "target"}}


def test_a_job_keeps_one_run_of_its_setup():
    setup = {"kind": "dann", "clamps": [1.0, 3.0]}
    training = {"seeds": [0, 1]}
    every = [p["run_id"] for p in plan_runs(setup, DOMAINS, training)]
    assert len(every) == 4
    job = plan_runs(setup, DOMAINS, training, job={"run": "dann/clamp3/seed1"})
    assert [p["run_id"] for p in job] == ["dann/clamp3/seed1"]
    other = plan_runs(setup, DOMAINS, training, job={"run": "baseline/src/seed0"})
    assert [p["run_id"] for p in other] == every  # another setup's job: all of these
    with pytest.raises(ConfigError, match="dann/clamp9/seed0.*is not a run of dann"):
        plan_runs(setup, DOMAINS, training, job={"run": "dann/clamp9/seed0"})


def test_job_commands_list_every_run_baseline_first():
    params = {"domains": DOMAINS, "training": {"seeds": [0, 1]},
              "dann": {"setup": {"kind": "dann", "clamps": [3.0]}},
              "baseline": {"setup": {"kind": "baseline"}}}
    lines = job_commands(params, ["dann", "baseline"], "grid")
    assert lines == [
        f"kedro run --env grid --pipelines={s} --from-nodes={s}.plan_runs "
        f"--params=job.run={r}"
        for s, r in (("baseline", "baseline/src/seed0"), ("baseline", "baseline/src/seed1"),
                     ("dann", "dann/clamp3/seed0"), ("dann", "dann/clamp3/seed1"))]


def _grid_env(root: Path) -> None:
    """``tinygrid``: the tiny synthetic default written to the grid's stores."""
    env = root / "conf" / "tinygrid"
    env.mkdir()
    catalog = yaml.safe_load((PROJECT / "conf" / "grid" / "catalog.yml").read_text())
    catalog.update(yaml.safe_load((root / "conf" / "tiny" / "catalog.yml").read_text()))
    (env / "catalog.yml").write_text(yaml.safe_dump(catalog))
    (env / "parameters.yml").write_text((root / "conf" / "tiny" / "parameters.yml").read_text())


@pytest.mark.slow
def test_two_runs_as_two_processes_are_gathered_by_reporting(tmp_path):
    root = make_tiny_project(tmp_path / "project", {"epochs": 1})
    _grid_env(root)
    run_in_project(root, "tinygrid", "preprocessing")
    kedro = Path(sys.executable).with_name("kedro")
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "OMP_NUM_THREADS": "1"}
    jobs = [("baseline", "baseline/kdef/seed0"), ("dann", "dann/clamp3/seed0")]
    procs = [subprocess.Popen([str(kedro), "run", "--env", "tinygrid", f"--pipelines={s}",
                               f"--from-nodes={s}.plan_runs", f"--params=job.run={run}"],
                              cwd=root, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for s, run in jobs]
    for p in procs:  # both at once: they share the face sets and write apart
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]

    grid = root / "data" / "grid"
    for setup, run in jobs:
        metrics = pd.read_csv(grid / "jobs" / run / f"{setup}_metrics.csv")
        assert set(metrics["run_id"]) == {run} and len(metrics) == 4
        models = sorted(p.name for p in (grid / "06_models" / setup).iterdir())
        assert models == [f"{run.replace('/', '__')}.safetensors"]  # one file per run
    assert len(list((root / "data" / "05_model_input" / "face_sets").iterdir())) == 1

    run_in_project(root, "tinygrid", "gather")
    paired = pd.read_csv(grid / "08_reporting" / "paired_comparison.csv")
    assert set(paired["run"]) == {"clamp3"}
    assert set(paired["domain"]) == {"ckplus", "jaffe", "tfeid"}  # every target, both jobs
    assert (paired["seeds"] == 1).all() and paired["source_only"].between(0, 100).all()


def test_the_store_lock_takes_a_lock_beside_sqlite_and_needs_no_mlflow_yml(tmp_path):
    from types import SimpleNamespace

    from kedro.config import MissingConfigException

    from fer_da.lazy_plugins import _store_lock

    class Loader(dict):
        def __getitem__(self, key):
            if key not in self:
                raise MissingConfigException(f"no {key} config")
            return dict.__getitem__(self, key)

    bare = SimpleNamespace(config_loader=Loader(), project_path=tmp_path)
    with _store_lock(bare):  # an env without mlflow.yml: nothing to lock, no error
        pass
    sqlite = SimpleNamespace(config_loader=Loader(mlflow={"server": {
        "mlflow_tracking_uri": "sqlite:///db/mlflow.db"}}), project_path=tmp_path)
    with _store_lock(sqlite):
        assert (tmp_path / "db" / "mlflow.db.lock").is_file()
