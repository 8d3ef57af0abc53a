"""The face-set contact sheet: a grid of crops, one row per domain."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from fer_da.facesets import FaceSet
from fer_da.labels import CANONICAL_LABELS


def contact_sheet(face_sets: dict[str, FaceSet], per_label: int = 2,
                  names: Mapping[str, str] | None = None) -> Figure:
    """A grid of crops: one row per domain (``names``: its display name), ``per_label``
    columns per expression (one mosaic image on one axis: cheap to draw however many
    domains and labels)."""
    present = {lab for fs in face_sets.values() for lab in fs.table["label"]}
    # the class order of the models' outputs and the confusion matrices (labels.py)
    vocab = [c for c in CANONICAL_LABELS if c in present] + sorted(present - set(
        CANONICAL_LABELS))
    side = max((fs.images.shape[1] for fs in face_sets.values() if len(fs.images)), default=48)
    cell = side + max(2, side // 16)  # a thin white gutter between crops
    cols = len(vocab) * per_label
    mosaic = np.full((len(face_sets) * cell, max(cols, 1) * cell), 255, np.uint8)
    for r, (_, fs) in enumerate(sorted(face_sets.items())):
        labels = fs.table["label"].to_numpy()
        for c in range(cols):
            idx = np.flatnonzero(labels == vocab[c // per_label])
            if len(idx) > c % per_label:
                crop = fs.images[idx[c % per_label]]
                h, w = crop.shape
                mosaic[r * cell: r * cell + h, c * cell: c * cell + w] = crop
    fig = Figure(figsize=(max(cols, 1) * 0.9 + 1.2, len(face_sets) * 1.0 + 0.5))
    ax = fig.add_axes((0.1, 0.02, 0.89, 0.88))
    ax.imshow(mosaic, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_xticks([(i * per_label) * cell + side / 2 for i in range(len(vocab))],
                  vocab, fontsize=12, ha="left")
    ax.xaxis.tick_top()
    ax.set_yticks([r * cell + side / 2 for r in range(len(face_sets))],
                  [(names or {}).get(d, d) for d in sorted(face_sets)], fontsize=12)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return fig
