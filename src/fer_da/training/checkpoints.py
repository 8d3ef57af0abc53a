"""Per-run checkpoints: written every epoch, read back with ``weights_only=True``."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import torch

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
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.path(run_id).with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(self.path(run_id))  # atomic: a kill never leaves half a checkpoint

    def load(self, run_id: str, fingerprint: str) -> dict[str, Any] | None:
        path = self.path(run_id)
        if not path.is_file():
            return None
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state.get("fingerprint") != fingerprint:
            logger.info("%s: checkpoint %s is from other settings or data; starting afresh",
                        run_id, path)
            return None
        return state
