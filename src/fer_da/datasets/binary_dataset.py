"""A file of bytes (an exported ONNX model), written atomically."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from fer_da.datasets.atomic import atomic_file


class BinaryFileDataset(AbstractDataset[bytes, bytes]):
    def __init__(self, filepath: str, metadata: dict | None = None):
        self._filepath = PurePosixPath(filepath)
        self.metadata = metadata

    def load(self) -> bytes:
        path = Path(self._filepath)
        if not path.is_file():
            raise DatasetError(f"no file at {path}; run the pipeline that writes it")
        return path.read_bytes()

    def save(self, data: bytes) -> None:
        with atomic_file(Path(self._filepath)) as tmp:
            tmp.write_bytes(data)

    def _exists(self) -> bool:
        return Path(self._filepath).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
