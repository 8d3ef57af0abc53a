"""Proxy A-distance (Ben-David et al.): how well a linear classifier tells two domains apart."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def proxy_a_distance(source: np.ndarray, target: np.ndarray, seed: int = 0,
                     folds: int = 5, c: float = 1.0) -> float:
    """2 * (1 - 2 * err), err = cross-validated balanced error of a linear domain classifier.

    About 2 for separable feature sets, about 0 (or slightly below) for identical ones.
    ``c`` is the inverse L2 strength (sklearn's C) of the logistic probe: with few samples
    in 600 dims a strong probe (c = 1) separates almost any two domains; a weak one
    (c = 1e-4) measures how far apart the bulk of the two distributions is.
    """
    if len(source) < folds or len(target) < folds:
        return float("nan")
    x = np.concatenate([source, target]).astype(np.float64)
    y = np.concatenate([np.zeros(len(source)), np.ones(len(target))])
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=3000))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    # balanced error: a probe that predicts the larger set everywhere scores 0.5, not less
    err = 1.0 - float(np.mean(cross_val_score(clf, x, y, cv=cv, scoring="balanced_accuracy")))
    return 2.0 * (1.0 - 2.0 * err)
