"""Project settings: config loader, hooks."""

from fer_da.config_loader import LabConfigLoader
from fer_da.hooks import (
    DistributedOutputsHook,
    PreflightHook,
    RunSummaryHook,
    TrainingTrackingHooks,
)
from fer_da.lazy_plugins import LazyMlflowHook, install_cli_stand_in

# kedro-mlflow is imported when a run is tracked or a `kedro mlflow` command runs, not when
# any `kedro` command starts (fer_da/lazy_plugins.py)
install_cli_stand_in()
# pluggy calls the last registered first: the configuration is checked before MLflow opens
HOOKS = (LazyMlflowHook(), TrainingTrackingHooks(), DistributedOutputsHook(), PreflightHook(),
         RunSummaryHook())

CONFIG_LOADER_CLASS = LabConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "synthetic",  # the embedded default (conf/synthetic); a lab: --env
    "merge_strategy": {"parameters": "soft"},
}
