"""An append-only table cache: load the union of shards, save adds a shard."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from fer_da.datasets.atomic import write_file


class CacheShards:
    """Appends shards to a :class:`TableCacheDataset` folder while a node runs: what a node
    hands it survives a kill of the run. ``due(n)`` says when ``n`` pending rows or
    ``seconds`` since the last flush call for one."""

    def __init__(self, path: str | Path, every: int = 256, seconds: float = 60.0):
        self.path, self.every, self.seconds = Path(path), int(every), float(seconds)
        self._last = time.monotonic()
        self.written = 0

    def due(self, pending: int) -> bool:
        return pending > 0 and (pending >= self.every
                                or time.monotonic() - self._last >= self.seconds)

    def append(self, data: pd.DataFrame) -> None:
        self._last = time.monotonic()
        if data.empty:
            return
        write_file(self.path / f"{time.time_ns()}.parquet",
                   lambda tmp: data.to_parquet(tmp, index=False))
        self.written += len(data)


class CacheShardsDataset(AbstractDataset[None, CacheShards]):
    """Hands a node a :class:`CacheShards` writer on a cache folder (the pattern of the
    checkpoint store): the detection node flushes its detections every ``every`` images or
    ``seconds``, so a killed run keeps what it detected."""

    def __init__(self, path: str, every: int = 256, seconds: float = 60.0,
                 metadata: dict | None = None):
        self._path, self._every, self._seconds = path, every, seconds
        self.metadata = metadata

    def _exists(self) -> bool:
        return Path(self._path).is_dir()

    def load(self) -> CacheShards:
        return CacheShards(self._path, self._every, self._seconds)

    def save(self, data: None) -> None:
        raise DatasetError("cache shards are written by the node that holds the writer")

    def _describe(self) -> dict[str, Any]:
        return {"path": self._path, "every": self._every, "seconds": self._seconds}


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
