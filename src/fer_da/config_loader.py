"""The project's config loader: a lab env holds only what differs from ``conf/base``.

A relative SQLite MLflow store in ``mlflow.yml`` is resolved against the project (the folder
holding ``conf/``), whatever the current directory.

Parameters of an env are merged into ``conf/base`` key by key (Kedro's ``soft`` strategy),
except the keys in :data:`REPLACED_WHOLE`: a lab's ``domains`` is its own list of datasets and
replaces the synthetic default's as a whole. Command-line ``--params`` are merged last, key by
key, so ``--params preprocessing.split.mode=random`` changes that one key whatever the env.
"""

from __future__ import annotations

from pathlib import Path, PurePath
from typing import Any

from kedro.config import OmegaConfigLoader
from omegaconf import OmegaConf

REPLACED_WHOLE = ("domains",)
DEFAULT_RUN_ENV = "synthetic"  # the embedded default (conf/synthetic); a lab: --env
LOCAL = "local"  # conf/local: a user's own overrides for a plain ``kedro run``
LOCAL_KEYS = ("parameters", "catalog", "credentials")


def merge_params(base: dict[str, Any], env: dict[str, Any]) -> dict[str, Any]:
    """``env`` over ``base``, recursively; the keys of ``REPLACED_WHOLE`` are replaced."""
    merged = OmegaConf.to_container(OmegaConf.unsafe_merge(base, env))
    for key in REPLACED_WHOLE:
        if key in env:
            value = env[key]
            merged[key] = (OmegaConf.to_container(value) if OmegaConf.is_config(value)
                           else value)
    return merged


SQLITE = "sqlite:///"


def absolute_sqlite_uris(mlflow_conf: dict[str, Any], root: Path) -> dict[str, Any]:
    """``mlflow.yml`` with a relative SQLite store (``sqlite:///mlflow.db``) made absolute
    under ``root``: a run started from another folder (a notebook in ``notebooks/``) or a
    second project in the same process (MLflow caches stores by URI) uses the project's
    store, not one beside the current directory."""
    server = dict(mlflow_conf.get("server") or {})
    for key in ("mlflow_tracking_uri", "mlflow_registry_uri"):
        uri = server.get(key)
        if isinstance(uri, str) and uri.startswith(SQLITE):
            path = uri[len(SQLITE):]
            if path and not PurePath(path).is_absolute():
                server[key] = SQLITE + str((root / path).resolve())
    return {**mlflow_conf, "server": server} if server else mlflow_conf


class LabConfigLoader(OmegaConfigLoader):
    """OmegaConfigLoader with the merge rules above for ``parameters``."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("merge_strategy", {"parameters": "soft"})
        super().__init__(*args, **kwargs)

    @staticmethod
    def _soft_merge(config: dict[str, Any], env_config: dict[str, Any],
                    env_path: str | None = None) -> Any:
        return merge_params(config, env_config)

    def __getitem__(self, key: str) -> dict[str, Any]:
        if key == "mlflow":  # relative to the folder that holds conf/ (the project)
            return absolute_sqlite_uris(super().__getitem__(key),
                                        Path(self.conf_source).resolve().parent)
        if key != "parameters" or key in self or not self.runtime_params:
            return self._with_local(key, super().__getitem__(key))
        runtime, self.runtime_params = self.runtime_params, {}
        try:  # env over base first, conf/local next, then the command line over them all
            params = self._with_local(key, super().__getitem__(key))
        finally:
            self.runtime_params = runtime
        return OmegaConf.to_container(OmegaConf.unsafe_merge(params, runtime))

    def _with_local(self, key: str, config: dict[str, Any]) -> dict[str, Any]:
        """A plain ``kedro run`` (no ``--env``) reads the default run env's recipe
        (``conf/synthetic``) and then, as Kedro users expect, their own overrides and
        credentials in ``conf/local`` (git-ignored); a run with ``--env`` reads that env."""
        local = Path(self.conf_source) / LOCAL
        if self.env is not None or key not in LOCAL_KEYS or key in self or not local.is_dir():
            return config
        extra = self.load_and_merge_dir_config(str(local), self.config_patterns[key], key,
                                               set(), key == "credentials")
        if not extra:
            return config
        return merge_params(config, extra) if key == "parameters" else {**config, **extra}
