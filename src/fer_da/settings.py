"""Project settings: config loader, hooks."""

from fer_da.config_loader import LabConfigLoader
from fer_da.hooks import TrainingTrackingHooks

HOOKS = (TrainingTrackingHooks(),)

CONFIG_LOADER_CLASS = LabConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "merge_strategy": {"parameters": "soft"},
}
