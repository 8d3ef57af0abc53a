"""Each comparison against the control that isolates it (issue 37): tests that catch the
defects a review planted by hand — λ applied twice to the features' gradient, another
augmentation stream for ``erm_mixed``, an entropy term leaking into ``erm_mixed``, the
collapse detector run for ``dann`` alone, the domain accuracy read with dropout on."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from fer_da.methods.base import Step
from fer_da.methods.build import build_objective
from fer_da.methods.options import MethodOptions
from fer_da.models import FERNet, ModelConfig
from fer_da.training.config import RunPlan, TrainConfig
from fer_da.training.data import training_view
from fer_da.training.loop import train_run

RECIPE = TrainConfig(epochs=2, batch_size=4, lr=1e-3, backbone="vgg11_slim_bn", device="cpu",
                     tap_dim=8, hidden=8, augment={}, domain_hidden=(16,),
                     domain_dropout=0.5, weight_decay=1e-3, schedule="cosine", warmup=0.2,
                     label_smoothing=0.1, select="source_val")


def _plan(method: str, config: TrainConfig = RECIPE, clamp: float | None = 3.0) -> RunPlan:
    return RunPlan(setup="dann", run=method, seed=0, mode="dann", method=method,
                   train_domains=("src", "tgt"), labelled_domains=("src",),
                   all_domains=("src", "tgt"), clamp=clamp, config=config)


def test_with_no_adversarial_weight_dann_is_erm_mixed_bit_for_bit(face_sets):
    """The real-face recipe (augmentation, dropout in the domain head, weight decay, cosine
    with warm-up, label smoothing, source-validation selection) and adversarial_weight 0:
    every weight outside the domain head equals the control's, bit for bit. Any other
    batch, augmentation draw, loss term or schedule in erm_mixed breaks it."""
    config = TrainConfig(**{**RECIPE.__dict__, "adversarial_weight": 0.0})
    data = training_view(face_sets, ("src", "tgt"), ("src",))
    dann = train_run(_plan("dann", config), data, 7)
    control = train_run(_plan("erm_mixed", config, clamp=None), data, 7)
    shared = [k for k in dann.state if not k.startswith("domain_head.")]
    assert shared and len(shared) < len(dann.state)
    for key in shared:
        assert torch.equal(dann.state[key], control.state[key]), key
    assert dann.provenance["selected_epoch"] == control.provenance["selected_epoch"]
    moved = [k for k in dann.state if k.startswith("domain_head.")
             and not torch.equal(dann.state[k], control.state[k])]
    assert moved  # the domain head trained in dann (weight decay alone in the control)


def test_the_features_receive_minus_lambda_times_the_domain_gradient_once():
    """dL/dfeatures of the game = -(λ·w) · d(L_dmn)/dfeatures: λ applied once."""
    torch.manual_seed(0)
    model = FERNet(ModelConfig(backbone="vgg11_slim_bn", n_domains=2, tap_dim=8, hidden=8,
                               domain_hidden=(16,)))
    x = torch.randint(0, 255, (6, 1, 32, 32), dtype=torch.uint8).float()
    dom = torch.tensor([0, 0, 0, 1, 1, 1])
    out = model(x, with_domain=False)
    feats = out.domain_in.detach().requires_grad_(True)
    cfg = SimpleNamespace(label_smoothing=0.0, adversarial_weight=0.5)
    loss, _ = build_objective("dann", cfg, MethodOptions()).step(
        model, out._replace(class_logp=out.class_logp.detach(), domain_in=feats),
        Step(x, torch.full((6,), -1), dom, lam=0.7, limit=None))
    loss.backward()
    ref = feats.detach().clone().requires_grad_(True)
    F.nll_loss(F.log_softmax(model.domain_head(ref), dim=1), dom).backward()
    torch.testing.assert_close(feats.grad, -0.7 * 0.5 * ref.grad, rtol=1e-5, atol=1e-8)


def test_erm_mixed_minimises_the_classification_loss_alone():
    logp = torch.log_softmax(torch.randn(6, 7, generator=torch.Generator().manual_seed(2)), 1)
    y = torch.tensor([1, 2, 3, -1, -1, -1])
    cfg = SimpleNamespace(label_smoothing=0.1, adapt_weight=5.0, mcc_temperature=2.5,
                          adversarial_weight=1.0)
    loss, terms = build_objective("erm_mixed", cfg, MethodOptions()).step(
        None, SimpleNamespace(class_logp=logp), Step(logp, y, torch.zeros(6).long(), lam=0.9))
    smooth = (0.9 * F.nll_loss(logp, y, ignore_index=-1)
              + 0.1 * -(logp[:3].mean(dim=1)).mean())
    assert float(loss) == pytest.approx(float(smooth), rel=1e-6)
    assert set(terms) == {"clf_loss"}


@pytest.mark.parametrize("method, watched", [("dann", True), ("cdan_e", True),
                                             ("confusion", True), ("mcc", False),
                                             ("erm_mixed", False)])
def test_the_collapse_detector_watches_every_adversarial_method(face_sets, method, watched):
    config = TrainConfig(**{**RECIPE.__dict__, "epochs": 1, "select": "last"})
    data = training_view(face_sets, ("src", "tgt"), ("src",))
    history = train_run(_plan(method, config), data, 7).history
    assert ("collapsed" in history[0]) is watched
    assert (history[0]["dmn_acc"] == history[0]["dmn_acc"]) is watched  # NaN without game


def test_the_logged_domain_accuracy_is_read_with_dropout_off():
    torch.manual_seed(0)
    model = FERNet(ModelConfig(backbone="vgg11_slim_bn", n_domains=2, tap_dim=8, hidden=8,
                               domain_hidden=(64,), domain_dropout=0.9)).train()
    x = torch.randint(0, 255, (32, 1, 32, 32), dtype=torch.uint8).float()
    dom = torch.arange(32) % 2
    out = model(x, with_domain=False)
    cfg = SimpleNamespace(label_smoothing=0.0, adversarial_weight=1.0)
    torch.manual_seed(5)
    _, terms = build_objective("dann", cfg, MethodOptions()).step(
        model, out, Step(x, torch.full((32,), -1), dom, lam=1.0, limit=None))
    with torch.no_grad():
        torch.manual_seed(5)  # the game's own pass, dropout on: what a defect would log
        noisy = (model.domain_head(out.domain_in).argmax(1) == dom).float().mean()
        model.domain_head.eval()
        clean = (model.domain_head(out.domain_in).argmax(1) == dom).float().mean()
    assert float(noisy) != float(clean)  # the check can tell them apart
    assert float(terms["dmn_acc"]) == pytest.approx(float(clean))
