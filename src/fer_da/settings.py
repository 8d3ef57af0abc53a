"""Project settings: config loader, hooks."""

import warnings

from fer_da.config_loader import DEFAULT_RUN_ENV, LabConfigLoader
from fer_da.hooks import (
    DistributedOutputsHook,
    PreflightHook,
    RunSummaryHook,
    TrainingTrackingHooks,
)
from fer_da.lazy_plugins import LazyMlflowHook, install_cli_stand_in

# third-party notices a user can do nothing about (docs/results.md, "The console"): Kedro's
# and kedro-mlflow's own use of a deprecated OmegaConf call, Kedro's advice against the
# dotted names its own namespaces make, MLflow's type-hint advice for a model it builds
for message in (r"register_new_resolver\(\) is deprecated",
                r"One or more dataset names contain '\.' characters",
                r".*Add type hints to the `predict` method"):
    warnings.filterwarnings("ignore", message=message, category=UserWarning)

# kedro-mlflow is imported when a run is tracked or a `kedro mlflow` command runs, not when
# any `kedro` command starts (fer_da/lazy_plugins.py)
install_cli_stand_in()
# pluggy calls the last registered first: the configuration is checked before MLflow opens
HOOKS = (LazyMlflowHook(), TrainingTrackingHooks(), DistributedOutputsHook(), PreflightHook(),
         RunSummaryHook())

CONFIG_LOADER_CLASS = LabConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": DEFAULT_RUN_ENV,  # conf/synthetic, then conf/local; a lab: --env
    "merge_strategy": {"parameters": "soft"},
}
