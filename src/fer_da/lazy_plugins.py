"""kedro-mlflow, imported only when it is used.

Kedro imports every plugin's CLI module and hook module when a command starts, and both of
kedro-mlflow's import mlflow (most of a ``kedro`` command's start-up here: docs/inference.md,
"Start-up"). Two stand-ins keep ``kedro registry list`` and ``kedro run --pipelines=ingestion``
free of mlflow, and behave as kedro-mlflow everywhere else:

- :class:`LazyMlflowHook` is registered in ``settings.HOOKS`` under the entry point's name
  (``mlflow_hook``), so pluggy does not load kedro-mlflow's hook module; it builds kedro-mlflow's
  own ``MlflowHook`` at ``before_pipeline_run`` (replaying the context and catalog hooks it
  recorded) unless every pipeline of the run is in ``tracking.disable_tracking.pipelines`` of
  ``mlflow.yml``, where kedro-mlflow would track nothing anyway.
- :func:`install_cli_stand_in` puts a module in place of ``kedro_mlflow.framework.cli.cli``
  whose ``kedro mlflow`` group imports the real one when a ``kedro mlflow ...`` command runs.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl

CLI_MODULE = "kedro_mlflow.framework.cli.cli"
MLFLOW_PATTERNS = ["mlflow*", "mlflow*/**", "**/mlflow*"]  # kedro-mlflow's own


def _untracked(context: Any) -> set[str]:
    """The pipelines ``mlflow.yml`` excludes from tracking (kedro-mlflow's key)."""
    loader = context.config_loader
    if "mlflow" not in loader.config_patterns:
        loader.config_patterns.update({"mlflow": MLFLOW_PATTERNS})
    try:
        conf = loader["mlflow"]
    except Exception:  # noqa: BLE001 - no mlflow.yml: kedro-mlflow's defaults track all
        return set()
    tracking = (conf or {}).get("tracking") or {}
    return set((tracking.get("disable_tracking") or {}).get("pipelines") or [])


@contextlib.contextmanager
def _store_lock(context: Any) -> Iterator[None]:
    """An exclusive lock beside a SQLite tracking store while kedro-mlflow opens it: MLflow
    creates the schema of a new store without one, and two jobs starting at once on a fresh
    project (a grid) failed with "table ... already exists". Other stores: no lock."""
    try:
        import fcntl
    except ImportError:  # not POSIX: kedro-mlflow as is
        yield
        return
    try:
        conf = context.config_loader["mlflow"] or {}
    except (KeyError, MissingConfigException):  # no mlflow.yml: kedro-mlflow's defaults
        conf = {}
    uri = str((conf.get("server") or {}).get("mlflow_tracking_uri") or "")
    if not uri.startswith("sqlite:///"):
        yield
        return
    path = Path(uri[len("sqlite:///"):])
    path = path if path.is_absolute() else Path(context.project_path) / path
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class LazyMlflowHook:
    """kedro-mlflow's ``MlflowHook``, built only for a run that MLflow tracks."""

    __name__ = "mlflow_hook"  # pluggy's name for it: the entry point of that name is skipped

    def __init__(self) -> None:
        self.real: Any = None
        self._outer_run = False
        self._recorded: list[tuple[str, dict[str, Any]]] = []
        self._untracked: set[str] = set()

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self.real = None
        self._untracked = _untracked(context)
        self._recorded = [("after_context_created", {"context": context})]

    @hook_impl
    def after_catalog_created(self, catalog: Any, conf_catalog: dict, conf_creds: dict,
                              parameters: dict, save_version: str,
                              load_versions: dict) -> None:
        self._recorded.append(("after_catalog_created", {
            "catalog": catalog, "conf_catalog": conf_catalog, "conf_creds": conf_creds,
            "parameters": parameters, "save_version": save_version,
            "load_versions": load_versions}))

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any,
                            catalog: Any) -> None:
        names = run_params.get("pipeline_names") or [run_params.get("pipeline_name")
                                                     or "__default__"]
        if isinstance(names, str):
            names = [names]
        if set(names) <= self._untracked or int(os.environ.get("RANK", "0")) > 0:
            self.real = None
            return
        import mlflow
        from kedro_mlflow.framework.hooks.mlflow_hook import MlflowHook

        self._outer_run = mlflow.active_run() is not None
        self.real = MlflowHook()
        with _store_lock(self._recorded[0][1]["context"]):  # jobs starting at once
            for name, kwargs in self._recorded:
                getattr(self.real, name)(**kwargs)
            self.real.before_pipeline_run(run_params=run_params, pipeline=pipeline,
                                          catalog=catalog)

    @hook_impl
    def before_node_run(self, node: Any, catalog: Any, inputs: dict[str, Any],
                        is_async: bool) -> None:
        if self.real is not None:
            self.real.before_node_run(node=node, catalog=catalog, inputs=inputs,
                                      is_async=is_async)

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline: Any,
                           catalog: Any) -> None:
        if self.real is not None:
            self.real.after_pipeline_run(run_params=run_params, pipeline=pipeline,
                                         catalog=catalog)
            self._close_runs()

    @hook_impl
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any], pipeline: Any,
                          catalog: Any) -> None:
        if self.real is not None:
            self.real.on_pipeline_error(error=error, run_params=run_params,
                                        pipeline=pipeline, catalog=catalog)
            self._close_runs()

    def _close_runs(self) -> None:
        """kedro-mlflow re-enters its run before each node (nested), so one ``end_run``
        leaves it active; a second session in the same process (a notebook, a benchmark)
        would log into it. Close what this run opened."""
        import mlflow

        while not self._outer_run and mlflow.active_run() is not None:
            mlflow.end_run()


def _real_cli() -> types.ModuleType:
    module = sys.modules.get(CLI_MODULE)
    if getattr(module, "__fer_da_stand_in__", False):
        del sys.modules[CLI_MODULE]
    return importlib.import_module(CLI_MODULE)


class _LazyGroup(click.Group):
    """``kedro mlflow``: its subcommands come from kedro-mlflow when asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return _real_cli().mlflow_commands.list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return _real_cli().mlflow_commands.get_command(ctx, cmd_name)


@click.group(name="Mlflow")
def commands() -> None:
    """Kedro plugin for interactions with mlflow."""


@commands.command(name="mlflow", cls=_LazyGroup)
def mlflow_commands() -> None:
    """Use mlflow-specific commands inside kedro project."""


def _forward(name: str) -> Any:
    if name.startswith("__"):  # introspection (inspect.getmodule reads __file__) loads nothing
        raise AttributeError(name)
    return getattr(_real_cli(), name)


def install_cli_stand_in() -> None:
    """Stand in for kedro-mlflow's CLI module until a ``kedro mlflow`` command runs."""
    if CLI_MODULE in sys.modules or importlib.util.find_spec("kedro_mlflow") is None:
        return
    stand_in = types.ModuleType(CLI_MODULE, __doc__)
    stand_in.__fer_da_stand_in__ = True
    stand_in.commands = commands
    stand_in.__getattr__ = _forward
    sys.modules[CLI_MODULE] = stand_in
