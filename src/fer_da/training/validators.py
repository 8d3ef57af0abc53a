"""Choosing a checkpoint without target labels: the field's validators as pure functions.

Each validator is a function of one checkpoint's outputs (logits, features) on the data a
protocol allows, and returns a float where **higher is better** (losses and risks are
negated). They know nothing of Kedro, of the model or of the loop: the caller computes the
outputs (docs/training.md, "Choosing a checkpoint without target labels").

Inputs, by the names of :data:`INPUTS`: ``source_val_*`` the labelled domains' validation
split, ``source_train_*`` their training split, ``target_*`` the unlabelled target pool
(no label read), ``target_test_*`` the labelled target test set (the oracle only).

Followed: pytorch-adapt (Musgrave et al., src/pytorch_adapt/validators/: snd_validator.py,
bnm_validator.py + layers/bnm_loss.py, class_cluster_validator.py with the settings of
powerful-benchmarker's ``ClassAMICentroidInit``, deep_embedded_validator.py) and the DEV
authors' thuml/Deep-Embedded-Validation ``dev.py``; where this module simplifies, the
function's docstring says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from fer_da.validate import ConfigError

ArrayLike = Any  # a torch.Tensor or a numpy array (or anything np.asarray takes)


def _tensor(x: ArrayLike) -> torch.Tensor:
    """``x`` as a float64 CPU tensor (validators are read-only: gradients never flow)."""
    t = x.detach() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    return t.to("cpu", torch.float64)


def _labels(x: ArrayLike) -> np.ndarray:
    t = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    return t.astype(np.int64).ravel()


def _rows(x: torch.Tensor, what: str, minimum: int = 1) -> torch.Tensor:
    if x.dim() != 2 or x.shape[0] < minimum:
        raise ValueError(f"{what} must be a 2-D (samples, dims) array with at least "
                         f"{minimum} rows, got shape {tuple(x.shape)}")
    return x


def _entropies(p: torch.Tensor) -> torch.Tensor:
    """Per-row entropy -sum_j p_j ln p_j of probability rows, with 0 ln 0 = 0."""
    return -(p * torch.log(p.clamp(min=1e-300))).sum(dim=1)


def accuracy(logits: ArrayLike, labels: ArrayLike) -> float:
    """Share of rows whose argmax is the label."""
    z = _rows(_tensor(logits), "logits")
    y = _labels(labels)
    if len(y) != z.shape[0]:
        raise ValueError(f"{z.shape[0]} rows of logits but {len(y)} labels")
    return float((z.argmax(dim=1).numpy() == y).mean())


def source_accuracy(source_val_logits: ArrayLike, source_val_labels: ArrayLike) -> float:
    """Source validation (the field's default; fer-da's ``select: source_val``).

    acc = 1/N sum_i [argmax_c z_ic = y_i] over the labelled domains' validation split.
    Higher is better. Standard practice, e.g. the "source-risk" baseline of You et al.
    2019 and the ``src_val`` accuracy of Musgrave et al. 2022 (arXiv 2208.07360).
    """
    return accuracy(source_val_logits, source_val_labels)


def target_entropy(target_logits: ArrayLike) -> float:
    """Negative mean prediction entropy on the unlabelled target pool (``target_entropy``).

    score = -1/N sum_i H(p_i), H(p) = -sum_c p_c ln p_c, p_i = softmax(z_i). Higher (more
    confident) is better. The entropy validator of Morerio et al. 2018 ("Minimal-entropy
    correlation alignment"), pytorch-adapt's EntropyValidator. Log-probabilities in give
    the same score as logits (softmax of log p is p).
    """
    p = F.softmax(_rows(_tensor(target_logits), "target_logits"), dim=1)
    return -float(_entropies(p).mean())


def information_maximisation(target_logits: ArrayLike) -> float:
    """Information maximisation on the unlabelled target pool (``target_im``).

    score = H(1/N sum_i p_i) - 1/N sum_i H(p_i): diverse (first term) and confident
    (second) predictions score high; higher is better. The negated IM loss of Shi & Sha
    2012 / Liang et al. 2020 (SHOT), pytorch-adapt's IMValidator; it equals
    ``-methods.im_loss``.
    """
    p = F.softmax(_rows(_tensor(target_logits), "target_logits"), dim=1)
    mean = p.mean(dim=0, keepdim=True)
    return float(_entropies(mean)[0] - _entropies(p).mean())


def snd(points: ArrayLike, temperature: float = 0.05, chunk: int = 1024) -> float:
    """Soft Neighbourhood Density (Saito et al. 2021, "Tune it the right way", ICCV).

    x_i = v_i / ||v_i||_2 (target softmax outputs, as pytorch-adapt's default ``preds``
    layer, or features); s_ij = x_i . x_j for j != i (self excluded: pytorch-adapt's
    ``mask_out_self`` drops the diagonal); P_ij = exp(s_ij / T) / sum_{k != i} exp(s_ik / T)
    with T = 0.05; SND = 1/N sum_i H(P_i). A point with many close neighbours spreads its
    row over them (high entropy): higher is better. Rows in chunks of ``chunk``.
    """
    x = F.normalize(_rows(_tensor(points), "snd points", minimum=2), dim=1)
    n = x.shape[0]
    total = 0.0
    for start in range(0, n, chunk):
        block = x[start: start + chunk] @ x.T  # (b, n)
        rows = torch.arange(block.shape[0])
        keep = torch.ones_like(block, dtype=torch.bool)
        keep[rows, rows + start] = False
        sims = block[keep].view(block.shape[0], n - 1)
        total += float(_entropies(F.softmax(sims / temperature, dim=1)).sum())
    return total / n


def bnm(target_logits: ArrayLike) -> float:
    """Batch Nuclear-norm Maximisation as a validator (Cui et al. 2020, CVPR).

    score = ||softmax(Z)||_* / N, the nuclear norm (sum of singular values) of the N x C
    prediction matrix of the target pool over its N rows, as pytorch-adapt's BNMValidator
    (the negated BNMLoss). Confident and diverse predictions score high: one-hot rows
    spread evenly over C classes score sqrt(C/N), all rows on one class 1/sqrt(N);
    higher is better.
    """
    p = F.softmax(_rows(_tensor(target_logits), "target_logits"), dim=1)
    return float(torch.linalg.matrix_norm(p, ord="nuc")) / p.shape[0]


def _class_centroids(x: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Per class the mean of its rows; 0 for a class no row carries (pytorch-adapt's
    ``get_centroids``, from lr94/abas)."""
    out = np.zeros((k, x.shape[1]))
    for c in range(k):
        if (labels == c).any():
            out[c] = x[labels == c].mean(axis=0)
    return out


def class_ami(target_features: ArrayLike, target_logits: ArrayLike,
              source_train_features: ArrayLike, source_train_labels: ArrayLike) -> float:
    """ClassAMI (Musgrave et al. 2022, "Three new validators", arXiv 2208.07360).

    x = L2-normalised concat(target features, source-train features); y = concat(argmax of
    the target logits, the source labels); k-means with k = C (the number of classes),
    initialised at each class's centroid under y; score = AMI(y, cluster assignment), the
    adjusted mutual information (scikit-learn, arithmetic normalisation). Features whose
    clusters agree with the predicted classes score high (1 at best, about 0 by chance);
    higher is better. Followed: pytorch-adapt's ClassClusterValidator with the settings
    powerful-benchmarker calls ClassAMI (``ClassAMICentroidInit``, ``layer=features``,
    ``normalize=True``, ``with_src=True``). No target label is read.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_mutual_info_score

    z = _rows(_tensor(target_logits), "target_logits")
    feats = torch.cat([_rows(_tensor(target_features), "target_features"),
                       _rows(_tensor(source_train_features), "source_train_features")])
    x = F.normalize(feats, dim=1).numpy()
    y = np.concatenate([z.argmax(dim=1).numpy(), _labels(source_train_labels)])
    if len(y) != len(x):
        raise ValueError(f"class_ami: {len(x)} feature rows but {len(y)} labels")
    k = z.shape[1]
    init = _class_centroids(x, y, k)
    clusters = KMeans(n_clusters=k, init=init, n_init=1).fit_predict(x)
    return float(adjusted_mutual_info_score(y, clusters))


def density_ratio(source_train_features: ArrayLike, target_features: ArrayLike,
                  at: ArrayLike) -> np.ndarray:
    """The importance weight w(x) = p_t(x) / p_s(x) at the rows of ``at``, from a domain
    classifier: w = P(target | x) / P(source | x) * N_s / N_t (You et al. 2019, eq. 8).

    Simplified: a standardised L2 logistic regression (C = 1) fitted on all source-train and
    target rows, where the DEV code (thuml/Deep-Embedded-Validation dev.py; pytorch-adapt's
    DeepEmbeddedValidator) trains an MLP, sweeping its weight decay on an 80/20 split.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    src = _rows(_tensor(source_train_features), "source_train_features").numpy()
    tgt = _rows(_tensor(target_features), "target_features").numpy()
    x = np.concatenate([src, tgt])
    d = np.concatenate([np.zeros(len(src)), np.ones(len(tgt))])
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
    p_t = clf.fit(x, d).predict_proba(_rows(_tensor(at), "source_val_features").numpy())[:, 1]
    p_s = np.clip(1.0 - p_t, 1e-12, None)
    return p_t / p_s * (len(src) / len(tgt))


def dev_risk(weights: ArrayLike, losses: ArrayLike) -> float:
    """The DEV risk of per-sample validation losses L_i with importance weights W_i.

    risk = mean(W L) + eta * mean(W) - eta, eta = -Cov(W L, W) / Var(W) (sample covariance
    and variance, ddof 1): the weighted loss with W as control variate (You et al. 2019,
    eq. 11-12; dev.py ``get_dev_risk``; the covariance is of the *weighted* loss, as there).
    Var(W) ~ 0 (<= 1e-12 mean(W)^2: the domains look alike) leaves eta = 0. Lower is better.
    """
    w = _tensor(weights).numpy().ravel()
    loss = _tensor(losses).numpy().ravel()
    if len(w) != len(loss) or len(w) < 2:
        raise ValueError(f"dev_risk needs as many weights as losses, at least 2; got "
                         f"{len(w)} and {len(loss)}")
    wl = w * loss
    var = float(np.var(w, ddof=1))
    eta = 0.0
    if var > 1e-12 * max(1.0, float(np.mean(w)) ** 2):
        eta = -float(np.cov(wl, w, ddof=1)[0, 1]) / var
    return float(np.mean(wl) + eta * np.mean(w) - eta)


def dev(source_train_features: ArrayLike, target_features: ArrayLike,
        source_val_features: ArrayLike, source_val_logits: ArrayLike,
        source_val_labels: ArrayLike) -> float:
    """Deep Embedded Validation (You et al. 2019, "Towards accurate model selection in
    deep unsupervised domain adaptation", ICML): -dev_risk(W, L) with L_i the
    cross-entropy of the source validation sample i and W_i = density_ratio at its
    features (source train vs target pool). The risk estimates the target loss: lower is
    better, so the score is its negation (as pytorch-adapt's DeepEmbeddedValidator)."""
    z = _rows(_tensor(source_val_logits), "source_val_logits")
    y = torch.as_tensor(_labels(source_val_labels))
    losses = F.cross_entropy(z, y, reduction="none")
    w = density_ratio(source_train_features, target_features, source_val_features)
    return -dev_risk(w, losses)


def oracle(target_test_logits: ArrayLike, target_test_labels: ArrayLike) -> float:
    """ORACLE, an UPPER BOUND no honest protocol can use: the accuracy on the labelled
    target TEST set, acc = 1/N sum_i [argmax z_i = y_i]. It is what the published
    cross-domain FER tables select on (the checkpoint kept whenever target accuracy
    improves); fer-da computes it at evaluation only, to measure each validator's gap to
    it, and never selects a reported model with it. Higher is better."""
    return accuracy(target_test_logits, target_test_labels)


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n, tied values sharing the mean of their ranks."""
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(1, len(x) + 1)
    _, inverse = np.unique(x, return_inverse=True)
    return (np.bincount(inverse, ranks) / np.bincount(inverse))[inverse]


def spearman(scores: ArrayLike, accuracies: ArrayLike) -> float:
    """Spearman's rank correlation of a validator's scores with the target accuracies over
    checkpoints: the Pearson correlation of their ranks, ties given their average rank
    (as scipy.stats.spearmanr). 1: the validator orders checkpoints as target accuracy
    does. NaN when fewer than two checkpoints or either side is constant; a NaN input is
    an error (a failed validator must be reported, not ranked)."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    a = np.asarray(accuracies, dtype=np.float64).ravel()
    if len(s) != len(a):
        raise ValueError(f"spearman: {len(s)} scores but {len(a)} accuracies")
    if np.isnan(s).any() or np.isnan(a).any():
        raise ValueError("spearman: a score or accuracy is NaN; report the failed "
                         "validator instead of ranking it")
    if len(s) < 2:
        return float("nan")
    rs, ra = _average_ranks(s) - (len(s) + 1) / 2, _average_ranks(a) - (len(a) + 1) / 2
    denom = float(np.sqrt((rs ** 2).sum() * (ra ** 2).sum()))
    return float((rs * ra).sum() / denom) if denom > 0 else float("nan")


INPUTS: dict[str, str] = {
    "source_val_logits": "logits (N, C) on the labelled domains' validation split",
    "source_val_labels": "their labels (N,)",
    "source_val_features": "features (N, D) of the same images",
    "source_train_features": "features (M, D) on the labelled domains' training split",
    "source_train_labels": "their labels (M,)",
    "target_logits": "logits (T, C) on the unlabelled target pool (no label read)",
    "target_features": "features (T, D) of the same images",
    "target_test_logits": "logits on the labelled target test set (the oracle only)",
    "target_test_labels": "its labels (the oracle only)",
}


def _snd_of_predictions(target_logits: ArrayLike) -> float:
    """SND on the target softmax outputs (pytorch-adapt's default layer, T = 0.05)."""
    return snd(F.softmax(_tensor(target_logits), dim=1))


@dataclass(frozen=True)
class Validator:
    """A registered validator: ``fn`` takes the inputs named in ``needs`` (keys of
    :data:`INPUTS`) as keyword arguments; higher is better. ``upper_bound``: it reads
    target test labels (the oracle) and must never select a reported model."""

    name: str
    fn: Callable[..., float]
    needs: tuple[str, ...]
    source: str
    upper_bound: bool = False


VALIDATORS: dict[str, Validator] = {v.name: v for v in (
    Validator("source_val", source_accuracy, ("source_val_logits", "source_val_labels"),
              "source validation accuracy"),
    Validator("target_entropy", target_entropy, ("target_logits",),
              "Morerio et al. 2018"),
    Validator("target_im", information_maximisation, ("target_logits",),
              "Shi & Sha 2012; Liang et al. 2020"),
    Validator("snd", _snd_of_predictions, ("target_logits",), "Saito et al. 2021"),
    Validator("bnm", bnm, ("target_logits",), "Cui et al. 2020"),
    Validator("class_ami", class_ami, ("target_features", "target_logits",
                                       "source_train_features", "source_train_labels"),
              "Musgrave et al. 2022"),
    Validator("dev", dev, ("source_train_features", "target_features",
                           "source_val_features", "source_val_logits", "source_val_labels"),
              "You et al. 2019"),
    Validator("oracle", oracle, ("target_test_logits", "target_test_labels"),
              "target test accuracy (upper bound)", upper_bound=True),
)}
LABEL_FREE = tuple(name for name, v in VALIDATORS.items() if not v.upper_bound)


def validator(name: str, key: str = "training.validators") -> Validator:
    """The registered validator ``name``; a ConfigError naming ``key`` and the choices."""
    if name not in VALIDATORS:
        raise ConfigError(f"{key}: unknown validator {name!r}; choose from "
                          f"{sorted(VALIDATORS)} (oracle is an upper bound, evaluation only)")
    return VALIDATORS[name]


def score(name: str, inputs: Mapping[str, ArrayLike], key: str = "training.validators"
          ) -> float:
    """Validator ``name`` on ``inputs`` (a mapping from :data:`INPUTS` names to arrays);
    an error names the inputs it lacks."""
    v = validator(name, key)
    missing = [k for k in v.needs if inputs.get(k) is None]
    if missing:
        raise ValueError(f"validator {name!r} needs {missing} ("
                         + "; ".join(INPUTS[k] for k in missing) + ")")
    return v.fn(**{k: inputs[k] for k in v.needs})
