"""The inference pipeline's input: a folder, a list of files, an image or a video."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from fer_da.inference.media import Media, list_media


class MediaDataset(AbstractDataset[None, Media]):
    """Lists ``path`` (a folder, a ``.txt``/``.csv`` list of files, an image, a video) into
    a :class:`~fer_da.inference.media.Media`; the node decodes what it lists. Read-only.

    Saved as a table (``path`` column) only by the MLflow model's input (``mlflow models
    predict`` hands a DataFrame), see :func:`media_from_table`.
    """

    def __init__(self, path: str, metadata: dict | None = None):
        self._path = path
        self.metadata = metadata

    def _exists(self) -> bool:
        return Path(self._path).exists()

    def load(self) -> Media:
        try:
            return list_media(self._path)
        except (FileNotFoundError, ValueError) as exc:
            raise DatasetError(str(exc)) from exc

    def save(self, data: Any) -> None:
        raise DatasetError("inference inputs are read-only")

    def _describe(self) -> dict[str, Any]:
        return {"path": self._path}


def media_from_table(table: pd.DataFrame) -> Media:
    """A DataFrame with a ``path`` column (files, folders, videos or lists) as Media."""
    if "path" not in table.columns:
        raise ValueError(f"the model's input needs a 'path' column, got {list(table.columns)}")
    return list_media([str(p) for p in table["path"].dropna()])
