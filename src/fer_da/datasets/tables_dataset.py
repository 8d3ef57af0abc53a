"""Tables on disk (CSV or parquet by suffix) with atomic saves, single or one per key.

A save that would write the bytes already on disk writes nothing (the file keeps its
modification time: an unchanged re-run leaves its tables as they were)."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from fer_da.datasets.atomic import atomic_dir, write_file

logger = logging.getLogger(__name__)


def _encode(frame: pd.DataFrame, fmt: str) -> bytes:
    if fmt == ".csv":
        return frame.to_csv(index=False).encode()
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _holds(path: Path, data: bytes) -> bool:
    """Whether ``path`` is a file of exactly these bytes."""
    try:
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


def _read(path: Path, fmt: str) -> pd.DataFrame:
    return pd.read_csv(path) if fmt == ".csv" else pd.read_parquet(path)


class TableDataset(AbstractDataset[pd.DataFrame, pd.DataFrame]):
    """One table at ``filepath`` (``.csv`` or ``.parquet``), written atomically.
    ``missing_ok``: a load before the first save is an empty table (a cache or index)."""

    def __init__(self, filepath: str, metadata: dict | None = None, missing_ok: bool = False):
        self._path = Path(filepath)
        self._missing_ok = bool(missing_ok)
        self._fmt = self._path.suffix.lower()
        if self._fmt not in (".csv", ".parquet"):
            raise DatasetError(f"{filepath}: a table is .csv or .parquet")
        self.metadata = metadata

    def load(self) -> pd.DataFrame:
        if not self._path.is_file():
            if self._missing_ok:
                return pd.DataFrame()
            raise DatasetError(f"no table at {self._path}; run the pipeline that writes it")
        return _read(self._path, self._fmt)

    def save(self, data: pd.DataFrame) -> None:
        encoded = _encode(data, self._fmt)
        if _holds(self._path, encoded):
            logger.debug("%s unchanged, not rewritten", self._path)
            return
        write_file(self._path, lambda tmp: tmp.write_bytes(encoded))

    def _exists(self) -> bool:
        return self._path.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._path)}


class TablesDataset(AbstractDataset[dict[str, pd.DataFrame],
                                    dict[str, Callable[[], pd.DataFrame]]]):
    """``{key: table}`` as ``<path>/<key>.parquet``; a save replaces the folder atomically.

    Loads hand over loaders (as Kedro's partitioned datasets do), one per key.
    """

    def __init__(self, path: str, metadata: dict | None = None):
        self._path = Path(path)
        self.metadata = metadata

    def load(self) -> dict[str, Callable[[], pd.DataFrame]]:
        files = sorted(self._path.glob("*.parquet"))
        if not files:
            raise DatasetError(f"no tables under {self._path}; run the pipeline that writes them")
        return {f.stem: (lambda f=f: pd.read_parquet(f)) for f in files}

    def save(self, data: dict[str, pd.DataFrame]) -> None:
        encoded = {f"{key}.parquet": _encode(frame, ".parquet") for key, frame in data.items()}
        present = {f.name for f in self._path.glob("*.parquet")}
        if present == set(encoded) and all(_holds(self._path / n, b)
                                           for n, b in encoded.items()):
            logger.info("%s unchanged (%d tables), not rewritten", self._path, len(encoded))
            return
        with atomic_dir(self._path) as tmp:
            for name, data_bytes in encoded.items():
                (tmp / name).write_bytes(data_bytes)

    def _exists(self) -> bool:
        return any(self._path.glob("*.parquet"))

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}
