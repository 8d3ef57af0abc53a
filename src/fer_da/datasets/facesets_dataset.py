"""Preprocessed faces: a versioned folder of per-domain safetensors + parquet files."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
from kedro.io import DatasetError, Version
from safetensors.numpy import load_file, save_file

from fer_da.datasets.versions import (
    DIGEST_FILE,
    ContentVersioned,
    damaged_file,
    recorded_digest,
    recorded_files,
)
from fer_da.facesets import FaceSet

logger = logging.getLogger(__name__)


def face_sets_digest(data: dict[str, FaceSet]) -> str:
    """sha256 of everything a face-set version holds: per domain its crops (shape, bytes)
    and its whole table (columns, dtypes, values) — manifests, detector, splits included."""
    h = hashlib.sha256()
    for domain, faces in sorted(data.items()):
        images = np.ascontiguousarray(faces.images)
        h.update(f"{domain}\0{images.dtype}{images.shape}\0".encode())
        h.update(memoryview(images).cast("B"))
        table = faces.table
        h.update(json.dumps([[str(c), str(t)] for c, t in table.dtypes.items()]).encode())
        h.update(pd.util.hash_pandas_object(_hashable(table), index=False).to_numpy().tobytes())
    return h.hexdigest()


def _hashable(table: pd.DataFrame) -> pd.DataFrame:
    """Object columns (lists of landmarks, mixed values) as JSON text, so pandas hashes them."""
    out = table.copy()
    for column in [c for c, t in out.dtypes.items() if t == np.dtype(object)]:
        out[column] = out[column].map(lambda v: json.dumps(
            v.tolist() if isinstance(v, np.ndarray) else v, default=str, sort_keys=True))
    return out


class FaceSetsDataset(ContentVersioned):
    """``{domain: FaceSet}`` as ``<filepath>/<version>/<name>/<domain>.{safetensors,parquet}``.

    No pickle anywhere: images are a uint8 safetensors tensor, the table is parquet.
    Content-addressed: a save identical to the latest version (:func:`face_sets_digest`)
    writes nothing and reuses it ("unchanged, reusing <version>").
    """

    def __init__(self, filepath: str, version: Version | None = None,
                 metadata: dict | None = None, mmap: bool = False, missing_ok: bool = False):
        super().__init__(PurePosixPath(filepath), version)
        self.metadata = metadata
        self._mmap = mmap  # images memory-mapped from the file, not read (docs/scaling.md)
        self._missing_ok = missing_ok  # no version yet: an empty mapping (a previous run's)

    def load(self) -> dict[str, FaceSet]:
        try:
            folder = Path(self._get_load_path())
        except DatasetError:
            if self._missing_ok:
                return {}
            raise
        if self._missing_ok and not folder.is_dir():
            return {}
        if not folder.is_dir():
            raise DatasetError(f"no preprocessed faces at {folder}; run the preprocessing "
                               "pipeline first")
        out, problem = self._checked(folder)
        if problem is None:
            return out
        if self._missing_ok:  # the previous version, read to reuse its crops: made again
            logger.warning("%s; its crops are not reused (they are made again)", problem)
            return {}
        raise DatasetError(f"{problem}; run the preprocessing pipeline again (it writes a "
                           f"new version), or delete {folder.parent}")

    def _checked(self, folder: Path) -> tuple[dict[str, FaceSet], str | None]:
        """The face sets of a version folder and what is wrong with it (None: it holds what
        it was saved with). Each file is checked against its recorded sha256 before it is
        read; a version saved before those were recorded, against its content digest."""
        problem = damaged_file(folder)
        if problem is not None:
            return {}, f"face-set version {folder.parent.name}: {problem}"
        version = folder.parent.name if self._version is not None else None
        try:
            out = {f.stem: FaceSet(map_uint8(f, "images") if self._mmap
                                   else load_file(f)["images"],
                                   pd.read_parquet(f.with_suffix(".parquet")), version)
                   for f in sorted(folder.glob("*.safetensors"))}
        except Exception as exc:  # noqa: BLE001 - a truncated or missing file, named
            return {}, f"face-set version {folder.parent.name}: {type(exc).__name__}: {exc}"
        recorded = recorded_digest(folder)
        if (recorded_files(folder) is None and recorded is not None
                and face_sets_digest(out) != recorded):
            return {}, (f"face-set version {folder.parent.name}: {folder} no longer matches "
                        f"its recorded {DIGEST_FILE} (a file was changed or removed; "
                        f"domains present: {sorted(out)})")
        return out, None

    def _intact(self, folder: Path) -> bool:
        if recorded_files(folder) is not None:  # no need to read the data
            return damaged_file(folder) is None
        return self._checked(folder)[1] is None

    def content_digest(self, data: dict[str, FaceSet]) -> str:
        return face_sets_digest(data)

    def _write(self, folder: Path, data: dict[str, FaceSet]) -> None:
        for domain, faces in data.items():
            save_file({"images": np.ascontiguousarray(faces.images)},
                      str(folder / f"{domain}.safetensors"))
            faces.table.to_parquet(folder / f"{domain}.parquet", index=False)

    def _exists(self) -> bool:
        try:
            return Path(self._get_load_path()).is_dir()
        except DatasetError:
            return False

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}


def map_uint8(path: Path, name: str) -> np.ndarray:
    """A uint8 tensor of a safetensors file as a copy-on-write memory map (no read, no
    copy: pages are read when touched and can be dropped again by the kernel)."""
    with open(path, "rb") as handle:
        size = int.from_bytes(handle.read(8), "little")
        header = json.loads(handle.read(size))
    entry = header.get(name)
    if entry is None or entry.get("dtype") != "U8":
        raise DatasetError(f"{path}: no uint8 tensor {name!r} to memory-map")
    begin, _ = entry["data_offsets"]
    return np.memmap(path, dtype=np.uint8, mode="c", offset=8 + size + begin,
                     shape=tuple(entry["shape"]))
