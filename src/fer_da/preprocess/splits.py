"""Train/validation assignment per domain."""

from __future__ import annotations

import numpy as np
import pandas as pd


def random_split(labels: pd.Series, val_fraction: float, seed: int) -> pd.Series:
    """The paper's protocol: a random ``val_fraction`` of the images of each label."""
    rng = np.random.default_rng(seed)
    split = pd.Series("train", index=labels.index)
    for _, group in labels.groupby(labels).groups.items():
        idx = np.array(group)
        n_val = round(len(idx) * val_fraction)
        split[rng.permutation(idx)[:n_val]] = "val"
    return split


def subject_split(subjects: pd.Series, labels: pd.Series, val_fraction: float,
                  seed: int) -> pd.Series:
    """Subject-independent: whole subjects go to validation until ``val_fraction`` of images.

    Subjects are visited in a seeded order; a subject is taken when it moves the validation
    label histogram closer to ``val_fraction`` of the total (stratified where possible).
    """
    rng = np.random.default_rng(seed)
    names = np.array(sorted(subjects.unique()))
    if len(names) < 2:
        raise ValueError("a subject-independent split needs at least two subjects; "
                         "use split mode 'random' for this domain")
    table = pd.crosstab(subjects, labels).reindex(names)
    target = table.sum(axis=0).to_numpy(dtype=float) * val_fraction
    total_target = target.sum()
    chosen: list[str] = []
    current = np.zeros_like(target)
    for name in rng.permutation(names):
        row = table.loc[name].to_numpy(dtype=float)
        if current.sum() >= total_target:
            break
        if np.abs(current + row - target).sum() <= np.abs(current - target).sum() or not chosen:
            chosen.append(name)
            current += row
    if len(chosen) == len(names):
        chosen = chosen[:-1]
    return pd.Series(np.where(subjects.isin(chosen), "val", "train"), index=subjects.index)


def assign_split(table: pd.DataFrame, mode: str, val_fraction: float, seed: int) -> pd.Series:
    """``subject`` (default), ``random`` (the paper) or ``source`` (the layout's own column)."""
    if mode == "random":
        return random_split(table["label"], val_fraction, seed)
    if mode == "subject":
        return subject_split(table["subject"], table["label"], val_fraction, seed)
    if mode == "source":
        if "source_split" not in table or table["source_split"].isna().any():
            raise ValueError("split mode 'source' needs a source_split for every row")
        return table["source_split"].map(lambda s: "train" if s == "train" else "val")
    raise ValueError(f"unknown split mode {mode!r}; choose subject, random or source")
