"""Per-run checkpoints: written every epoch, read back with ``weights_only=True``."""

from __future__ import annotations

import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import torch

from fer_da.permissions import as_if_created

logger = logging.getLogger(__name__)


def safe_name(run_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "__", run_id)


class CheckpointStore:
    """``<root>/<run>.pt``: model and optimiser state, epoch, history and a fingerprint."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, run_id: str) -> Path:
        return self.root / f"{safe_name(run_id)}.pt"

    def save(self, run_id: str, state: dict[str, Any]) -> None:
        path = self.path(run_id)
        tmp = None
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            # a file of its own for each save (unique across processes and hosts): two runs
            # of one setup at once never write through the same file
            handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                            dir=self.root)
            os.close(handle)
            tmp = Path(name)
            as_if_created(tmp)
            torch.save(state, tmp)
            tmp.replace(path)  # atomic: a kill never leaves half a checkpoint
        except (OSError, RuntimeError) as exc:  # a full disk surfaces as either
            if tmp is not None:
                tmp.unlink(missing_ok=True)
            raise OSError(f"could not write the checkpoint {path}: {type(exc).__name__}: "
                          f"{exc}; the previous checkpoint (if any) is unchanged") from exc

    def load(self, run_id: str, fingerprint: str) -> dict[str, Any] | None:
        path = self.path(run_id)
        if not path.is_file():
            return None
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - truncated, foreign or not a checkpoint
            raise RuntimeError(f"cannot read the checkpoint {path} ({type(exc).__name__}: "
                               f"{exc}); delete it, or run with --params training.resume=false"
                               ) from exc
        if not isinstance(state, dict) or state.get("fingerprint") != fingerprint:
            logger.info("%s: checkpoint %s is from other settings or data; starting afresh",
                        run_id, path)
            return None
        return state

    # ---- per-epoch snapshots for the selection study (``training.validators``)
    def epochs_folder(self, run_id: str) -> Path:
        return self.root / f"{safe_name(run_id)}.epochs"

    def start_epochs(self, run_id: str, identity: dict[str, Any]) -> None:
        """A run starting afresh: earlier snapshots (other settings) are removed and what
        the new ones belong to is recorded (checked when they are read)."""
        import json

        folder = self.epochs_folder(run_id)
        for path in sorted(folder.glob("epoch*.safetensors")):
            path.unlink()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "identity.json").write_text(json.dumps(identity, sort_keys=True,
                                                         default=str))

    def epochs_identity(self, run_id: str) -> dict[str, Any] | None:
        import json

        path = self.epochs_folder(run_id) / "identity.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def save_epoch(self, run_id: str, epoch: int, state: dict[str, torch.Tensor]) -> None:
        """The weights after ``epoch`` (safetensors, written atomically)."""
        from safetensors.torch import save_file

        folder = self.epochs_folder(run_id)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"epoch{epoch:04d}.safetensors"
        tmp = folder / f".{path.name}.{os.getpid()}.tmp"
        try:
            save_file({k: v.detach().cpu().contiguous() for k, v in state.items()}, str(tmp))
            as_if_created(tmp)
            tmp.replace(path)
        except (OSError, RuntimeError) as exc:
            tmp.unlink(missing_ok=True)
            raise OSError(f"could not write the epoch snapshot {path}: {exc}") from exc

    def epoch_states(self, run_id: str) -> dict[int, Path]:
        """The snapshots of a run by epoch (read them with :meth:`load_epoch`)."""
        return {int(p.stem.removeprefix("epoch")): p
                for p in sorted(self.epochs_folder(run_id).glob("epoch*.safetensors"))}

    @staticmethod
    def load_epoch(path: Path) -> dict[str, torch.Tensor]:
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:  # noqa: BLE001 - truncated or foreign
            raise RuntimeError(f"cannot read the epoch snapshot {path} ({type(exc).__name__}: "
                               f"{exc}); re-run the setup") from exc
