"""What a training run may see: images of its domains, labels of its labelled domains only."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fer_da.facesets import FaceSet, content_digest


@dataclass(frozen=True)
class DomainData:
    name: str
    images: np.ndarray  # (N, S, S) uint8, training split (an unlabelled domain: its pool)
    labels: np.ndarray | None  # (N,) int64, or None when the run may not see them
    faceset_version: str | None = None  # the face-set version the images come from
    faceset_content: str | None = None  # content digest of all face sets of that version
    val_images: np.ndarray | None = None  # validation split, labelled domains only
    val_labels: np.ndarray | None = None
    subjects: np.ndarray | None = None  # (N,) subject ids ('' unknown), labelled domains only

    @property
    def labelled(self) -> bool:
        return self.labels is not None


def training_view(face_sets: dict[str, FaceSet], train_domains: tuple[str, ...],
                  labelled_domains: tuple[str, ...], seed: int | None = None,
                  content: str | None = None) -> list[DomainData]:
    """The train split of each domain; labels are dropped for every unlabelled domain.
    ``content``: the face sets' content digest, when the caller has it already."""
    content = content or content_digest(face_sets)
    out = []
    for name in train_domains:
        if name not in face_sets:
            raise KeyError(f"domain {name!r} is not among the preprocessed domains "
                           f"{sorted(face_sets)}")
        labelled = name in labelled_domains
        if labelled and face_sets[name].transductive:
            raise ValueError(f"domain {name!r} has split mode transductive (every image is "
                             "test): it can be adapted to, not trained on with its labels "
                             "(joint, finetune); give it another split mode for those setups")
        train = (face_sets[name].split("train", seed) if labelled
                 else face_sets[name].unlabelled_pool(seed))
        if len(train.table) == 0:
            raise ValueError(f"domain {name!r} has no training images")
        labels = train.table["label_idx"].to_numpy(dtype=np.int64) if labelled else None
        val = face_sets[name].split("val", seed) if labelled else None
        out.append(DomainData(
            name, np.ascontiguousarray(train.images), labels, face_sets[name].version, content,
            np.ascontiguousarray(val.images) if val is not None else None,
            val.table["label_idx"].to_numpy(dtype=np.int64) if val is not None else None,
            _subjects(train.table) if labelled else None))
    return out


def _subjects(table) -> np.ndarray:
    if "subject" not in table.columns:
        return np.full(len(table), "", dtype=object)
    return table["subject"].fillna("").astype(str).to_numpy(dtype=object)

