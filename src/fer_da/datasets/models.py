"""Trained models as safetensors state dicts, with their plan, config and history as metadata."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractDataset, AbstractVersionedDataset, DatasetError, Version
from safetensors import safe_open
from safetensors.torch import save_file

from fer_da.datasets.atomic import atomic_dir
from fer_da.training.checkpoints import CheckpointStore, safe_name
from fer_da.training.loop import TrainedModel


class TrainedModelsDataset(AbstractVersionedDataset[dict[str, TrainedModel],
                                                    dict[str, TrainedModel]]):
    """``{run_id: TrainedModel}`` as one ``.safetensors`` file per run, versioned like the
    face sets: ``<path>/<version>/<name>/<run>.safetensors``. A run never overwrites an
    earlier one; the latest is loaded by default, an earlier one with
    ``--load-versions <setup>.models:<version>``.

    Loading never unpickles: tensors come from safetensors, the rest is JSON metadata
    (plan, model config, history and provenance).
    """

    def __init__(self, path: str, version: Version | None = None,
                 metadata: dict | None = None):
        super().__init__(PurePosixPath(path), version)
        self.metadata = metadata

    def save(self, data: dict[str, TrainedModel]) -> None:
        with atomic_dir(self._get_save_path()) as folder:
            for run_id, model in data.items():
                meta = {"run_id": run_id, "plan": json.dumps(model.plan),
                        "model_config": json.dumps(model.model_config),
                        "history": json.dumps(model.history),
                        "provenance": json.dumps(model.provenance)}
                save_file(model.state, folder / f"{safe_name(run_id)}.safetensors",
                          metadata=meta)

    def load(self) -> dict[str, TrainedModel]:
        try:
            folder = Path(self._get_load_path())
        except DatasetError as exc:
            raise DatasetError(f"no trained model under {self._filepath}; run its pipeline "
                               "first") from exc
        files = sorted(folder.glob("*.safetensors"))
        if not files:
            raise DatasetError(f"no trained model under {folder}; run its pipeline first")
        version = folder.parent.name if self._version is not None else None
        out = {}
        for f in files:
            try:
                with safe_open(f, framework="pt") as handle:
                    meta = handle.metadata()
                    state = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
            except Exception as exc:  # noqa: BLE001 - truncated or foreign file
                raise DatasetError(f"cannot read the model file {f}: {exc}") from exc
            provenance = json.loads(meta.get("provenance", "{}"))
            provenance["model_version"] = version
            out[meta["run_id"]] = TrainedModel(meta["run_id"], json.loads(meta["plan"]),
                                               json.loads(meta["model_config"]), state,
                                               json.loads(meta["history"]), provenance)
        return out

    def _exists(self) -> bool:
        try:
            return any(Path(self._get_load_path()).glob("*.safetensors"))
        except DatasetError:
            return False

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._filepath), "version": self._version}


class CheckpointStoreDataset(AbstractDataset[None, CheckpointStore]):
    """Hands the training node a checkpoint store (a folder); the node writes one per epoch."""

    def __init__(self, path: str, metadata: dict | None = None):
        self._path = path
        self.metadata = metadata

    def load(self) -> CheckpointStore:
        return CheckpointStore(self._path)

    def save(self, data: None) -> None:
        raise DatasetError("checkpoint stores are written by the training loop")

    def _describe(self) -> dict[str, Any]:
        return {"path": self._path}
