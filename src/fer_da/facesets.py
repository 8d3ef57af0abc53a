"""The preprocessed data of one domain: uint8 face crops and their table."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

TABLE_COLUMNS = ["image_id", "domain", "role", "subject", "label", "label_idx", "split",
                 "detector", "n_faces", "score", "flag"]


@dataclass
class FaceSet:
    images: np.ndarray  # (N, S, S) uint8 grey crops
    table: pd.DataFrame  # one row per image, same order
    version: str | None = None  # the face-set version it was loaded from (None: in memory)

    def __post_init__(self):
        if self.images.dtype != np.uint8 or self.images.ndim != 3:
            raise ValueError(f"images must be uint8 (N, S, S), got {self.images.dtype} "
                             f"{self.images.shape}")
        if len(self.images) != len(self.table):
            raise ValueError(f"{len(self.images)} images but {len(self.table)} rows")

    def subset(self, mask: np.ndarray | pd.Series) -> FaceSet:
        mask = np.asarray(mask, dtype=bool)
        rows = np.flatnonzero(mask)
        if len(rows) and rows[-1] - rows[0] + 1 == len(rows):  # one block: a view, no copy
            images = self.images[rows[0]: rows[-1] + 1]
        else:
            images = self.images[mask]
        return FaceSet(images, self.table[mask].reset_index(drop=True), self.version)

    @property
    def digest(self) -> str:
        """Of the images, labels and splits: what a model trained or scored on this saw."""
        from fer_da.digest import array_digest

        cols = [c for c in self.table.columns
                if c in ("label_idx", "transductive") or c.startswith("split")]
        return array_digest(self.images, *(self.table[c].astype(str).to_numpy(dtype="U")
                                           for c in sorted(cols)))

    def split(self, name: str, seed: int | None = None) -> FaceSet:
        """The rows of split ``name``; with ``seed``, that training seed's own split when the
        face set holds one (``split.vary_with_seed``), else the shared one."""
        column = f"split_seed{seed}" if seed is not None else "split"
        if column not in self.table.columns:
            column = "split"
        return self.subset(self.table[column] == name)

    @property
    def transductive(self) -> bool:
        """Split mode ``transductive``: every image is test and the unlabelled pool."""
        return "transductive" in self.table.columns and bool(self.table["transductive"].any())

    def unlabelled_pool(self, seed: int | None = None) -> FaceSet:
        """What a run may adapt to, labels unseen: the train split, or every image of a
        transductive domain (its test set: the benchmark protocol, stated in the report)."""
        if self.transductive:
            return self.subset(self.table["transductive"].fillna(False).astype(bool))
        return self.split("train", seed)

    def grouped_by_split(self) -> FaceSet:
        """Rows grouped by ``split`` (train, val, test, others; stable order within each):
        each split is one contiguous block, which :meth:`subset` (and a memory-mapped face
        store) hands over as a view instead of a copy."""
        if "split" not in self.table.columns or not len(self.table):
            return self
        rank = {"train": 0, "val": 1, "test": 2}
        order = np.argsort(self.table["split"].map(lambda s: rank.get(s, 3)).to_numpy(),
                           kind="stable")
        if np.array_equal(order, np.arange(len(order))):
            return self
        return FaceSet(self.images[order], self.table.iloc[order].reset_index(drop=True),
                       self.version)

    @property
    def domain(self) -> str:
        return str(self.table["domain"].iloc[0]) if len(self.table) else ""


def content_digest(face_sets: dict[str, FaceSet]) -> str:
    """One digest of every domain's images, labels and splits: two face-set versions with the
    same content (a re-run of unchanged preprocessing) have the same digest."""
    from fer_da.digest import config_hash

    return config_hash({name: fs.digest for name, fs in sorted(face_sets.items())})
