"""What a run prints: third-party notices a user can do nothing about are dropped where
Kedro's logging receives warnings (conf/logging.yml, fer_da/log_filters.py); fer-da's own
warnings are kept."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from fer_da.log_filters import ThirdPartyNotices

ROOT = Path(__file__).parents[1]


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord("py.warnings", logging.WARNING, "x.py", 1, message, None, None)


def test_the_filter_drops_the_named_notices_and_nothing_of_fer_da():
    keep = ThirdPartyNotices().filter
    assert not keep(_record("/x/data_validation.py:187: UserWarning: \x1b[33mAdd type hints "
                            "to the `predict` method to enable data validation"))
    assert not keep(_record("/x/types/utils.py:440: UserWarning: Hint: Inferred schema "
                            "contains integer column(s). Integer columns in Python"))
    assert keep(_record("Face detector 'retinaface' is unavailable; falling back to 'mtcnn'"))
    assert keep(_record("/x/y.py:3: UserWarning: Add a face to the image"))


def test_mlflows_notice_under_its_own_catch_warnings_stays_off_the_console():
    """MLflow raises it with its own "once" filter while kedro-mlflow defines its model
    class (Python's filters in fer_da/__init__.py cannot stop it): the project's logging
    config does, and a warning of fer-da's own still reaches the console."""
    script = (
        "import warnings, yaml\n"
        "import fer_da\n"
        "from kedro.framework.project import LOGGING\n"  # as Kedro reads conf/logging.yml
        "LOGGING.configure(yaml.safe_load(open('conf/logging.yml')))\n"
        "import kedro_mlflow.mlflow.kedro_pipeline_model\n"
        "warnings.warn('fer-da: a warning of our own', UserWarning)\n")
    env = {**os.environ, "COLUMNS": "200"}
    out = subprocess.run([sys.executable, "-c", script], check=False, cwd=ROOT, env=env,
                         text=True, capture_output=True, timeout=300)
    assert out.returncode == 0, out.stderr
    printed = out.stdout + out.stderr
    assert "fer-da: a warning of our own" in printed
    assert "Add type hints" not in printed


def test_a_config_error_prints_its_message_and_any_other_error_its_traceback(capsys):
    from fer_da.validate import ConfigError, plain_config_errors

    seen = []
    hook = plain_config_errors(lambda kind, error, tb: seen.append(error))
    hook(ConfigError, ConfigError("inference.setup must name a setup, got 'dan'"), None)
    assert capsys.readouterr().err.startswith(
        "Configuration error: inference.setup must name a setup, got 'dan'\n")
    assert seen == []
    other = KeyError("x")
    hook(KeyError, other, None)
    assert seen == [other]  # Kedro's rich traceback, as before


def test_a_wrong_key_ends_kedro_run_with_one_message_not_a_traceback(tmp_path):
    from tests.conftest import make_tiny_project

    root = make_tiny_project(tmp_path / "project")
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "200"}
    env.pop("FER_DA_TRACEBACK", None)
    out = subprocess.run([sys.executable, "-m", "kedro", "run", "--env", "tiny",
                          "--pipelines=inference", "--params=inference.setup=dan"],
                         check=False, cwd=root, env=env, text=True, capture_output=True,
                         timeout=300)
    assert out.returncode != 0
    assert "Configuration error: " in out.stderr and "inference.setup" in out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    assert not (root / "data" / "08_reporting").exists()  # stopped before any node
