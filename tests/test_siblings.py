"""The sibling papers' methods (jm, atf, ed2l, sna): losses against hand-computed values,
the ATF/JM gradient signs, class-balanced batches, the autoencoder, and the four setups end
to end on tiny tensors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from fer_da.methods.base import Step
from fer_da.methods.build import build_objective, model_config_for
from fer_da.methods.ed2l import uniform_target_loss
from fer_da.methods.options import MethodOptions
from fer_da.methods.sna import focal_loss, neighbour_mask, symmetric_kl
from fer_da.models import FERNet, ModelConfig
from fer_da.models.autoencoder import (
    AsymmetricAutoencoder,
    ResBlock,
    fit_autoencoder,
    multiscale_loss,
    neighbour_maker,
)
from fer_da.models.fer_net import ModelOutput
from fer_da.models.heads import AMSoftmax, am_softmax_loss
from fer_da.pipelines.training.pipeline import setup_pipeline
from fer_da.training.batching import class_balanced_epoch
from fer_da.training.checkpoints import CheckpointStore
from fer_da.training.config import TrainConfig
from fer_da.training.plans import plan_runs
from fer_da.validate import ConfigError
from tests.conftest import make_face_sets


def test_am_softmax_logits_and_loss_by_hand():
    head = AMSoftmax(2, 2, scale=4.0)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[2.0, 0.0], [0.0, 5.0]]))  # normalised inside
    logits = head(torch.tensor([[3.0, 0.0], [1.0, 1.0]]))
    c = 4.0 / math.sqrt(2)
    assert torch.allclose(logits, torch.tensor([[4.0, 0.0], [c, c]]), atol=1e-6)
    # eq. 2 with m = 0.35: the true class gets s (cos - m) = 4 - 1.4 = 2.6
    loss = am_softmax_loss(logits[:1], torch.tensor([0]), 4.0, 0.35)
    assert loss.item() == pytest.approx(math.log1p(math.exp(-2.6)), rel=1e-5)
    # second sample, label 1: logits (c, c - 1.4) -> -log softmax = log(1 + e^{1.4})
    loss = am_softmax_loss(logits[1:], torch.tensor([1]), 4.0, 0.35)
    assert loss.item() == pytest.approx(math.log1p(math.exp(1.4)), rel=1e-5)
    # unlabelled rows are ignored
    both = am_softmax_loss(logits, torch.tensor([0, -1]), 4.0, 0.35)
    assert both.item() == pytest.approx(math.log1p(math.exp(-2.6)), rel=1e-5)


def test_uniform_target_loss_by_hand():
    assert uniform_target_loss(torch.zeros(1, 2)).item() == pytest.approx(math.log(2))
    # p = (3/4, 1/4): -(log 3/4 + log 1/4) / 2
    value = uniform_target_loss(torch.tensor([[math.log(3.0), 0.0]])).item()
    assert value == pytest.approx(-(math.log(0.75) + math.log(0.25)) / 2, rel=1e-6)
    assert value > math.log(2)  # the uniform prediction is the minimum


def test_focal_loss_by_hand():
    logp = torch.log(torch.tensor([[0.5, 0.5], [0.9, 0.1]]))
    got = focal_loss(logp, torch.tensor([0, 1]), gamma=2.0)
    want = [0.25 * math.log(2), 0.81 * -math.log(0.1)]
    assert got.tolist() == pytest.approx(want, rel=1e-5)
    assert focal_loss(logp, torch.tensor([0, -1])).tolist()[1] == 0.0  # unlabelled
    # gamma 0 is cross-entropy
    assert focal_loss(logp, torch.tensor([0, 1]), 0.0).tolist() == pytest.approx(
        [math.log(2), -math.log(0.1)], rel=1e-5)


def test_symmetric_kl_and_batch_mask_by_hand():
    p = torch.log(torch.tensor([[0.5, 0.5], [0.5, 0.5], [0.9, 0.1]]))
    q = torch.log(torch.tensor([[0.5, 0.5], [0.9, 0.1], [0.9, 0.1]]))
    div = symmetric_kl(p, q)
    d = 0.5 * (0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)
               + 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5))
    assert div.tolist() == pytest.approx([0.0, d, 0.0], abs=1e-6)
    # threshold = batch mean d/3: the diverging sample is masked, the others kept
    assert neighbour_mask(div).tolist() == [1.0, 0.0, 1.0]


def _cfg(**kw) -> TrainConfig:
    return TrainConfig.from_params({"device": "cpu", **kw})


def _identity_grads(method: str, alpha: float):
    torch.manual_seed(0)
    model = FERNet(ModelConfig(backbone="vgg11_slim", tap_dim=4, hidden=8, n_classes=3,
                               n_domains=1, identities=4))
    features = torch.randn(6, model.feature_dim, requires_grad=True)
    out = ModelOutput(torch.log_softmax(torch.zeros(6, 3), 1), torch.zeros(6, 1), features)
    objective = build_objective(method, _cfg(), MethodOptions(alpha=alpha))
    batch = Step(torch.zeros(6, 1, 8, 8), torch.zeros(6, dtype=torch.long),
                 torch.zeros(6, dtype=torch.long), torch.tensor([0, 1, 2, 3, 0, -1]))
    loss, terms = objective.step(model, out, batch)
    loss.backward()
    head = model.identity_head[0].weight.grad.clone()
    return features.grad.clone(), head, terms


def test_atf_feature_gradient_of_the_identity_loss_is_the_opposite_of_jm():
    g_jm, head_jm, terms = _identity_grads("jm", 0.3)
    g_atf, head_atf, _ = _identity_grads("atf", 0.3)
    assert g_jm.abs().sum() > 0  # the classification loss is constant: only L_ID flows
    assert torch.allclose(g_atf, -g_jm, atol=1e-7)
    # the identity head always minimises L_ID: JM weighs it by alpha, ATF by 1 (eq. 5)
    assert torch.allclose(head_jm, 0.3 * head_atf, atol=1e-7)
    assert 0.0 <= float(terms["id_acc"]) <= 1.0


@pytest.mark.parametrize("method", ["jm", "atf"])
def test_identity_accuracy_counts_subject_zero_and_skips_unknown(method):
    """A head that always answers identity 0: right for the two faces of subject 0 among the
    five known ones; the unknown face (-1) is not counted."""
    model = FERNet(ModelConfig(backbone="vgg11_slim", tap_dim=4, hidden=8, n_classes=3,
                               n_domains=1, identities=4))
    last = model.identity_head[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor([5.0, 0.0, 0.0, 0.0]))
    features = torch.randn(6, model.feature_dim)
    out = ModelOutput(torch.log_softmax(torch.zeros(6, 3), 1), torch.zeros(6, 1), features)
    batch = Step(torch.zeros(6, 1, 8, 8), torch.zeros(6, dtype=torch.long),
                 torch.zeros(6, dtype=torch.long), torch.tensor([0, 1, 2, 3, 0, -1]))
    _, terms = build_objective(method, _cfg(), MethodOptions()).step(model, out, batch)
    assert float(terms["id_acc"]) == pytest.approx(2 / 5)


@pytest.mark.parametrize("branch", ["fc", "conv"])
def test_ed2l_dispeller_and_branch_get_their_own_gradients(branch):
    torch.manual_seed(0)
    model = FERNet(ModelConfig(backbone="vgg11_slim", tap_dim=4, hidden=8, n_classes=3,
                               n_domains=1, label_head="am_softmax", dispelling=True,
                               branch=branch))
    x = torch.rand(4, 1, 32, 32) * 255
    out = model(x)
    assert torch.allclose(out.class_logp.exp().sum(1), torch.ones(4), atol=1e-5)
    objective = build_objective("ed2l", _cfg(), MethodOptions(lambda_t=0.0, lambda_p=1.0))
    labels = torch.tensor([0, 1, 2, 0])
    first = next(model.dispelling_head.branch.parameters())
    # l_a alone: trains the dispeller, not the branch (detached features)
    _, frozen = model.dispelling_head(out.shared)
    trained, _ = model.dispelling_head(out.shared)
    torch.nn.functional.cross_entropy(trained, labels).backward(retain_graph=True)
    assert model.dispelling_head.dispeller.weight.grad.abs().sum() > 0
    assert first.grad is None
    model.zero_grad(set_to_none=True)
    # l_p alone: trains the branch (and the base), not the dispeller
    uniform_target_loss(frozen).backward()
    assert model.dispelling_head.dispeller.weight.grad is None
    assert first.grad.abs().sum() > 0
    model.zero_grad(set_to_none=True)
    out = model(x)
    loss, terms = objective.step(model, out, Step(x, labels, torch.zeros(4, dtype=torch.long)))
    want = float((terms["dispel_ce"] + terms["uniform_loss"]).detach())
    assert loss.item() == pytest.approx(want, rel=1e-5)
    # each logged term by hand (one unknown label, -1, is left out of l_a and the accuracy)
    partly = torch.tensor([0, 1, -1, 0])
    model.eval()  # no dropout: the same forward for the check
    out = model(x)
    loss, terms = build_objective("ed2l", _cfg(), MethodOptions(
        lambda_t=0.5, lambda_p=2.0)).step(model, out, Step(x, partly, torch.zeros(4).long()))
    trained, frozen = model.dispelling_head(out.shared)
    known = partly >= 0
    l_a = torch.nn.functional.cross_entropy(trained[known], partly[known])
    l_p = -torch.log_softmax(frozen, 1).mean()
    l_t = am_softmax_loss(out.class_logits, partly, 30.0, 0.35)
    acc = (trained.argmax(1)[known] == partly[known]).float().mean()
    assert float(terms["dispel_ce"]) == pytest.approx(float(l_a), rel=1e-5)
    assert float(terms["uniform_loss"]) == pytest.approx(float(l_p), rel=1e-5)
    assert float(terms["clf_loss"]) == pytest.approx(float(l_t), rel=1e-5)
    assert float(terms["dispel_acc"]) == pytest.approx(float(acc))
    assert float(loss) == pytest.approx(float(0.5 * l_t + 2.0 * (l_a + l_p)), rel=1e-5)


def test_ed2l_conv_branches_follow_table_1_on_the_shared_map():
    torch.manual_seed(0)
    model = FERNet(ModelConfig(backbone="vgg11_slim_bn", tap_dim=4, hidden=16, n_classes=3,
                               n_domains=2, label_head="am_softmax", dispelling=True,
                               branch="conv"))
    model.eval()
    x = torch.rand(2, 1, 64, 64) * 255
    out = model(x)
    taps = model.taps(x)
    assert torch.equal(out.shared, taps[3])  # the fourth conv stage's map (64 ch, 4 x 4)
    assert out.shared.shape == (2, 64, 4, 4)
    assert out.features.shape == (2, 16) and model.feature_dim == 16  # f_t: FC-hidden
    for head in (model.label_head.branch, model.dispelling_head.branch):
        down = head.down[0]
        assert (down.stride, down.kernel_size, down.out_channels) == ((2, 2), (3, 3), 128)
        assert [(m.kernel_size, m.stride) for m in head.residual.modules()
                if isinstance(m, torch.nn.Conv2d)] == [((3, 3), (1, 1))] * 2
    # the distilling branch's output is the features the margin classifier reads
    want = model.label_head.classifier(model.label_head.branch(taps[3]))
    assert torch.allclose(out.class_logits, want, atol=1e-5)
    # the residual unit adds to its input: with its last unit silenced, only the skip remains
    b = model.label_head.branch
    with torch.no_grad():
        b.residual[1][1].weight.zero_()
        b.residual[1][1].bias.zero_()
        skip_only = b.fc(torch.flatten(b.pool(b.down(taps[3])), 1))
    assert torch.allclose(b(taps[3]), skip_only, atol=1e-5)
    assert not torch.allclose(b(taps[3]), b.fc(torch.flatten(b.pool(
        torch.zeros_like(b.down(taps[3]))), 1)))
    # each branch's loss alone trains the base net (Fig. 2's red and purple routes); the
    # paper's ED²L has no F: the densified taps learn nothing from it
    model.train()
    for options in (MethodOptions(lambda_t=1.0, lambda_p=0.0),
                    MethodOptions(lambda_t=0.0, lambda_p=1.0)):
        model.zero_grad(set_to_none=True)
        out = model(x)
        loss, _ = build_objective("ed2l", _cfg(), options).step(
            model, out, Step(x, torch.tensor([0, 1]), torch.zeros(2, dtype=torch.long)))
        loss.backward()
        assert all(p.grad is None for p in model.densify.parameters())
        assert next(model.backbone.parameters()).grad.abs().sum() > 0


def test_ed2l_branch_option_is_checked_and_saved_with_the_model():
    with pytest.raises(ConfigError, match="ed2l.branch must be conv or fc"):
        MethodOptions.from_params({"branch": "deep"}, "ed2l")
    config = model_config_for("ed2l", ModelConfig(), MethodOptions())
    assert config.branch == "conv"  # the paper's, by default
    with pytest.raises(ValueError, match="label_head"):
        FERNet(ModelConfig(branch="conv"))


def _sna_case():
    torch.manual_seed(0)
    model = FERNet(ModelConfig(backbone="vgg11_slim_bn", tap_dim=4, hidden=8, n_classes=3,
                               n_domains=1))
    x = torch.rand(4, 1, 32, 32) * 255
    flip = torch.tensor([1.0, 0.0, 0.0, 0.0]).view(4, 1, 1, 1)
    # the neighbour of sample 0 is its inverted image: its Div > 0 is above the batch mean
    # (Div / 4); samples 1-3 are their own neighbours (Div 0 < mean): kept
    objective = build_objective("sna", _cfg(), MethodOptions(gamma=0.0),
                                neighbours=lambda v: v * (1 - flip) + (255 - v) * flip)
    return model, x, objective, torch.tensor([0, 1, 2, 0])


def test_sna_masked_samples_contribute_no_gradient():
    """Per-sample gradients (eval mode, so batch norm couples no samples): the sample whose
    neighbour diverges sends nothing; the loss is the kept samples' plain NLL / B
    (gamma 0), computed here without the code under test."""
    model, x, objective, labels = _sna_case()
    model.eval()
    x = x.requires_grad_(True)
    out = model(x)
    loss, terms = objective.step(model, out, Step(x, labels, torch.zeros(4, dtype=torch.long)))
    loss.backward()
    assert torch.all(x.grad[0] == 0)
    assert all(float(x.grad[i].abs().sum()) > 0 for i in (1, 2, 3))
    nll = -out.class_logp.detach()[torch.arange(4), labels]
    assert loss.item() == pytest.approx(float(nll[1:].sum() / 4), rel=1e-5)
    assert float(terms["masked"]) == pytest.approx(0.25)


def test_sna_neighbour_pass_leaves_batch_norm_statistics_untouched():
    model, x, objective, labels = _sna_case()
    model.train()
    out = model(x)  # the real faces' pass: this one may move the statistics
    before = {k: v.clone() for k, v in model.state_dict().items()
              if "running" in k or "num_batches" in k}
    assert before
    loss, _ = objective.step(model, out, Step(x, labels, torch.zeros(4, dtype=torch.long)))
    after = model.state_dict()
    for key, value in before.items():
        assert torch.equal(after[key], value), key
    loss.backward()  # the restored buffers do not break the main pass's backward


def test_class_balanced_batches():
    labels = np.array([0] * 50 + [1] * 5 + [2] * 9)
    rng = np.random.default_rng(0)
    epoch = class_balanced_epoch(labels, 9, rng)
    assert len(epoch) == math.ceil(64 / 9)  # as many steps as a shuffled epoch
    for batch in epoch:
        counts = np.bincount(labels[batch], minlength=3)
        assert len(batch) == 9 and counts.tolist() == [3, 3, 3]
    uneven = class_balanced_epoch(labels, 10, rng)
    assert all(np.bincount(labels[b], minlength=3).max() - np.bincount(
        labels[b], minlength=3).min() <= 1 for b in uneven)
    assert set(np.concatenate(epoch)) >= set(np.flatnonzero(labels == 1))  # minority cycled


@pytest.mark.parametrize("kind", ["asymmetric", "conv"])
def test_autoencoder_learns_deterministically_and_perturbs(kind):
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 1, 48)[None, :] * np.ones((48, 1))
    faces = np.stack([np.clip(60 + 120 * a * ramp + b, 0, 255)
                      for a, b in rng.uniform(0, 1, (64, 2)) * [1, 60]]).astype(np.uint8)
    cpu = torch.device("cpu")
    a, std_a = fit_autoencoder(faces, 8, 15, seed=1, device=cpu, batch_size=16, kind=kind)
    b, std_b = fit_autoencoder(faces, 8, 15, seed=1, device=cpu, batch_size=16, kind=kind)
    assert std_a == std_b and all(torch.equal(a[k], b[k]) for k in a)
    untrained, std_u = fit_autoencoder(faces, 8, 0, seed=1, device=cpu, kind=kind)
    x = torch.from_numpy(faces[:8]).unsqueeze(1).float()

    def recon(state, std, noise=0.0):
        return neighbour_maker(state, std, noise, cpu, torch.Generator().manual_seed(0))(x)

    still = recon(a, std_a)
    assert still.shape == x.shape and float(still.min()) >= 0 and float(still.max()) <= 255
    assert float((still - x).abs().mean()) < 0.7 * float((recon(untrained, std_u) - x).abs(
    ).mean())  # it learned to reconstruct
    moved = recon(a, std_a, 1.0)
    assert float((moved - still).abs().mean()) > 0.1  # the perturbation changes the face


def test_asymmetric_autoencoder_follows_table_1_and_eq_4():
    torch.manual_seed(0)
    model = AsymmetricAutoencoder(latent=64).eval()
    x = torch.rand(2, 1, 48, 48) * 255
    targets, recons = model.scales(x)
    shapes = [(1, 48), (16, 24), (32, 12), (64, 6), (80, 3)]  # Table I at 48 px
    assert [(t.shape[1], t.shape[-1]) for t in targets] == shapes
    assert [(r.shape[1], r.shape[-1]) for r in recons] == shapes
    assert model.code.out_features == 64
    assert [sum(isinstance(m, ResBlock) for m in b.modules()) for b in model.up] == [2] * 4
    # eq. 4 by hand: alpha_0 = 4 on the input, 1 on every other scale, each a mean square
    t = [torch.full((1, 1, 2, 2), 1.0), torch.zeros(1, 3, 1, 1, requires_grad=True)]
    r = [torch.full((1, 1, 2, 2), 0.5, requires_grad=True), torch.full((1, 3, 1, 1), 2.0,
                                                                        requires_grad=True)]
    loss = multiscale_loss(t, r, (4.0, 1.0))
    assert loss.item() == pytest.approx(4 * 0.25 + 4.0)
    loss.backward()
    assert t[1].grad is None  # the encoder's features are targets: not pulled towards D
    assert r[1].grad is not None and float(r[1].grad.abs().sum()) > 0
    # a residual block adds its input: silenced body -> relu(x)
    block = ResBlock(3).eval()
    with torch.no_grad():
        block.body[-1].weight.zero_()
        block.body[-1].bias.zero_()
    h = torch.randn(1, 3, 4, 4)
    torch.testing.assert_close(block(h), torch.relu(h))


DOMAINS = {"src": {"layout": "jaffe", "role": "source"},
           "tgt": {"layout": "jaffe", "role": "target"}}
TRAINING = {"epochs": 2, "batch_size": 7, "backbone": "vgg11_slim_bn", "device": "cpu",
            "tap_dim": 8, "hidden": 8, "seeds": [0]}


def test_method_options_are_validated_with_the_key():
    with pytest.raises(ConfigError, match="jm.setup.options"):
        plan_runs({"kind": "jm", "options": {"alpah": 1}}, DOMAINS, TRAINING)
    with pytest.raises(ConfigError, match="ed2l.setup.options.margin"):
        plan_runs({"kind": "ed2l", "options": {"margin": "big"}}, DOMAINS, TRAINING)
    plans = plan_runs({"kind": "atf", "options": {"alpha": 0.5}}, DOMAINS, TRAINING)
    assert [(p["run_id"], p["method"], p["options"]["alpha"], p["labelled_domains"])
            for p in plans] == [("atf/src/seed0", "atf", 0.5, ("src",))]


INT_OPTIONS = ("latent", "ae_epochs", "characters")
FLOAT_OPTIONS = ("alpha", "margin", "scale", "lambda_t", "lambda_p", "gamma", "noise",
                 "l1_weight", "gan_lr", "beta1", "human_dropout")


@pytest.mark.parametrize("key", INT_OPTIONS + FLOAT_OPTIONS)
def test_each_numeric_option_is_checked_by_its_own_key(key):
    """Every numeric option rejects text and negative values naming the full key, and keeps
    a valid value as its type (an integer weight becomes a float)."""
    for bad in ("many", -1):
        with pytest.raises(ConfigError, match=rf"m\.options\.{key}\b"):
            MethodOptions.from_params({key: bad}, "m.options")
    good = MethodOptions.from_params({key: 2 if key in INT_OPTIONS else 1}, "m.options")
    assert getattr(good, key) == (2 if key in INT_OPTIONS else 1.0)
    assert type(getattr(good, key)) is (int if key in INT_OPTIONS else float)
    if key in INT_OPTIONS:  # counts start at one
        with pytest.raises(ConfigError, match=rf"m\.options\.{key}\b"):
            MethodOptions.from_params({key: 0}, "m.options")


@pytest.mark.parametrize("key,allowed", [("generator", ("asymmetric", "conv")),
                                         ("branch", ("conv", "fc"))])
def test_each_choice_option_names_its_key_and_choices(key, allowed):
    with pytest.raises(ConfigError, match=rf"m\.options\.{key} must be {allowed[0]} or "
                       rf"{allowed[1]}, got 'big'"):
        MethodOptions.from_params({key: "big"}, "m.options")
    for value in allowed:
        assert getattr(MethodOptions.from_params({key: value}, "m.options"), key) == value
    with pytest.raises(ConfigError, match=r"m\.options\.human_dropout"):
        MethodOptions.from_params({"human_dropout": 1.5}, "m.options")  # a share: at most 1


def test_sibling_setups_run_end_to_end(tmp_path):
    face_sets = make_face_sets(("src", "tgt"), per_label=4, size=32)
    setups = ("jm", "atf", "ed2l", "sna")
    pipe = sum((setup_pipeline(s, with_autoencoder=s == "sna") for s in setups),
               setup_pipeline("baseline"))
    data = {"face_sets": face_sets, "params:domains": DOMAINS, "params:training": TRAINING,
            "params:labels": {"keep_contempt": False},
            "params:evaluation": {"splits": ["val"]}, "params:inference": {}, "params:job": {},
            "params:preprocessing": {"detector": {"backend": "none"}},
            "params:baseline.setup": {"kind": "baseline"},
            **{f"params:{s}.setup": {"kind": s} for s in setups}}
    data["params:sna.setup"]["options"] = {"ae_epochs": 1, "latent": 4}
    for setup in ("baseline", *setups):
        data[f"{setup}.checkpoints"] = CheckpointStore(tmp_path / setup)
    catalog = DataCatalog({k: MemoryDataset(v, copy_mode="assign") for k, v in data.items()})
    for setup in ("baseline", *setups):
        for name in ("models", "history", "metrics", "predictions"):
            catalog[f"{setup}.{name}"] = MemoryDataset(copy_mode="assign")
    SequentialRunner().run(pipe, catalog)
    baseline: pd.DataFrame = catalog["baseline.metrics"].load()
    for setup in setups:
        metrics: pd.DataFrame = catalog[f"{setup}.metrics"].load()
        assert list(metrics.columns) == list(baseline.columns)
        assert len(metrics) == 2 and (metrics["n"] == 7).all()
        assert metrics["accuracy"].between(0, 1).all()
        assert set(metrics["run_id"]) == {f"{setup}/src/seed0"}
    history = {s: catalog[f"{s}.history"].load() for s in setups}
    assert history["jm"]["id_acc"].between(0, 1).all() and len(history["jm"]) == 2
    assert history["atf"]["id_loss"].notna().all()
    assert history["sna"]["masked"].between(0, 1).all()
    assert history["ed2l"]["dispel_acc"].between(0, 1).all()
    preds = catalog["ed2l.predictions"].load()  # the distilling branch predicts
    assert len(preds) == 2 * 7 and preds["pred_idx"].between(0, 6).all()


def test_identity_methods_name_the_domain_without_subjects(tmp_path):
    face_sets = make_face_sets(("src", "tgt"), per_label=3, size=32)
    face_sets["src"].table["subject"] = ""
    data = {"face_sets": face_sets, "params:domains": DOMAINS, "params:training": TRAINING,
            "params:labels": {"keep_contempt": False}, "params:evaluation": {"splits": ["val"]},
            "params:inference": {}, "params:job": {}, "params:preprocessing": {},
            "params:jm.setup": {"kind": "jm"}, "jm.checkpoints": CheckpointStore(tmp_path)}
    catalog = DataCatalog({k: MemoryDataset(v, copy_mode="assign") for k, v in data.items()})
    with pytest.raises(ValueError, match=r"subject ids in the labelled domains \['src'\]"):
        SequentialRunner().run(setup_pipeline("jm"), catalog)


def test_subject_ids_are_per_domain_and_labelled_only():
    from fer_da.training.data import DomainData
    from fer_da.training.loop import subject_ids

    img = np.zeros((3, 8, 8), np.uint8)
    data = [DomainData("a", img, np.zeros(3, np.int64), subjects=np.array(["s1", "s2", ""])),
            DomainData("b", img, np.zeros(3, np.int64), subjects=np.array(["s1", "s1", "s3"])),
            DomainData("c", img, None)]
    ids, n = subject_ids(data, torch.device("cpu"), "jm/a+b/seed0")
    assert n == 4  # a/s1, a/s2, b/s1, b/s3: the same name in two datasets is two people
    assert [t.tolist() for t in ids] == [[0, 1, -1], [2, 2, 3], [-1, -1, -1]]
