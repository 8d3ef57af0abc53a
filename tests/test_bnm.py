"""BNM (methods/bnm.py): the method added in one module and one registry entry."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from fer_da.methods.base import Step
from fer_da.methods.bnm import bnm_loss
from fer_da.methods.build import build_objective
from fer_da.methods.options import MethodOptions
from fer_da.training.config import RunPlan, TrainConfig
from fer_da.training.data import training_view
from fer_da.training.loop import train_run
from fer_da.training.plans import plan_runs


def test_bnm_by_hand_rewards_diverse_confident_predictions():
    one_hot = torch.log(torch.tensor([[1.0, 1e-12], [1e-12, 1.0]]))  # two classes, both used
    collapsed = torch.log(torch.tensor([[1.0, 1e-12], [1.0, 1e-12]]))  # one class for both
    uniform = torch.log(torch.full((2, 2), 0.5))
    # singular values: (1, 1) -> 2 / 2; (sqrt 2, 0) -> sqrt(2) / 2; (1, 0) -> 1 / 2
    assert float(bnm_loss(one_hot)) == pytest.approx(-1.0, abs=1e-6)
    assert float(bnm_loss(collapsed)) == pytest.approx(-math.sqrt(2) / 2, abs=1e-6)
    assert float(bnm_loss(uniform)) == pytest.approx(-0.5, abs=1e-6)
    assert float(bnm_loss(one_hot[:0])) == 0.0


def test_bnm_acts_on_the_unlabelled_samples_and_is_planned_like_any_method(face_sets):
    logp = torch.log_softmax(torch.randn(6, 7, generator=torch.Generator().manual_seed(0)), 1)
    y = torch.tensor([1, 2, 3, -1, -1, -1])
    cfg = SimpleNamespace(label_smoothing=0.0, adapt_weight=2.0)
    loss, terms = build_objective("bnm", cfg, MethodOptions()).step(
        None, SimpleNamespace(class_logp=logp), Step(logp, y, torch.zeros(6).long(), lam=0.5))
    assert float(terms["adapt_loss"]) == pytest.approx(float(bnm_loss(logp[3:])))
    clf = torch.nn.functional.nll_loss(logp, y, ignore_index=-1)
    assert float(loss) == pytest.approx(float(clf + 0.5 * 2.0 * bnm_loss(logp[3:])))
    domains = {"src": {"role": "source", "layout": "folder"},
               "tgt": {"role": "target", "layout": "folder"}}
    plans = plan_runs({"kind": "dann", "methods": ["bnm", "bnm+adabn"]}, domains, {})
    assert [p["run"] for p in plans] == ["bnm", "bnm_adabn", "erm_mixed_adabn"]
    plan = RunPlan(setup="dann", run="bnm", seed=0, mode="dann", method="bnm",
                   train_domains=("src", "tgt"), labelled_domains=("src",),
                   all_domains=("src", "tgt"),
                   config=TrainConfig(epochs=2, batch_size=4, device="cpu", tap_dim=8,
                                      hidden=8))
    data = training_view(face_sets, plan.train_domains, plan.labelled_domains)
    history = train_run(plan, data, 7).history
    assert all(h["adapt_loss"] < 0 for h in history)  # -||A||_* / B, logged every epoch
    assert all(math.isnan(h["dmn_loss"]) for h in history)  # no domain classifier
