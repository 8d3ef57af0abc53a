"""Preprocessed faces: a versioned folder of per-domain safetensors + parquet files."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
import torch
from kedro.io import AbstractVersionedDataset, DatasetError, Version
from safetensors.torch import load_file, save_file

from fer_da.datasets.atomic import atomic_dir
from fer_da.facesets import FaceSet


class FaceSetsDataset(AbstractVersionedDataset[dict[str, FaceSet], dict[str, FaceSet]]):
    """``{domain: FaceSet}`` as ``<filepath>/<version>/<name>/<domain>.{safetensors,parquet}``.

    No pickle anywhere: images are a uint8 safetensors tensor, the table is parquet.
    """

    def __init__(self, filepath: str, version: Version | None = None,
                 metadata: dict | None = None, mmap: bool = False):
        super().__init__(PurePosixPath(filepath), version)
        self.metadata = metadata
        self._mmap = mmap  # images memory-mapped from the file, not read (docs/scaling.md)

    def load(self) -> dict[str, FaceSet]:
        folder = Path(self._get_load_path())
        if not folder.is_dir():
            raise DatasetError(f"no preprocessed faces at {folder}; run the preprocessing "
                               "pipeline first")
        version = folder.parent.name if self._version is not None else None
        out = {}
        for tensor_file in sorted(folder.glob("*.safetensors")):
            images = (map_uint8(tensor_file, "images") if self._mmap
                      else load_file(tensor_file)["images"].numpy())
            table = pd.read_parquet(tensor_file.with_suffix(".parquet"))
            out[tensor_file.stem] = FaceSet(images, table, version)
        return out

    def save(self, data: dict[str, FaceSet]) -> None:
        with atomic_dir(self._get_save_path()) as folder:
            for domain, faces in data.items():
                save_file({"images": torch.from_numpy(faces.images).contiguous()},
                          folder / f"{domain}.safetensors")
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
