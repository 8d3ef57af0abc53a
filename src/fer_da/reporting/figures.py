"""Figures: t-SNE of the latent space, DANN loss curves, confusion matrices."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.manifold import TSNE  # noqa: E402
from sklearn.metrics import confusion_matrix  # noqa: E402

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def tsne_figure(features: np.ndarray, labels: Sequence[str], domains: Sequence[str],
                title: str, seed: int = 0, classes: Sequence[str] = ()) -> plt.Figure:
    """2-D t-SNE, coloured by expression (legend in ``classes``' order, the models'), one
    marker per domain (the paper's Fig. 3 and 6)."""
    perplexity = float(min(30, max(2, (len(features) - 1) // 3)))
    xy = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed
              ).fit_transform(features.astype(np.float64))
    fig, ax = plt.subplots(figsize=(6, 5))
    label_names = [c for c in classes if c in set(labels)] + sorted(set(labels) - set(classes))
    colours = plt.get_cmap("tab10")
    labels, domains = np.asarray(labels), np.asarray(domains)
    for d_i, dom in enumerate(sorted(set(domains))):
        for l_i, lab in enumerate(label_names):
            sel = (domains == dom) & (labels == lab)
            ax.scatter(xy[sel, 0], xy[sel, 1], s=14, marker=MARKERS[d_i % len(MARKERS)],
                       color=colours(l_i), alpha=0.8,
                       label=f"{lab}" if d_i == 0 else None)
    for d_i, dom in enumerate(sorted(set(domains))):
        ax.scatter([], [], marker=MARKERS[d_i % len(MARKERS)], color="k", label=dom)
    ax.legend(fontsize=6, ncol=2, loc="best")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return fig


def loss_curves(history: pd.DataFrame) -> plt.Figure:
    """Per DANN run: domain loss, classification loss, lambda and clamp limit per epoch."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    if not len(history) or "run" not in history.columns:  # the dann setup did not run
        for ax in axes:
            ax.set_axis_off()
        axes[1].text(0.5, 0.5, "no DANN run", ha="center", va="center")
        return fig
    for run, h in history.groupby("run"):  # a curve (and a legend entry) where it has values
        for ax, column, label in ((axes[0], "dmn_loss", run), (axes[1], "clf_loss", run),
                                  (axes[2], "clamp_limit", f"{run} clamp limit")):
            if column in h and h[column].notna().any():
                ax.plot(h["epoch"], h[column], label=label)
    first = history[history["run"] == history["run"].iloc[0]]
    ax2 = axes[2].twinx()
    ax2.plot(first["epoch"], first["lambda"], "k--", label="lambda")
    ax2.set_ylabel("lambda")
    axes[2].set_yscale("log")
    for ax, title in zip(axes, ("domain loss (Fig. 4)", "classification loss (Fig. 5)",
                                "clamp limit / lambda"), strict=True):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("epoch")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def confusion_grid(predictions: pd.DataFrame, vocabulary: Sequence[str], title: str,
                   names: Mapping[str, str] | None = None, columns: int = 2) -> plt.Figure:
    """One confusion matrix (rows = true, columns = predicted, in the models' class order)
    per evaluated domain, ``columns`` to a row so that each stays readable at page width;
    domains under their display names (``reporting.names``)."""
    domains = sorted(predictions["eval_domain"].unique())
    cols = max(1, min(columns, len(domains)))
    rows = -(-len(domains) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 4.4 * rows), squeeze=False)
    for ax in axes.flat[len(domains):]:
        ax.set_axis_off()
    for ax, dom in zip(axes.flat, domains, strict=False):
        _confusion(ax, predictions[predictions["eval_domain"] == dom], vocabulary,
                   (names or {}).get(dom, dom))
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def _confusion(ax: plt.Axes, p: pd.DataFrame, vocabulary: Sequence[str], name: str) -> None:
    k = len(vocabulary)
    cm = confusion_matrix(p["label_idx"], p["pred_idx"], labels=list(range(k)))
    ax.imshow(cm, cmap="Blues")
    for i in range(k):
        for j in range(k):
            if cm[i, j]:
                dark = cm[i, j] > cm.max() / 2
                ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=9,
                        color="white" if dark else "black")
    ax.set_xticks(range(k), list(vocabulary), fontsize=9, rotation=45, ha="right")
    ax.set_yticks(range(k), list(vocabulary), fontsize=9)
    ax.set_xlabel("predicted", fontsize=9)
    ax.set_ylabel("true", fontsize=9)
    acc = float((p["label_idx"] == p["pred_idx"]).mean()) if len(p) else float("nan")
    ax.set_title(f"{name} ({acc:.0%} of {len(p)})", fontsize=10)


def translation_grid(rows: Sequence[tuple[str, str, np.ndarray, np.ndarray]],
                     title: str) -> plt.Figure:
    """HA-GAN's translation (paper 004): per (domain, expression) row, human faces on the
    left half of each cell and the generated character on the right. ``rows``: (domain,
    expression, humans (n, S, S), characters (n, S, S)) with the same n per row."""
    n = max((len(h) for _, _, h, _ in rows), default=1)
    side = max((h.shape[1] for _, _, h, _ in rows if len(h)), default=8)
    cell = side + max(2, side // 16)  # a white gutter between rows
    mosaic = np.full((max(1, len(rows)) * cell, 2 * n * side), 255, np.uint8)
    for r, (_, _, humans, chars) in enumerate(rows):
        for i, (h, c) in enumerate(zip(humans, chars, strict=True)):
            mosaic[r * cell: r * cell + side, 2 * i * side: 2 * (i + 1) * side] = (
                np.concatenate([h, c], axis=1))
    fig, ax = plt.subplots(figsize=(1.1 * n + 1.6, 0.55 * max(1, len(rows)) + 0.6))
    ax.imshow(mosaic, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_yticks([r * cell + side / 2 for r in range(len(rows))],
                  [f"{domain} · {expression}" for domain, expression, _, _ in rows], fontsize=8)
    ax.set_xticks([])
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def character_grid(images: np.ndarray, character: np.ndarray, expression: np.ndarray,
                   names: Sequence[str], classes: Sequence[str], per_cell: int = 4,
                   characters: int = 3) -> plt.Figure:
    """HA-GAN's character set: one row per class, ``per_cell`` images of each of the first
    ``characters`` characters side by side (the variation D^R and D^e see)."""
    shown = min(characters, len(names))
    side = images.shape[-1]
    fig, axes = plt.subplots(len(classes), 1, figsize=(0.55 * per_cell * shown + 1,
                                                       0.6 * len(classes)), squeeze=False)
    for k, (ax, name) in enumerate(zip(axes[:, 0], classes, strict=True)):
        cells = []
        for c in range(shown):
            faces = images[(character == c) & (expression == k)][:per_cell]
            pad = np.full((per_cell - len(faces), side, side), 255, np.uint8)
            cells.append(np.concatenate([*faces, *pad], axis=1))
            cells.append(np.full((side, side // 4), 255, np.uint8))
        ax.imshow(np.concatenate(cells[:-1], axis=1), cmap="gray", vmin=0, vmax=255)
        ax.set_ylabel(name, fontsize=6, rotation=0, ha="right", va="center")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("HA-GAN character set: " + ", ".join(names[:shown]), fontsize=8)
    fig.tight_layout()
    return fig
