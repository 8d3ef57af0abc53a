"""Train / validation / test assignment per domain. Pure functions of tables and a seed.

Modes: ``subject`` (whole subjects per split), ``group`` (whole groups per split, the group
taken from the file name by a regex: a film title, a person's name), ``random`` (stratified by
label: leaky when a subject has several images), ``source`` (the layout's own split column,
missing splits carved from its train part by ``within``) and ``transductive`` (an unlabelled
target's every image is its test set and, unlabelled, its adaptation pool: the cross-domain
FER benchmark's JAFFE protocol; :data:`TRANSDUCTIVE` marks those rows).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

SPLITS = ("train", "val", "test")
UNUSED = "unused"  # train images left out by split.max_train (a subsampled benchmark)
TRANSDUCTIVE = "transductive"  # face-set column: the row is also in the unlabelled pool


class SplitError(ValueError):
    """The split cannot be made as configured; the message names the domain and the key."""


def random_split(labels: pd.Series, fractions: Mapping[str, float], seed: int) -> pd.Series:
    """Stratified by label: ``fractions[split]`` of each label's images, the rest train."""
    rng = np.random.default_rng(seed)
    split = pd.Series("train", index=labels.index, dtype=object)
    for _, group in labels.groupby(labels, sort=True).groups.items():
        idx = rng.permutation(np.array(group))
        start = 0
        for name in ("test", "val"):
            n = round(len(idx) * fractions.get(name, 0.0))
            n = min(n, max(0, len(idx) - start - 1))  # keep at least one for training
            split[idx[start: start + n]] = name
            start += n
    return split


def group_split(groups: pd.Series, labels: pd.Series, fractions: Mapping[str, float],
                seed: int, what: str = "subject") -> pd.Series:
    """Whole groups per split, each split near its fraction of every label (greedy).

    Groups are visited in a seeded order; a group joins the split being filled when it moves
    that split's label histogram closer to its target. Test is filled first, then validation.
    """
    rng = np.random.default_rng(seed)
    names = np.array(sorted(groups.unique()))
    wanted = [s for s in ("test", "val") if fractions.get(s, 0.0) > 0]
    if len(names) < len(wanted) + 1:
        raise SplitError(f"a {what}-independent split into {['train', *wanted]} needs at least "
                         f"{len(wanted) + 1} {what}s, found {len(names)}")
    table = pd.crosstab(groups, labels).reindex(names)
    totals = table.sum(axis=0).to_numpy(dtype=float)
    remaining = list(rng.permutation(names))
    chosen_by_split: dict[str, list[str]] = {}
    for split in wanted:
        target = totals * fractions[split]
        chosen: list[str] = []
        current = np.zeros_like(target)
        for name in remaining:
            if current.sum() >= target.sum():
                break
            row = table.loc[name].to_numpy(dtype=float)
            if not chosen or np.abs(current + row - target).sum() <= np.abs(
                    current - target).sum():
                chosen.append(name)
                current += row
        if len(chosen) == len(remaining):  # always leave groups for training
            chosen = chosen[:-1]
        remaining = [n for n in remaining if n not in chosen]
        chosen_by_split[split] = chosen
    out = pd.Series("train", index=groups.index, dtype=object)
    for split, chosen in chosen_by_split.items():
        out[groups.isin(chosen)] = split
    return out


def groups_from_names(paths: pd.Series, pattern: str) -> pd.Series:
    """The ``group`` (or first) group of ``pattern`` searched in each file name."""
    regex = re.compile(pattern)
    out = []
    for path in paths:
        name = str(path).rsplit("/", 1)[-1]
        m = regex.search(name)
        if not m:
            raise SplitError(f"split.group_regex {pattern!r} finds no group in {path!r}")
        out.append(m.groupdict().get("group") or m.group(1) if m.groups() else m.group(0))
    return pd.Series(out, index=paths.index)


def assign_split(table: pd.DataFrame, mode: str, fractions: Mapping[str, float], seed: int,
                 group_regex: str | None = None, within: str = "random") -> pd.Series:
    """``train``/``val``/``test`` per row of ``table`` (columns label, subject, path,
    source_split)."""
    if mode == "random":
        return random_split(table["label"], fractions, seed)
    if mode == "subject":
        return group_split(table["subject"].astype(str), table["label"], fractions, seed)
    if mode == "group":
        if not group_regex:
            raise SplitError("split mode 'group' needs split.group_regex")
        groups = groups_from_names(table["path"], group_regex)
        return group_split(groups, table["label"], fractions, seed, what="group")
    if mode == TRANSDUCTIVE:
        return pd.Series("test", index=table.index, dtype=object)
    if mode == "source":
        given = table.get("source_split", pd.Series(None, index=table.index))
        missing = given.isna() | ~given.isin(SPLITS)
        if missing.any():
            raise SplitError(f"split mode 'source' needs the layout's own split for every "
                             f"image; {int(missing.sum())} have none (e.g. "
                             f"{table['path'][missing].iloc[0]!r})")
        out = given.astype(object).copy()
        absent = {s: fractions.get(s, 0.0) for s in ("test", "val")
                  if fractions.get(s, 0.0) > 0 and not (given == s).any()}
        if absent:  # carve the splits the source lacks from its train part
            train = table[given == "train"]
            carved = assign_split(train, within, absent, seed, group_regex)
            out[train.index] = carved
        return out
    raise SplitError(f"unknown split mode {mode!r}; choose subject, group, random, source "
                     "or transductive")


def cap_train(split: pd.Series, labels: pd.Series | None, max_train: int | None,
              seed: int) -> pd.Series:
    """Keep at most ``max_train`` training images (seeded); the others become ``unused``.
    Validation and test are untouched.

    ``labels``: a labelled (source) domain's labels: the same share of each label is kept
    (stratified). ``None`` for a target, whose training split is its unlabelled adaptation
    pool (and its AdaBN statistics): exactly ``max_train`` images drawn uniformly, so the
    choice never reads its labels."""
    train = split.index[split == "train"]
    if max_train is None or len(train) <= max_train:
        return split
    rng = np.random.default_rng(seed)
    out = split.copy()
    if labels is None:
        out[rng.permutation(np.array(train))[max_train:]] = UNUSED
        return out
    keep_fraction = max_train / len(train)
    for _, group in labels[train].groupby(labels[train], sort=True).groups.items():
        idx = rng.permutation(np.array(group))
        out[idx[round(len(idx) * keep_fraction):]] = UNUSED
    return out
