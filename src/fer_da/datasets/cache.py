"""An append-only table cache: load the union of shards, save adds a shard."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset

from fer_da.datasets.atomic import write_file


class TableCacheDataset(AbstractDataset[pd.DataFrame, pd.DataFrame]):
    """A folder of parquet shards keyed by ``key``; later shards win on a repeated key.

    Declare it twice in the catalog (one name read by a node, one name written by it) so the
    pipeline stays acyclic while the cache persists across runs.
    """

    def __init__(self, path: str, key: str = "key", metadata: dict | None = None):
        self._path = Path(path)
        self._key = key
        self.metadata = metadata

    def load(self) -> pd.DataFrame:
        shards = sorted(self._path.glob("*.parquet"))
        if not shards:
            return pd.DataFrame(columns=[self._key])
        table = pd.concat([pd.read_parquet(s) for s in shards], ignore_index=True)
        return table.drop_duplicates(self._key, keep="last").reset_index(drop=True)

    def save(self, data: pd.DataFrame) -> None:
        if data.empty:
            return
        write_file(self._path / f"{time.time_ns()}.parquet",
                   lambda tmp: data.to_parquet(tmp, index=False))

    def _exists(self) -> bool:
        return self._path.is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "key": self._key}
