"""Classification metrics for imbalanced targets. Pure functions of arrays."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def classification_metrics(class_logp: np.ndarray, labels: np.ndarray,
                           classes: Sequence[str]) -> dict[str, float]:
    """Accuracy, balanced accuracy, macro-F1, mean NLL and per-class recall.

    Balanced accuracy is the mean recall over the classes present in ``labels`` (a model that
    always predicts one class scores 1/k on k present classes, whatever the imbalance).
    Macro-F1 averages F1 over the same present classes (a predicted class absent from the
    labels lowers precision elsewhere, not the average's size). ``recall_<class>`` is NaN for
    a class absent from ``labels``.
    """
    nan = float("nan")
    out: dict[str, float] = {"accuracy": nan, "balanced_accuracy": nan, "macro_f1": nan,
                             "nll": nan, **{f"recall_{c}": nan for c in classes}}
    if len(labels) == 0:
        return out
    labels = np.asarray(labels, dtype=np.int64)
    n_classes = class_logp.shape[1]
    pred = class_logp.argmax(1)
    inside = labels < n_classes
    out["accuracy"] = float((pred == labels).mean())
    if inside.any():
        out["nll"] = float(-class_logp[np.flatnonzero(inside), labels[inside]].mean())
    recalls, f1s = [], []
    for k, name in enumerate(classes):
        true = labels == k
        if not true.any():
            continue
        hit = float((pred[true] == k).sum())
        recall = hit / true.sum()
        predicted = float((pred == k).sum())
        precision = hit / predicted if predicted else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[f"recall_{name}"] = float(recall)
        recalls.append(recall)
        f1s.append(f1)
    out["balanced_accuracy"] = float(np.mean(recalls))
    out["macro_f1"] = float(np.mean(f1s))
    return out
