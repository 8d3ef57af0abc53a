"""Project settings: config loader, hooks (third-party notices a user can do nothing
about are filtered by ``fer_da/__init__.py``, the first of the project Kedro imports)."""

from fer_da.config_loader import DEFAULT_RUN_ENV, LabConfigLoader
from fer_da.hooks import (
    DistributedOutputsHook,
    JobProgressHook,
    PreflightHook,
    RunSummaryHook,
    TrainingTrackingHooks,
)
from fer_da.lazy_plugins import LazyMlflowHook, install_cli_stand_in

# kedro-mlflow is imported when a run is tracked or a `kedro mlflow` command runs, not when
# any `kedro` command starts (fer_da/lazy_plugins.py)
install_cli_stand_in()
# pluggy calls the last registered first: the configuration is checked before MLflow opens,
# and the run's summary comes after MLflow has logged its model (its lines end the output)
# (the job's progress subscribes after MLflow has opened: a tracking store that fails to
# open leaves no subscription behind)
HOOKS = (RunSummaryHook(), JobProgressHook(), LazyMlflowHook(), TrainingTrackingHooks(),
         DistributedOutputsHook(), PreflightHook())

CONFIG_LOADER_CLASS = LabConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": DEFAULT_RUN_ENV,  # conf/synthetic, then conf/local; a lab: --env
    "merge_strategy": {"parameters": "soft"},
}
