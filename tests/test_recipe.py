"""The training recipe and the adaptation methods, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fer_da.methods.base import Step, classification_loss
from fer_da.methods.build import build_objective
from fer_da.methods.cdan import cdan_entropy_weights
from fer_da.methods.entropy import entropy_loss, im_loss
from fer_da.methods.mcc import mcc_loss
from fer_da.methods.options import MethodOptions
from fer_da.models import FERNet, ModelConfig
from fer_da.training.augment import AugmentConfig, augment
from fer_da.training.checkpoints import CheckpointStore
from fer_da.training.config import RunPlan, TrainConfig
from fer_da.training.data import training_view
from fer_da.training.loop import steps_per_epoch, train_run
from fer_da.training.plans import plan_runs
from fer_da.training.schedules import lr_factor

DOMAINS = {"src": {"layout": "jaffe", "role": "source"},
           "tgt": {"layout": "jaffe", "role": "target"}}


def test_label_smoothing_against_a_hand_count():
    logp = torch.log(torch.tensor([[0.7, 0.2, 0.1], [0.3, 0.3, 0.4], [0.5, 0.25, 0.25]]))
    y = torch.tensor([0, 2, -1])  # the third is unlabelled
    nll = -(math.log(0.7) + math.log(0.4)) / 2
    uniform = -(sum(map(math.log, (0.7, 0.2, 0.1))) + sum(map(math.log, (0.3, 0.3, 0.4)))) / 6
    assert float(classification_loss(logp, y)) == pytest.approx(nll, rel=1e-6)
    assert float(classification_loss(logp, y, 0.1)) == pytest.approx(
        0.9 * nll + 0.1 * uniform, rel=1e-6)


def test_entropy_and_information_maximisation():
    p = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    logp = torch.log(p.clamp(min=1e-30))
    assert float(entropy_loss(logp)) == pytest.approx(math.log(2) / 2, abs=1e-6)
    # mean prediction (0.75, 0.25): its entropy is subtracted
    diversity = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert float(im_loss(logp)) == pytest.approx(math.log(2) / 2 - diversity, abs=1e-6)


def test_mcc_is_zero_for_confident_distinct_classes_and_positive_for_confusion():
    confident = torch.tensor([[50.0, 0.0], [0.0, 50.0]])
    assert float(mcc_loss(confident, temperature=1.0)) == pytest.approx(0.0, abs=1e-6)
    # two identical uniform predictions: p = (1/2, 1/2), equal weights;
    # C = p^T p = [[1/2, 1/2], [1/2, 1/2]], rows normalised to 1/2 each: off-diagonal sum 1
    uniform = torch.zeros(2, 2)
    assert float(mcc_loss(uniform, temperature=1.0)) == pytest.approx(1.0 / 2, abs=1e-6)


def _mcc_by_the_paper(logits: np.ndarray, t: float) -> float:
    """Jin et al. 2020, eqs. 1-6, written out in numpy: temperature softmax, entropy weights
    W = B (1 + e^-H) / sum(1 + e^-H), C = Y^T W Y, rows normalised, mean off-diagonal."""
    z = logits / t
    y = np.exp(z - z.max(1, keepdims=True))
    y = y / y.sum(1, keepdims=True)
    h = -(y * np.log(y)).sum(1)
    w = len(y) * (1 + np.exp(-h)) / (1 + np.exp(-h)).sum()
    c = y.T @ np.diag(w) @ y
    c = c / c.sum(1, keepdims=True)
    return float((c.sum() - np.trace(c)) / len(c))


def test_mcc_matches_the_papers_definition_on_uneven_predictions():
    logits = np.array([[4.0, 0.5, -1.0], [0.2, 0.1, 0.0], [-2.0, 3.0, 1.0], [1.0, 1.0, 2.5],
                       [0.0, -3.0, 0.5]])
    for t in (1.0, 2.5):
        want = _mcc_by_the_paper(logits, t)
        got = float(mcc_loss(torch.tensor(logits, dtype=torch.float32), temperature=t))
        assert got == pytest.approx(want, rel=1e-5)
    # the entropy weights matter here: equal weights give another value
    y = np.exp(logits / 2.5)
    y = y / y.sum(1, keepdims=True)
    c = y.T @ y
    c = c / c.sum(1, keepdims=True)
    unweighted = (c.sum() - np.trace(c)) / 3
    assert abs(unweighted - _mcc_by_the_paper(logits, 2.5)) > 1e-3


def test_cdan_entropy_weights_average_one_per_domain():
    logp = torch.log(torch.tensor([[0.9, 0.1], [0.5, 0.5], [0.99, 0.01], [0.6, 0.4]]))
    dom = torch.tensor([0, 0, 1, 1])
    w = cdan_entropy_weights(logp, dom, 2)
    raw = [1 + math.exp(a * math.log(a) + b * math.log(b))  # 1 + exp(-H)
           for a, b in ((0.9, 0.1), (0.5, 0.5), (0.99, 0.01), (0.6, 0.4))]
    assert w.tolist() == pytest.approx([raw[0] / ((raw[0] + raw[1]) / 2),
                                        raw[1] / ((raw[0] + raw[1]) / 2),
                                        raw[2] / ((raw[2] + raw[3]) / 2),
                                        raw[3] / ((raw[2] + raw[3]) / 2)], rel=1e-5)
    assert w[0] > w[1]  # the confident sample weighs more


def test_adaptation_losses_act_on_unlabelled_samples_only():
    from types import SimpleNamespace

    logp = torch.log_softmax(torch.randn(6, 7), 1)
    y = torch.tensor([1, 2, 3, -1, -1, -1])
    cfg = SimpleNamespace(label_smoothing=0.0, mcc_temperature=2.5, adapt_weight=1.0)
    out = SimpleNamespace(class_logp=logp)

    def term(method):
        _, terms = build_objective(method, cfg, MethodOptions()).step(
            None, out, Step(logp, y, torch.zeros(6, dtype=torch.long), lam=1.0))
        return float(terms["adapt_loss"])

    assert term("entropy") == pytest.approx(float(entropy_loss(logp[3:])))
    assert term("im") == pytest.approx(float(im_loss(logp[3:])))
    assert term("mcc") == pytest.approx(float(mcc_loss(logp[3:], 2.5)))
    with pytest.raises(ValueError, match="unknown method"):
        build_objective("nope", cfg, MethodOptions())


@pytest.mark.parametrize("method", ["entropy", "im", "mcc"])
def test_one_step_on_an_adaptation_objective_lowers_its_term(method):
    """Adaptation.step descends the method's term (a negated loss would climb it)."""
    from types import SimpleNamespace

    torch.manual_seed(0)
    model = torch.nn.Linear(10, 7)  # a classifier on fixed features, far from uniform
    with torch.no_grad():
        model.weight.mul_(4.0)
    z = torch.randn(8, 10)
    y = torch.full((8,), -1)  # unlabelled: L_CLF contributes nothing
    dom = torch.tensor([1] * 8)
    cfg = SimpleNamespace(label_smoothing=0.0, mcc_temperature=2.5, adapt_weight=1.0,
                          adversarial_weight=1.0)
    objective = build_objective(method, cfg, MethodOptions())
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
    before = []
    for _ in range(2):
        out = SimpleNamespace(class_logp=torch.log_softmax(model(z), 1))
        loss, terms = objective.step(model, out, Step(z, y, dom, lam=1.0))
        before.append(float(terms["adapt_loss"]))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert before[1] < before[0]


def test_cdan_model_conditions_the_domain_head_on_predictions():
    model = FERNet(ModelConfig(n_domains=2, tap_dim=8, hidden=8,
                               domain_conditioning="multilinear"))
    assert model.domain_head[0].in_features == 48 * 7  # 6 taps x 8, times 7 classes
    out = model(torch.randint(0, 255, (4, 1, 32, 32), dtype=torch.uint8))
    assert out.domain_logp.shape == (4, 2) and out.features.shape == (4, 48)
    # the domain head reads the outer product p (x) f, row k of it = p_k * f
    want = (out.class_logp.exp()[:, :, None] * out.features[:, None, :]).flatten(1)
    torch.testing.assert_close(out.domain_in, want)
    # p is detached: the domain game does not train the label classifier through it
    model.zero_grad(set_to_none=True)
    out.domain_in.sum().backward()
    assert all(p.grad is None for p in model.label_head.parameters())
    assert next(model.densify.parameters()).grad is not None  # f is not detached


def test_augmentation_is_seeded_and_off_when_disabled():
    x = torch.randint(0, 255, (8, 1, 24, 24), dtype=torch.uint8)
    cfg = AugmentConfig()
    a = augment(x, cfg, torch.Generator().manual_seed(1))
    b = augment(x, cfg, torch.Generator().manual_seed(1))
    c = augment(x, cfg, torch.Generator().manual_seed(2))
    assert a.shape == (8, 1, 24, 24) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= 0 and a.max() <= 255
    off = augment(x, AugmentConfig(enabled=False), torch.Generator())
    assert torch.equal(off, x.float())
    only_flip = AugmentConfig(rotate=0, translate=0, scale=0, brightness=0, contrast=0, gamma=0)
    flipped = augment(x, only_flip, torch.Generator().manual_seed(0))
    for img, out in zip(x.float(), flipped, strict=True):  # each image: itself or its mirror
        assert (torch.allclose(out, img, atol=1e-3)
                or torch.allclose(out, img.flip(-1), atol=1e-3))
    erased = augment(x, AugmentConfig(rotate=0, translate=0, scale=0, brightness=0, contrast=0,
                                      gamma=0, flip=False, erase=1.0), torch.Generator())
    assert (erased != x.float()).any(dim=(1, 2, 3)).all()  # every image lost a rectangle


def test_learning_rate_schedule():
    assert lr_factor(0, 100, "constant") == 1.0
    assert lr_factor(0, 100, "cosine", warmup=0.1) == pytest.approx(0.1)
    assert lr_factor(9, 100, "cosine", warmup=0.1) == pytest.approx(1.0)
    assert lr_factor(10, 100, "cosine", warmup=0.1) == pytest.approx(1.0)
    assert lr_factor(55, 100, "cosine", warmup=0.1) == pytest.approx(0.5)
    assert lr_factor(100, 100, "cosine") == pytest.approx(0.0, abs=1e-12)


def test_dann_methods_and_clamps_are_planned_as_a_sweep():
    plans = plan_runs({"kind": "dann", "clamps": [1.0, 3.0], "methods": ["dann", "cdan_e",
                                                                          "mcc", "im"]},
                      DOMAINS, {})
    assert [(p["run"], p["method"], p["clamp"]) for p in plans] == [
        ("clamp1", "dann", 1.0), ("clamp3", "dann", 3.0), ("cdan_e_clamp1", "cdan_e", 1.0),
        ("cdan_e_clamp3", "cdan_e", 3.0), ("mcc", "mcc", None), ("im", "im", None)]
    with pytest.raises(ValueError, match=r"dann.setup.methods\[\] must be one of"):
        plan_runs({"kind": "dann", "methods": ["grl"]}, DOMAINS, {})


def _plan(face_sets, **config):
    cfg = TrainConfig(**{"epochs": 3, "batch_size": 4, "device": "cpu", "tap_dim": 8,
                         "hidden": 8, **config})
    return RunPlan(setup="dann", run="r", seed=0, mode="dann", train_domains=("src", "tgt"),
                   labelled_domains=("src",), all_domains=("src", "tgt"), clamp=3.0,
                   config=cfg)


def test_source_epochs_give_dann_the_baselines_labelled_budget(face_sets):
    sizes = [24, 96]  # a large target
    long = _plan(face_sets)
    matched = _plan(face_sets, length="source_epochs")
    assert steps_per_epoch(long, sizes, [True, False]) == 24  # the target sets the epoch
    assert steps_per_epoch(matched, sizes, [True, False]) == 6  # = a source-only epoch
    base = RunPlan(setup="baseline", run="src", seed=0, mode="supervised",
                   train_domains=("src",), labelled_domains=("src",), all_domains=("src",),
                   config=matched.config)
    assert steps_per_epoch(base, [24], [True]) == 6


@pytest.mark.parametrize("method", ["cdan_e", "mcc", "im"])
def test_each_method_trains_end_to_end(face_sets, method):
    plan = _plan(face_sets, augment={}, schedule="cosine", warmup=0.1, label_smoothing=0.1)
    plan = RunPlan(**{**plan.__dict__, "method": method,
                      "clamp": 3.0 if method == "cdan_e" else None})
    data = training_view(face_sets, plan.train_domains, plan.labelled_domains)
    trained = train_run(plan, data, 7)
    assert len(trained.history) == 3
    key = "dmn_loss" if method == "cdan_e" else "adapt_loss"
    assert all(np.isfinite(h[key]) for h in trained.history)


def test_best_epoch_is_kept_by_source_validation(face_sets, tmp_path):
    plan = _plan(face_sets, select="source_val", epochs=4)
    data = training_view(face_sets, plan.train_domains, plan.labelled_domains)
    assert data[0].val_images is not None and data[1].val_images is None  # target: no labels
    states = {}

    class Capture(CheckpointStore):  # every epoch's weights, as the loop saves them
        def save(self, run_id, state):
            states[state["epoch"]] = {k: v.clone() for k, v in state["model"].items()}

    trained = train_run(plan, data, 7, Capture(tmp_path))
    scores = [h["select_score"] for h in trained.history]
    best = int(np.argmax(scores)) + 1
    assert len(set(scores)) > 1 and all(0 <= x <= 1 for x in scores)  # accuracies that move
    assert trained.provenance["selected_by"] == "source_val"
    assert trained.provenance["selected_epoch"] == best
    # the kept weights are the selected epoch's, not the last epoch's
    assert best != len(scores)  # this case is built so that the last epoch is not the best
    assert all(torch.equal(trained.state[k], states[best][k]) for k in trained.state)
    assert not all(torch.equal(trained.state[k], states[len(scores)][k])
                   for k in trained.state)
    entropy = train_run(_plan(face_sets, select="target_entropy"), data, 7)
    assert all(h["select_score"] <= 0 for h in entropy.history)  # a negated entropy


def test_flip_test_time_averaging():
    from fer_da.training.evaluate import flip_average, predict

    a = torch.log(torch.tensor([[0.5, 0.5], [0.9, 0.1]]))
    b = torch.log(torch.tensor([[0.7, 0.3], [0.1, 0.9]]))
    assert torch.allclose(flip_average(a, b).exp(), torch.tensor([[0.6, 0.4], [0.5, 0.5]]))
    torch.manual_seed(0)
    model = FERNet(ModelConfig(backbone="vgg11_slim", n_classes=3, n_domains=2, tap_dim=8,
                               hidden=8))
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (5, 32, 32), dtype=np.uint8)
    plain, _, feats = predict(model, images, "cpu")
    mirrored, _, _ = predict(model, np.ascontiguousarray(images[:, :, ::-1]), "cpu")
    tta, _, tta_feats = predict(model, images, "cpu", tta="flip")
    want = np.log((np.exp(plain) + np.exp(mirrored)) / 2)
    np.testing.assert_allclose(tta, want, atol=1e-5)
    np.testing.assert_array_equal(tta_feats, feats)  # features stay the image's own
    symmetric = np.concatenate([images[:, :, :16], images[:, :, :16][:, :, ::-1]], axis=2)
    s_plain, _, _ = predict(model, symmetric, "cpu")
    s_tta, _, _ = predict(model, symmetric, "cpu", tta="flip")
    np.testing.assert_allclose(s_tta, s_plain, atol=1e-5)
    assert math.isclose(float(np.exp(tta).sum(1).mean()), 1.0, rel_tol=1e-5)
    with pytest.raises(ValueError, match="evaluation.tta"):
        predict(model, images, "cpu", tta="ten_crop")
