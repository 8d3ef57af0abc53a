"""Trained models as safetensors state dicts, with their plan, config and history as metadata."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError
from safetensors import safe_open
from safetensors.torch import save_file

from fer_da.datasets.atomic import atomic_dir
from fer_da.training.checkpoints import CheckpointStore, safe_name
from fer_da.training.loop import TrainedModel


class TrainedModelsDataset(AbstractDataset[dict[str, TrainedModel], dict[str, TrainedModel]]):
    """``{run_id: TrainedModel}`` as one ``.safetensors`` file per run under ``path``.

    Loading never unpickles: tensors come from safetensors, the rest is JSON metadata.
    """

    def __init__(self, path: str, metadata: dict | None = None):
        self._path = Path(path)
        self.metadata = metadata

    def save(self, data: dict[str, TrainedModel]) -> None:
        with atomic_dir(self._path) as folder:
            for run_id, model in data.items():
                meta = {"run_id": run_id, "plan": json.dumps(model.plan),
                        "model_config": json.dumps(model.model_config),
                        "history": json.dumps(model.history)}
                save_file(model.state, folder / f"{safe_name(run_id)}.safetensors",
                          metadata=meta)

    def load(self) -> dict[str, TrainedModel]:
        files = sorted(self._path.glob("*.safetensors"))
        if not files:
            raise DatasetError(f"no trained model under {self._path}; run its pipeline first")
        out = {}
        for f in files:
            try:
                with safe_open(f, framework="pt") as handle:
                    meta = handle.metadata()
                    state = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
            except Exception as exc:  # noqa: BLE001 - truncated or foreign file
                raise DatasetError(f"cannot read the model file {f}: {exc}") from exc
            out[meta["run_id"]] = TrainedModel(meta["run_id"], json.loads(meta["plan"]),
                                               json.loads(meta["model_config"]), state,
                                               json.loads(meta["history"]))
        return out

    def _exists(self) -> bool:
        return any(self._path.glob("*.safetensors"))

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}


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
