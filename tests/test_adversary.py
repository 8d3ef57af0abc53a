"""The domain game (methods/domain_game.py, training/diagnostics.py): who learns from what, the
clamp in both modes, the collapse detector, the erm_mixed control. Each expectation is
computed independently of the code under test (plain autograd on an unreversed head)."""

from __future__ import annotations

import logging
import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fer_da.methods.base import Step
from fer_da.methods.build import build_objective
from fer_da.methods.cdan import cdan_entropy_weights
from fer_da.methods.domain_game import adversarial_loss, diagnostic_logp, domain_terms
from fer_da.methods.options import MethodOptions
from fer_da.models import FERNet, ModelConfig
from fer_da.models.heads import domain_mlp
from fer_da.training import loop
from fer_da.training.config import RunPlan, TrainConfig
from fer_da.training.data import training_view
from fer_da.training.diagnostics import collapse_reason, epoch_diagnostics
from fer_da.training.fit import epoch_means

TINY = TrainConfig(epochs=2, batch_size=4, lr=1e-3, backbone="vgg11_slim_bn", device="cpu",
                   tap_dim=16, hidden=16)


def _head(seed: int = 0, k: int = 3) -> nn.Module:
    torch.manual_seed(seed)
    return domain_mlp(5, (7,), k)


def _inputs(seed: int = 1, b: int = 6, k: int = 3):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(b, 5, generator=g) * 3.0).requires_grad_(True)
    return x, torch.arange(b) % k


def _per_sample(head: nn.Module, x: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """Per-sample NLL of an unreversed copy of the computation (the reference)."""
    return F.nll_loss(F.log_softmax(head(x), dim=1), d, reduction="none")


def _reference_grads(head: nn.Module, x: torch.Tensor, d: torch.Tensor, weights):
    """d(sum_i weights_i * l_i)/d(head params) and /d(x), by plain autograd."""
    x = x.detach().clone().requires_grad_(True)
    head.zero_grad()
    (weights * _per_sample(head, x, d)).sum().backward()
    grads = [p.grad.clone() for p in head.parameters()]
    head.zero_grad()
    return grads, x.grad.clone()


def _play(head, x, d, limit, mode="fixed", adversary="reverse", weights=None):
    """The game's loss backpropagated: (game, head gradients, input gradient)."""
    game = adversarial_loss(head, x, d, limit, mode, adversary, weights)
    head.zero_grad()
    game.loss.backward()
    return game, [p.grad.clone() for p in head.parameters()], x.grad.clone()


def _assert_all_close(got, want):
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b)


def _limit_between(head, x, d) -> float:
    """A limit that some samples exceed and others do not."""
    with torch.no_grad():
        terms = _per_sample(head, x, d)
    ordered = terms.sort().values
    limit = float(ordered[len(ordered) // 2 - 1] + ordered[len(ordered) // 2]) / 2
    assert (terms > limit).any() and (terms <= limit).any()
    return limit


def test_fixed_mode_classifier_learns_from_the_full_loss_and_features_are_bounded():
    head, (x, d) = _head(), _inputs()
    limit = _limit_between(head, x, d)
    with torch.no_grad():
        terms = _per_sample(head, x, d)
    b = len(d)
    full_head, _ = _reference_grads(head, x, d, torch.full((b,), 1.0 / b))
    scale = (limit / terms).clamp(max=1.0)
    _, scaled_x = _reference_grads(head, x, d, scale / b)

    game, head_grads, x_grad = _play(head, x, d, limit, "fixed")
    # a sample above the limit still teaches the classifier: its full, unclamped NLL
    _assert_all_close(head_grads, full_head)
    # the features get the reversed gradient of min(l_i, limit), sample by sample
    torch.testing.assert_close(x_grad, -scaled_x)
    above = terms > limit
    assert torch.equal(game.clamped.bool(), above)
    assert float(game.classifier_loss) == pytest.approx(float(terms.mean()), rel=1e-6)
    assert float(game.feature_loss) == pytest.approx(
        float(torch.minimum(terms, torch.tensor(limit)).mean()), rel=1e-6)
    # below the limit, exactly the unclamped reversed gradient
    _, plain_x = _reference_grads(head, x, d, torch.full((b,), 1.0 / b))
    torch.testing.assert_close(x_grad[~above], -plain_x[~above])
    assert (x_grad[above].norm(dim=1) < plain_x[above].norm(dim=1)).all()


def test_paper_mode_sends_nothing_from_a_sample_above_the_limit():
    head, (x, d) = _head(), _inputs()
    limit = _limit_between(head, x, d)
    with torch.no_grad():
        below = (_per_sample(head, x, d) <= limit).float()
    b = len(d)
    ref_head, ref_x = _reference_grads(head, x, d, below / b)
    game, head_grads, x_grad = _play(head, x, d, limit, "paper")
    _assert_all_close(head_grads, ref_head)
    torch.testing.assert_close(x_grad, -ref_x)
    assert torch.all(x_grad[below == 0] == 0)
    assert float(game.clamped.sum()) == float((1 - below).sum())


def test_confusion_trains_features_towards_a_uniform_prediction_only():
    head, (x, d) = _head(), _inputs()
    b = len(d)
    full_head, _ = _reference_grads(head, x, d, torch.full((b,), 1.0 / b))
    xr = x.detach().clone().requires_grad_(True)
    (-F.log_softmax(head(xr), dim=1).mean(dim=1)).mean().backward()  # unbounded limit
    _, head_grads, x_grad = _play(head, x, d, None, "fixed", "confusion")
    _assert_all_close(head_grads, full_head)  # the classifier: its domain NLL alone
    torch.testing.assert_close(x_grad, xr.grad)  # the features: descend the confusion term
    with pytest.raises(ValueError, match="adversary must be reverse"):
        adversarial_loss(head, x, d, 1.0, "paper", "confusion")


def test_entropy_weights_scale_both_players():
    head, (x, d) = _head(), _inputs()
    w = torch.tensor([0.5, 1.5, 1.0, 2.0, 0.25, 0.75])
    b = len(d)
    ref_head, ref_x = _reference_grads(head, x, d, w / b)
    _, head_grads, x_grad = _play(head, x, d, None, "fixed", weights=w)
    _assert_all_close(head_grads, ref_head)
    torch.testing.assert_close(x_grad, -ref_x)


def test_adaptation_step_is_clf_plus_lambda_times_the_game():
    torch.manual_seed(0)
    model = FERNet(ModelConfig(backbone="vgg11_slim_bn", n_domains=2, tap_dim=8, hidden=8,
                               domain_hidden=(16,)))
    x = torch.randint(0, 255, (6, 1, 32, 32), dtype=torch.uint8).float()
    y = torch.tensor([0, 1, 2, -1, -1, -1])
    dom = torch.tensor([0, 0, 0, 1, 1, 1])
    cfg = SimpleNamespace(label_smoothing=0.0, mcc_temperature=2.5, adapt_weight=3.0,
                          adversarial_weight=0.5)
    out = model(x, with_domain=False)
    loss, terms = build_objective("dann", cfg, MethodOptions()).step(
        model, out, Step(x, y, dom, lam=0.7, limit=None))
    clf = F.nll_loss(out.class_logp, y, ignore_index=-1)
    logp = F.log_softmax(model.domain_head(out.domain_in), dim=1)
    dmn = F.nll_loss(logp, dom)
    # w = adversarial_weight (adapt_weight is the non-adversarial methods')
    assert float(loss.detach()) == pytest.approx(float(clf + 0.7 * 0.5 * dmn), rel=1e-5)
    assert float(terms["dmn_loss"]) == pytest.approx(float(dmn), rel=1e-5)
    acc = (logp.argmax(1) == dom).float().mean()
    assert float(terms["dmn_acc"]) == pytest.approx(float(acc))
    # the features move against the domain classifier: the domain term's gradient on them
    # is the opposite of the one that would lower its loss
    model.zero_grad()
    f = out.domain_in.detach().requires_grad_(True)
    F.nll_loss(F.log_softmax(model.domain_head(f), dim=1), dom).backward()
    descend = f.grad.clone()
    g = out.domain_in.detach().requires_grad_(True)
    game = adversarial_loss(model.domain_head, g, dom, None)
    game.loss.backward()
    torch.testing.assert_close(g.grad, -descend)


def test_cdan_e_weights_reach_the_game_and_dann_plays_unweighted():
    head, (x, d) = _head(), _inputs()
    class_logp = torch.log_softmax(torch.randn(6, 4, generator=torch.Generator().manual_seed(3)),
                                   1)
    w = cdan_entropy_weights(class_logp, d, 3)
    assert not torch.allclose(w, torch.ones_like(w))
    with torch.no_grad():
        terms = _per_sample(head, x, d)
    cdan = adversarial_loss(head, x, d, None, weights=w)
    dann = adversarial_loss(head, x, d, None)
    assert float(cdan.classifier_loss) == pytest.approx(float((w * terms).mean()), rel=1e-5)
    assert float(dann.classifier_loss) == pytest.approx(float(terms.mean()), rel=1e-5)
    # the registry's cdan_e weights its game so; dann and confusion do not
    cfg = SimpleNamespace(label_smoothing=0.0, adversarial_weight=1.0)
    assert build_objective("cdan_e", cfg, MethodOptions()).weights is cdan_entropy_weights
    assert build_objective("dann", cfg, MethodOptions()).weights is None
    assert build_objective("confusion", cfg, MethodOptions()).adversary == "confusion"


def test_confusion_clamp_bounds_the_excess_over_ln_k():
    head, (x, d) = _head(), _inputs()
    with torch.no_grad():
        c = -F.log_softmax(head(x), dim=1).mean(dim=1)
    excess = c - math.log(3)
    ordered = excess.sort().values
    limit = float(ordered[2] + ordered[3]) / 2
    game = adversarial_loss(head, x, d, limit, "fixed", "confusion")
    assert torch.equal(game.clamped.bool(), excess > limit)
    scale = (limit / excess).clamp(max=1.0)
    assert float(game.feature_loss) == pytest.approx(float((scale * c).mean()), rel=1e-5)


def test_diagnostics_read_the_classifier_without_dropout():
    torch.manual_seed(0)
    head = domain_mlp(5, (64, 64), 3, dropout=0.5).train()
    x, _ = _inputs()
    noisy = F.log_softmax(head(x), dim=1)
    seen = diagnostic_logp(head, x, noisy)
    assert head.training  # restored
    torch.testing.assert_close(seen, F.log_softmax(head.eval()(x), dim=1))
    plain = _head().train()
    logp = F.log_softmax(plain(x), dim=1)
    assert diagnostic_logp(plain, x, logp) is not logp and torch.equal(
        diagnostic_logp(plain, x, logp), logp)


def test_domain_terms_and_epoch_diagnostics_by_hand():
    logp = torch.log(torch.tensor([[.8, .1, .1], [.7, .2, .1], [.1, .8, .1], [.6, .3, .1],
                                   [.2, .2, .6], [.5, .4, .1]]))
    dom = torch.tensor([0, 0, 1, 1, 2, 2])
    t = domain_terms(logp, dom, torch.tensor([1., 0, 0, 1, 1, 1]))
    assert float(t["dmn_acc"]) == pytest.approx(4 / 6)
    assert float(t["clamped_frac"]) == pytest.approx(4 / 6)
    means = {k: v.tolist() for k, v in t.items() if v.dim()}
    out = epoch_diagnostics(means, ("a", "b", "c"))
    assert out == pytest.approx({"dmn_acc_a": 1.0, "dmn_acc_b": 0.5, "dmn_acc_c": 0.5,
                                 "dmn_majority": 4 / 6})
    assert not means  # the vectors are consumed
    assert epoch_diagnostics({"clf_loss": 1.0}, ("a",)) == {}


def _epochs(acc, majority, clamped, n=3):
    return [{"epoch": e + 1, "dmn_acc": acc, "dmn_majority": majority,
             "clamped_frac": clamped} for e in range(n)]


def test_collapse_detector_fires_on_each_signature_and_not_on_a_live_game():
    assert collapse_reason(_epochs(0.25, 1.0, 0.75), 4, "fixed") == "one_domain"
    assert collapse_reason(_epochs(0.40, 0.4, 0.75), 4, "paper") == "clamped"
    assert collapse_reason(_epochs(0.40, 0.4, 0.75), 4, "fixed") == ""  # still learns
    assert collapse_reason(_epochs(0.05, 0.4, 0.0), 4, "fixed") == "inverted"
    assert collapse_reason(_epochs(0.2, 0.4, 0.0), 4, "fixed") == ""  # below chance, not half
    assert collapse_reason(_epochs(0.3, 0.94, 0.0), 4, "fixed") == ""
    assert collapse_reason(_epochs(0.30, 0.35, 0.1), 4, "paper") == ""
    # a single bad epoch is not a collapse; two epochs are too few to judge
    live = _epochs(0.30, 0.35, 0.1, 2) + _epochs(0.25, 1.0, 0.1, 1)
    assert collapse_reason(live, 4, "fixed") == ""
    assert collapse_reason(_epochs(0.25, 1.0, 0.75, 2), 4, "fixed") == ""


def test_collapse_detector_thresholds_are_inclusive_and_the_window_is_exact():
    """At the documented thresholds (majority >= 0.95, clamped share >= 0.5, accuracy <= half
    of chance) the run is collapsed; just inside them it is not; a custom window counts."""
    assert collapse_reason(_epochs(0.3, 0.95, 0.0), 4, "fixed") == "one_domain"
    assert collapse_reason(_epochs(0.3, 0.949, 0.0), 4, "fixed") == ""
    assert collapse_reason(_epochs(0.3, 0.4, 0.5), 4, "paper") == "clamped"
    assert collapse_reason(_epochs(0.3, 0.4, 0.499), 4, "paper") == ""
    assert collapse_reason(_epochs(0.125, 0.4, 0.0), 4, "fixed") == "inverted"
    assert collapse_reason(_epochs(0.126, 0.4, 0.0), 4, "fixed") == ""
    assert collapse_reason(_epochs(0.26, 0.4, 0.0), 2, "fixed") == ""  # K = 2: half is 0.25
    assert collapse_reason(_epochs(0.25, 0.4, 0.0), 2, "fixed") == "inverted"
    dead = _epochs(0.25, 1.0, 0.75, 5)
    assert collapse_reason(dead, 4, "fixed", window=5) == "one_domain"
    assert collapse_reason(dead[:4], 4, "fixed", window=5) == ""
    assert collapse_reason(_epochs(0.3, 0.9, 0.0), 4, "fixed", majority=0.9) == "one_domain"
    assert collapse_reason(_epochs(0.3, 0.4, 0.3), 4, "paper", clamped=0.3) == "clamped"
    # a history without the domain game (a source-only run) is never collapsed
    assert collapse_reason([{"epoch": e} for e in range(1, 5)], 4, "fixed") == ""


def test_one_domain_needs_a_confident_or_high_loss_classifier():
    """A two-domain classifier at chance (loss 0.693 = ln 2) whose argmax tips to one domain
    for 97 % of the faces is the game's equilibrium, not a collapse; the same majority with
    a confident classifier (loss far above ln 2 on balanced batches: confidently wrong on
    one domain, or far below: confidently right on a lopsided pool) is one."""
    def epochs(loss, majority=0.97, n=3):
        return [{"epoch": e + 1, "dmn_acc": 0.5, "dmn_majority": majority,
                 "clamped_frac": 0.0, "dmn_loss": loss} for e in range(n)]

    assert collapse_reason(epochs(0.693), 2, "fixed") == ""
    assert collapse_reason(epochs(0.70), 2, "paper") == ""
    assert collapse_reason(epochs(2.5), 2, "fixed") == "one_domain"  # p ~ 0.99 on one domain
    assert collapse_reason(epochs(0.10), 2, "fixed") == "one_domain"  # confident and right
    # the band is 10 % of ln K either side: 0.693 * 1.1 = 0.762, 0.693 * 0.9 = 0.624
    assert collapse_reason(epochs(0.77), 2, "fixed") == "one_domain"
    assert collapse_reason(epochs(0.75), 2, "fixed") == ""
    assert collapse_reason(epochs(0.61), 2, "fixed") == "one_domain"
    assert collapse_reason(epochs(1.386), 4, "fixed") == ""  # ln 4: chance with K = 4
    assert collapse_reason(epochs(2.5, majority=0.9), 2, "fixed") == ""  # no majority
    # one epoch at chance inside the window breaks the signature
    mixed = epochs(2.5, n=2) + epochs(0.693, n=1)
    assert collapse_reason(mixed, 2, "fixed") == ""
    assert collapse_reason(epochs(float("nan")), 2, "fixed") == "one_domain"  # unknown loss


def test_detector_on_a_constructed_collapsed_classifier():
    """A domain classifier whose bias swamps its input predicts one domain for every face."""
    head = _head(k=4)
    with torch.no_grad():
        head[-1].bias.copy_(torch.tensor([50.0, 0.0, 0.0, 0.0]))
    x, d = _inputs(b=8, k=4)
    history = []
    for e in range(3):
        game = adversarial_loss(head, x, d, 3.0 * (e + 1) / 3, "paper")
        t = {k: (v.tolist() if v.dim() else float(v))
             for k, v in domain_terms(game.domain_logp, d, game.clamped).items()}
        history.append({"epoch": e + 1, **t, **epoch_diagnostics(t, "abcd")})
    assert history[-1]["dmn_acc"] == pytest.approx(0.25)
    assert history[-1]["clamped_frac"] == pytest.approx(0.75)
    assert collapse_reason(history, 4, "paper") == "one_domain"


def _plan(method="dann", clamp=1e-6, clamp_mode="fixed", config=TINY, epochs=3):
    return RunPlan(setup="t", run=method, seed=0, mode="dann", train_domains=("src", "tgt"),
                   labelled_domains=("src",), all_domains=("src", "tgt"), clamp=clamp,
                   clamp_mode=clamp_mode, method=method,
                   config=TrainConfig(**{**config.__dict__, "epochs": epochs}))


def test_paper_clamp_kills_the_game_and_the_loop_says_so(face_sets, caplog):
    """With a limit below every sample's loss, the paper's clamp leaves nothing to learn:
    the history is flagged from the third epoch, with a warning naming run and epoch; the
    fixed clamp keeps the classifier learning (no clamped collapse)."""
    plan = _plan(clamp_mode="paper")
    data = training_view(face_sets, plan.train_domains, plan.labelled_domains)
    with caplog.at_level(logging.WARNING, logger="fer_da.training.loop"):
        paper = loop.train_run(plan, data, 7)
    assert [bool(h["collapse"]) for h in paper.history] == [False, False, True]
    assert paper.history[-1]["collapse"] in ("clamped", "one_domain")  # both hold here
    assert [h["collapsed"] for h in paper.history] == [0.0, 0.0, 1.0]
    assert all(h["clamped_frac"] == 1.0 for h in paper.history)
    assert "t/dann/seed0 epoch 3: the domain classifier has collapsed (" in caplog.text
    assert {"dmn_acc_src", "dmn_acc_tgt", "dmn_majority", "adv_loss"} <= set(paper.history[0])
    fixed = loop.train_run(_plan(clamp_mode="fixed"), data, 7)
    assert all(h["collapse"] != "clamped" for h in fixed.history)
    assert all(h["clamped_frac"] == 1.0 for h in fixed.history)
    # the classifier learned in the fixed mode only (its weights moved)
    init = loop.build_model(_plan(), 7).domain_head.state_dict()
    moved = {k: not torch.equal(v, fixed.state[f"domain_head.{k}"]) for k, v in init.items()}
    still = {k: torch.equal(v, paper.state[f"domain_head.{k}"]) for k, v in init.items()}
    assert all(moved.values()) and all(still.values())


def test_erm_mixed_sees_the_batches_of_dann(face_sets, monkeypatch):
    seen: dict[str, list] = {}
    real = loop.build_objective

    def recording(method, cfg, options, **context):
        objective = real(method, cfg, options, **context)
        inner = objective.step
        log = seen.setdefault(method, [])

        def step(model, out, batch):
            log.append((batch.x.clone(), batch.labels.clone(), batch.domains.clone()))
            return inner(model, out, batch)
        objective.step = step
        return objective

    monkeypatch.setattr(loop, "build_objective", recording)
    data = training_view(face_sets, ("src", "tgt"), ("src",))
    control = loop.train_run(_plan("erm_mixed", clamp=None), data, 7)
    loop.train_run(_plan("dann", clamp=3.0), data, 7)
    assert len(seen["erm_mixed"]) == len(seen["dann"]) > 3
    for (xa, ya, da), (xb, yb, db) in zip(seen["erm_mixed"], seen["dann"], strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb) and torch.equal(da, db)
        assert (ya[da == 1] == -1).all() and (da == 1).sum() == (da == 0).sum()
    assert "collapsed" not in control.history[0] and math.isnan(control.history[0]["dmn_loss"])


def test_domain_classifier_learning_rate_multiplier():
    model = FERNet(ModelConfig(backbone="vgg11_slim_bn", n_domains=2, tap_dim=8, hidden=8))
    groups = loop.param_groups(model, 1e-3, 10.0)
    head = {id(p) for p in model.domain_head.parameters()}
    assert [g["lr"] for g in groups] == [1e-3, pytest.approx(1e-2)]
    assert {id(p) for p in groups[1]["params"]} == head
    assert not head & {id(p) for p in groups[0]["params"]}
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


def test_the_loop_trains_the_domain_classifier_at_its_own_rate(face_sets, tmp_path):
    from fer_da.training.checkpoints import CheckpointStore
    plan = _plan(clamp=3.0, epochs=1, config=TrainConfig(**{**TINY.__dict__,
                                                            "domain_lr_mult": 10.0}))
    store = CheckpointStore(tmp_path)
    data = training_view(face_sets, plan.train_domains, plan.labelled_domains)
    loop.train_run(plan, data, 7, store)
    saved = torch.load(store.path(plan.run_id), weights_only=True)
    assert [g["lr"] for g in saved["optimiser"]["param_groups"]] == pytest.approx([1e-3, 1e-2])


def test_wide_domain_head_is_built_and_validated():
    cfg = TrainConfig.from_params({"domain_hidden": [32, 32], "domain_dropout": 0.5})
    model = FERNet(cfg.model_config(7, 3))
    widths = [m.out_features for m in model.domain_head if isinstance(m, nn.Linear)]
    drops = [m.p for m in model.domain_head if isinstance(m, nn.Dropout)]
    assert widths == [32, 32, 3] and drops == [0.5, 0.5]
    paper = FERNet(TrainConfig.from_params({}).model_config(7, 3))
    assert [m.out_features for m in paper.domain_head if isinstance(m, nn.Linear)] == [128, 3]
    from fer_da.validate import ConfigError
    with pytest.raises(ConfigError, match=r"training.domain_hidden"):
        TrainConfig.from_params({"domain_hidden": 1024})
    with pytest.raises(ConfigError, match=r"training.domain_dropout"):
        TrainConfig.from_params({"domain_dropout": 1.5})


def test_plans_sweep_clamp_modes_and_the_control():
    from fer_da.training.plans import plan_runs
    from fer_da.validate import ConfigError
    domains = {"a": {"layout": "folder", "role": "source"},
               "b": {"layout": "folder", "role": "target"}}
    plans = plan_runs({"kind": "dann", "clamps": [3.0], "clamp_modes": ["fixed", "paper"],
                       "methods": ["erm_mixed", "dann", "cdan_e", "confusion"]}, domains, {})
    got = {(p["run"], p["method"], p["clamp_mode"], p["mode"]) for p in plans}
    assert got == {("erm_mixed", "erm_mixed", "fixed", "dann"),
                   ("clamp3", "dann", "fixed", "dann"), ("clamp3_paper", "dann", "paper", "dann"),
                   ("cdan_e_clamp3", "cdan_e", "fixed", "dann"),
                   ("cdan_e_clamp3_paper", "cdan_e", "paper", "dann"),
                   ("confusion_clamp3", "confusion", "fixed", "dann")}
    with pytest.raises(ConfigError, match="dann.setup.clamp_modes"):
        plan_runs({"kind": "dann", "clamp_modes": ["papr"]}, domains, {})
    with pytest.raises(ConfigError, match="confusion exists in the fixed clamp mode only"):
        plan_runs({"kind": "dann", "clamp_modes": ["paper"], "methods": ["confusion"]},
                  domains, {})


def test_old_plans_without_a_clamp_mode_read_as_the_paper_mode():
    plan = _plan().to_dict()
    del plan["clamp_mode"]
    assert RunPlan.from_dict(plan).clamp_mode == "paper"


def test_epoch_means_split_scalars_and_per_domain_vectors_back():
    from fer_da.training.distributed import Ranks
    sums = {"clf_loss": torch.tensor(6.0), "dmn_pred": torch.tensor([3.0, 9.0]),
            "dmn_acc": torch.tensor(4.5)}
    means, seen = epoch_means(sums, 12, torch.device("cpu"), Ranks())
    assert seen == 12
    assert means == {"clf_loss": 0.5, "dmn_pred": [0.25, 0.75], "dmn_acc": 0.375}
