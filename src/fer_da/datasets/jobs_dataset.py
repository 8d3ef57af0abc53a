"""A table written per job and read as the union of every job's (a grid's shared store)."""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from fer_da.datasets.tables_dataset import TableDataset


class JobTablesDataset(AbstractDataset[pd.DataFrame, pd.DataFrame]):
    """Saves to ``filepath`` (one job's file, ``.csv`` or ``.parquet``, atomically); loads
    every file matching ``gather`` (a glob) concatenated in path order. ``conf/grid`` points
    each setup's metrics, history and predictions here so that jobs running different runs
    never write the same file and the reporting pipeline reads them all."""

    def __init__(self, filepath: str, gather: str, metadata: dict | None = None):
        self._writer = TableDataset(filepath)
        self._filepath = Path(filepath)
        self._gather = gather
        self.metadata = metadata

    def save(self, data: pd.DataFrame) -> None:
        self._writer.save(data)

    def load(self) -> pd.DataFrame:
        files = sorted(glob.glob(self._gather, recursive=True))
        if not files:
            raise DatasetError(f"no job has written {self._gather} yet; run the grid's jobs "
                               "first (docs/scaling.md)")
        return pd.concat([TableDataset(f).load() for f in files], ignore_index=True)

    def _exists(self) -> bool:
        return bool(glob.glob(self._gather, recursive=True))

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "gather": self._gather}
