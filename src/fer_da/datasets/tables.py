"""Tables on disk (CSV or parquet by suffix) with atomic saves, single or one per key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from fer_da.datasets.atomic import atomic_dir, write_file


def _write(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    if fmt == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)


def _read(path: Path, fmt: str) -> pd.DataFrame:
    return pd.read_csv(path) if fmt == ".csv" else pd.read_parquet(path)


class TableDataset(AbstractDataset[pd.DataFrame, pd.DataFrame]):
    """One table at ``filepath`` (``.csv`` or ``.parquet``), written atomically."""

    def __init__(self, filepath: str, metadata: dict | None = None):
        self._path = Path(filepath)
        self._fmt = self._path.suffix.lower()
        if self._fmt not in (".csv", ".parquet"):
            raise DatasetError(f"{filepath}: a table is .csv or .parquet")
        self.metadata = metadata

    def load(self) -> pd.DataFrame:
        if not self._path.is_file():
            raise DatasetError(f"no table at {self._path}; run the pipeline that writes it")
        return _read(self._path, self._fmt)

    def save(self, data: pd.DataFrame) -> None:
        write_file(self._path, lambda tmp: _write(data, tmp, self._fmt))

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
        with atomic_dir(self._path) as tmp:
            for key, frame in data.items():
                frame.to_parquet(tmp / f"{key}.parquet", index=False)

    def _exists(self) -> bool:
        return any(self._path.glob("*.parquet"))

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}
