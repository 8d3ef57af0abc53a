"""The annotated contact sheet of an inference run: each face with its label."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from fer_da.reporting.figures import plt


def prediction_sheet(table: pd.DataFrame, crops: np.ndarray, max_faces: int = 48,
                     columns: int = 8) -> plt.Figure:
    """Up to ``max_faces`` crops (in table order) titled with label, probability and file
    (and frame); a note says how many were left out."""
    n = min(len(table), max_faces)
    rows = max(1, math.ceil(n / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.5, rows * 1.8 + 0.4),
                             squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= n:
            continue
        r = table.iloc[k]
        ax.imshow(crops[k], cmap="gray", vmin=0, vmax=255)
        where = Path(str(r["file"])).name
        if pd.notna(r["frame"]):
            where += f" #{int(r['frame'])}"
        ax.set_title(f"{r['label']} {r['probability']:.2f}\n{where[:18]}", fontsize=7)
    run = table["run_id"].iloc[0] if len(table) else "no faces"
    more = f" ({len(table) - n} more in the table)" if len(table) > n else ""
    fig.suptitle(f"{run}: {len(table)} faces{more}", fontsize=9)
    fig.tight_layout()
    return fig
