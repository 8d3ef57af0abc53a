"""The checkpoint validators of training/validators.py: each against a tiny example worked
by hand (the arithmetic in the comments), property checks, and the registry."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fer_da.methods.entropy import entropy_loss, im_loss
from fer_da.training import validators as V
from fer_da.validate import ConfigError

LN2 = math.log(2)


def _logits(probs) -> np.ndarray:
    return np.log(np.asarray(probs, dtype=np.float64))


def test_source_accuracy_and_the_oracle_on_a_hand_example():
    # argmax per row: 0, 1, 1, 0 against labels 0, 1, 0, 0: 3 of 4 right
    z = np.array([[2.0, 1.0], [0.0, 3.0], [1.0, 1.5], [5.0, -1.0]])
    assert V.source_accuracy(z, [0, 1, 0, 0]) == pytest.approx(0.75)
    assert V.oracle(torch.tensor(z), torch.tensor([0, 1, 0, 0])) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="4 rows of logits but 3 labels"):
        V.source_accuracy(z, [0, 1, 0])


def test_the_oracle_is_marked_an_upper_bound_and_is_not_label_free():
    assert "UPPER BOUND" in V.oracle.__doc__
    assert V.VALIDATORS["oracle"].upper_bound
    assert "oracle" not in V.LABEL_FREE
    assert not any(V.VALIDATORS[n].upper_bound for n in V.LABEL_FREE)
    # no label-free validator asks for a target label
    assert not any("target_test" in k for n in V.LABEL_FREE for k in V.VALIDATORS[n].needs)


def test_target_entropy_and_im_on_a_hand_example():
    # p1 = (1/2, 1/2): H = ln 2; p2 = (1, 0): H = 0 -> mean entropy ln2 / 2 = 0.34657
    # mean prediction (3/4, 1/4): H = -(.75 ln .75 + .25 ln .25) = 0.56233
    # IM = 0.56233 - 0.34657 = 0.21576
    z = np.array([[0.0, 0.0], [60.0, 0.0]])
    assert V.target_entropy(z) == pytest.approx(-LN2 / 2, abs=1e-9)
    h_mean = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert V.information_maximisation(z) == pytest.approx(h_mean - LN2 / 2, abs=1e-9)
    assert V.information_maximisation(z) == pytest.approx(0.215762, abs=1e-6)


def test_entropy_and_im_are_the_negated_training_losses_one_home_for_selection():
    """selection.py's scores now come from validators.py: they equal the negated training
    losses (methods.py) they were computed with before, logits or log-probabilities in."""
    z = torch.randn(30, 7, generator=torch.Generator().manual_seed(0)) * 3
    logp = torch.log_softmax(z, dim=1)
    assert V.target_entropy(z) == pytest.approx(-float(entropy_loss(logp)), abs=1e-5)
    assert V.target_entropy(logp) == pytest.approx(V.target_entropy(z), abs=1e-6)
    assert V.information_maximisation(z) == pytest.approx(-float(im_loss(logp)), abs=1e-5)


def test_snd_on_hand_examples():
    # three unit vectors 120 degrees apart: each row's two neighbours both at cos = -1/2,
    # so with self excluded every softmax row is (1/2, 1/2): SND = ln 2 at any T
    tri = np.array([[1.0, 0.0], [-0.5, math.sqrt(3) / 2], [-0.5, -math.sqrt(3) / 2]])
    assert V.snd(tri) == pytest.approx(LN2, abs=1e-12)
    # e0, e0 (scaled: normalised first), e1 at T = 1: rows 0 and 1 see sims (1, 0):
    # p = (e/(e+1), 1/(e+1)) = (0.73106, 0.26894), H = 0.58220; row 2 sees (0, 0): ln 2
    # SND = (2 * 0.58220 + 0.69315) / 3 = 0.61918
    pts = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]])
    p = math.e / (math.e + 1)
    h = -(p * math.log(p) + (1 - p) * math.log(1 - p))
    assert V.snd(pts, temperature=1.0) == pytest.approx((2 * h + LN2) / 3, abs=1e-12)
    assert V.snd(pts, temperature=1.0) == pytest.approx(0.619184, abs=1e-6)
    # rows processed in chunks give the same number
    assert V.snd(pts, temperature=1.0, chunk=1) == pytest.approx(V.snd(pts, temperature=1.0))
    with pytest.raises(ValueError, match="at least 2 rows"):
        V.snd(np.ones((1, 3)))


def test_snd_is_higher_for_clustered_features_than_for_uniform_noise():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 16))
    clustered = np.repeat(centres, 25, axis=0) + 0.01 * rng.normal(size=(100, 16))
    noise = rng.normal(size=(100, 16))
    assert V.snd(clustered) > V.snd(noise) + 1.0  # ~ln 24 against a near-one-hot row
    assert V.snd(clustered) == pytest.approx(math.log(24), abs=0.05)


def test_bnm_on_hand_examples():
    # P = [[.8, .2], [.2, .8]] is symmetric positive definite: singular values = its
    # eigenvalues 1.0 and 0.6, nuclear norm 1.6, over N = 2 rows: 0.8
    assert V.bnm(_logits([[0.8, 0.2], [0.2, 0.8]])) == pytest.approx(0.8, abs=1e-12)
    # P = all 1/2: rank one, singular value 1 (= ||(.5,.5)|| * ||(1,1)||): 1 / 2
    assert V.bnm(_logits([[0.5, 0.5], [0.5, 0.5]])) == pytest.approx(0.5, abs=1e-12)


def test_bnm_is_higher_for_diverse_confident_predictions_than_for_one_collapsed_class():
    # one-hot rows spread over C = 3 classes, N = 6: sqrt(C / N) = 0.70711;
    # every row on one class: 1 / sqrt(N) = 0.40825
    diverse = np.eye(3)[[0, 1, 2, 0, 1, 2]] * 40.0
    collapsed = np.eye(3)[[0] * 6] * 40.0
    assert V.bnm(diverse) == pytest.approx(math.sqrt(0.5), abs=1e-9)
    assert V.bnm(collapsed) == pytest.approx(1 / math.sqrt(6), abs=1e-9)
    uniform = np.zeros((6, 3))  # diverse-on-average but unconfident: rank one, 1/sqrt(3)
    assert V.bnm(diverse) > V.bnm(uniform) > V.bnm(collapsed) - 0.5


def test_class_ami_on_a_hand_example():
    """Source e0 (class 0) and e1 (class 1); target points near e0 and near e1; k-means
    (k = 2) groups {t0, s0} and {t1, s1}. Right target predictions: labels agree with the
    clusters, AMI = 1. Swapped target predictions: labels (1, 0, 0, 1) against clusters
    (a, b, a, b), MI = 0; the expected MI under the permutation model with row and column
    sums (2, 2), N = 4: each n_ij is hypergeometric, P(0) = 1/6, P(1) = 4/6, P(2) = 1/6;
    n_ij = 1 gives (1/4) ln(4*1/(2*2)) = 0, n_ij = 2 gives (2/4) ln 2, so E[MI] = 4 cells *
    (1/6)(1/2) ln 2 = ln2 / 3; H = ln 2 on both sides:
    AMI = (0 - ln2/3) / (ln 2 - ln2/3) = -1/2."""
    src, src_y = np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0, 1])
    tgt = np.array([[1.0, 0.2], [0.1, 1.0]])
    right = np.array([[3.0, 0.0], [0.0, 3.0]])
    swapped = right[:, ::-1].copy()
    assert V.class_ami(tgt, right, src, src_y) == pytest.approx(1.0, abs=1e-9)
    assert V.class_ami(tgt, swapped, src, src_y) == pytest.approx(-0.5, abs=1e-9)
    # the features are L2-normalised first: scaling a row changes nothing
    assert V.class_ami(tgt * [[10.0], [0.1]], swapped, src * 5, src_y) == pytest.approx(-0.5)


def test_class_ami_is_higher_when_the_features_cluster_by_the_predicted_class():
    rng = np.random.default_rng(1)
    centres = np.eye(4) * 5
    y = np.repeat(np.arange(4), 15)
    src = centres[y] + 0.3 * rng.normal(size=(60, 4))
    tgt = centres[y] + 0.3 * rng.normal(size=(60, 4))
    good = np.eye(4)[y] * 5.0
    shuffled = np.eye(4)[rng.permutation(y)] * 5.0
    assert V.class_ami(tgt, good, src, y) > 0.9
    assert V.class_ami(tgt, shuffled, src, y) < V.class_ami(tgt, good, src, y) - 0.3


def test_dev_risk_on_a_hand_example():
    # W = (.5, 1.5, 2, 1), L = (1, 0, 2, 1): WL = (.5, 0, 4, 1), mean(WL) = 1.375,
    # mean(W) = 1.25; Cov(WL, W) = [(-.875)(-.75) + (-1.375)(.25) + (2.625)(.75)
    # + (-.375)(-.25)] / 3 = 2.375 / 3; Var(W) = 1.25 / 3; eta = -2.375/1.25 = -1.9
    # risk = 1.375 + (-1.9)(1.25) - (-1.9) = 0.9  (without the control variate: 1.375)
    assert V.dev_risk([0.5, 1.5, 2.0, 1.0], [1.0, 0.0, 2.0, 1.0]) == pytest.approx(0.9)
    # constant weights: Var(W) = 0, eta = 0: the weighted mean loss
    assert V.dev_risk([2.0] * 3, [1.0, 2.0, 3.0]) == pytest.approx(4.0)
    with pytest.raises(ValueError, match="at least 2"):
        V.dev_risk([1.0], [1.0])


def test_dev_is_the_negated_mean_validation_loss_when_source_and_target_look_alike():
    rng = np.random.default_rng(2)
    feats = rng.normal(size=(40, 5))
    val_feats, val_z = rng.normal(size=(12, 5)), rng.normal(size=(12, 3))
    val_y = rng.integers(0, 3, 12)
    mean_ce = float(F.cross_entropy(torch.tensor(val_z), torch.tensor(val_y)))
    w = V.density_ratio(feats, feats.copy(), val_feats)
    assert np.allclose(w, 1.0)
    assert V.dev(feats, feats.copy(), val_feats, val_z, val_y) == pytest.approx(-mean_ce)


def test_density_ratio_weights_the_source_samples_that_look_like_the_target():
    rng = np.random.default_rng(3)
    src = rng.normal(-1.0, 1.0, size=(200, 1))
    tgt = rng.normal(1.0, 1.0, size=(100, 1))
    w = V.density_ratio(src, tgt, np.array([[-2.0], [0.0], [2.0]]))
    assert w[0] < w[1] < w[2] and w[0] < 0.2 and w[2] > 5
    # the true ratio N(1,1)/N(-1,1) at 0 is 1; N_s/N_t = 2 is already folded in
    assert w[1] == pytest.approx(1.0, abs=0.35)


def test_spearman_averages_ties():
    # scores (1, 2, 2, 3) -> ranks (1, 2.5, 2.5, 4); accuracies (1, 3, 2, 4) -> (1, 3, 2, 4)
    # centred: (-1.5, 0, 0, 1.5) and (-1.5, .5, -.5, 1.5): sum of products 4.5,
    # sums of squares 4.5 and 5: rho = 4.5 / sqrt(22.5) = 0.948683
    # (ordinal ranks 1, 2, 3, 4 without tie averaging would give 0.8)
    assert V.spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(0.948683, abs=1e-6)
    assert V.spearman([3, 2, 1], [0.1, 0.2, 0.3]) == pytest.approx(-1.0)
    assert math.isnan(V.spearman([1, 1, 1], [1, 2, 3]))
    assert math.isnan(V.spearman([1], [2]))
    with pytest.raises(ValueError, match="NaN"):
        V.spearman([1.0, float("nan")], [1.0, 2.0])


def test_spearman_matches_scipy_on_many_ties():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(4)
    a, b = rng.integers(0, 4, 40), rng.integers(0, 5, 40)
    assert V.spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic, abs=1e-12)


def _inputs(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {"source_val_logits": rng.normal(size=(20, 3)),
            "source_val_labels": rng.integers(0, 3, 20),
            "source_val_features": rng.normal(size=(20, 4)),
            "source_train_features": rng.normal(size=(30, 4)),
            "source_train_labels": np.arange(30) % 3,
            "target_logits": rng.normal(size=(25, 3)),
            "target_features": rng.normal(size=(25, 4)) + 0.5,
            "target_test_logits": rng.normal(size=(10, 3)),
            "target_test_labels": rng.integers(0, 3, 10)}


def test_every_registered_validator_runs_on_what_it_declares():
    inputs = _inputs(np.random.default_rng(5))
    assert set(V.VALIDATORS) == {"source_val", "target_entropy", "target_im", "snd", "bnm",
                                 "class_ami", "dev", "oracle"}
    for name, v in V.VALIDATORS.items():
        assert set(v.needs) <= set(V.INPUTS)
        assert math.isfinite(V.score(name, {k: inputs[k] for k in v.needs})), name
    assert V.score("snd", inputs) == pytest.approx(
        V.snd(F.softmax(torch.tensor(inputs["target_logits"]), dim=1)))
    assert V.score("oracle", inputs) == V.oracle(inputs["target_test_logits"],
                                                  inputs["target_test_labels"])


def test_registry_errors_name_the_key_the_choices_and_the_missing_inputs():
    with pytest.raises(ConfigError, match=r"training\.select: unknown validator 'snd2'.*"
                                          r"'bnm'.*'snd'"):
        V.validator("snd2", "training.select")
    with pytest.raises(ConfigError, match=r"training\.validators"):
        V.score("nope", {})
    with pytest.raises(ValueError, match=r"needs \['source_train_features', "
                                         r"'source_train_labels'\]"):
        V.score("class_ami", {"target_features": np.ones((3, 2)),
                              "target_logits": np.ones((3, 2))})


def test_selection_refuses_unknown_criteria_the_oracle_and_a_missing_target():
    from fer_da.training.selection import selection_score

    with pytest.raises(ConfigError, match=r"training\.select: unknown validator"):
        selection_score("bogus", torch.nn.Identity(), [], torch.device("cpu"))
    with pytest.raises(ConfigError, match=r"training\.select: the oracle reads target test"):
        selection_score("oracle", torch.nn.Identity(), [], torch.device("cpu"))
    with pytest.raises(ValueError, match=r"need an unlabelled \(target\) domain"):
        selection_score("bnm", torch.nn.Identity(), [], torch.device("cpu"))
