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
