import math

import numpy as np
import pytest
import torch

from fer_da.methods.base import Step
from fer_da.methods.build import build_objective
from fer_da.methods.options import MethodOptions
from fer_da.models import FERNet, ModelConfig
from fer_da.training.batching import balanced_epoch, shuffled_epoch
from fer_da.training.checkpoints import CheckpointStore
from fer_da.training.config import RunPlan, TrainConfig
from fer_da.training.data import DomainData, training_view
from fer_da.training.loop import train_run
from fer_da.training.schedules import clamp_limit, factor

TINY = TrainConfig(epochs=2, batch_size=4, lr=1e-3, backbone="vgg11_slim_bn", device="cpu",
                   tap_dim=16, hidden=16)


def test_factor_schedule_values():
    assert factor(0.0) == 0.0
    assert factor(1.0) == pytest.approx(2 / (1 + math.exp(-10)) - 1)
    assert factor(0.5) == pytest.approx(0.98661, abs=1e-5)
    assert factor(0.1, alpha=10) == pytest.approx(0.46212, abs=1e-5)
    values = [factor(p / 10) for p in range(11)]
    assert values == sorted(values)
    assert clamp_limit(0.5, 3000) == pytest.approx(3000 * factor(0.5))


def test_balanced_batches_take_every_domain_and_cycle_short_ones():
    rng = np.random.default_rng(0)
    steps = balanced_epoch([10, 3, 7], 4, rng)
    assert len(steps) == 3  # ceil(10 / 4): the longest domain sets the epoch
    assert all([len(i) for i in s] == [4, 4, 4] for s in steps)
    longest = np.concatenate([s[0] for s in steps])
    assert set(longest[:10]) == set(range(10))
    short = np.concatenate([s[1] for s in steps])  # 12 draws from 3 samples: each 4 times
    assert np.bincount(short).tolist() == [4, 4, 4]
    assert set(np.concatenate([s[2] for s in steps])) == set(range(7))
    batches = shuffled_epoch(10, 4, rng)
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(np.concatenate(batches)) == list(range(10))


def _plan(mode="dann", seed=0, clamp=3.0, config=TINY):
    return RunPlan(setup="t", run="r", seed=seed, mode=mode, train_domains=("src", "tgt"),
                   labelled_domains=("src",) if mode == "dann" else ("src", "tgt"),
                   all_domains=("src", "tgt"), clamp=clamp if mode == "dann" else None,
                   config=config)


def test_target_labels_never_reach_a_dann_step(face_sets):
    plan = _plan()
    data = training_view(face_sets, plan.train_domains, plan.labelled_domains)
    assert data[0].labels is not None and data[1].labels is None
    leaked = [data[0], DomainData("tgt", data[1].images,
                                  np.zeros(len(data[1].images), dtype=np.int64))]
    with pytest.raises(ValueError, match=r"labels of \['tgt'\] reached training"):
        train_run(plan.with_config(epochs=1), leaked, 7)


def test_one_dann_step_gives_every_parameter_a_gradient():
    model = FERNet(ModelConfig(backbone="vgg11_slim_bn", n_domains=2, tap_dim=16, hidden=16))
    x = torch.randint(0, 255, (8, 1, 32, 32), dtype=torch.uint8)
    y = torch.tensor([0, 1, 2, 3, -1, -1, -1, -1])
    out = model(x, with_domain=False)
    loss, _ = build_objective("dann", TINY, MethodOptions()).step(
        model, out, Step(x.float(), y, torch.tensor([0] * 4 + [1] * 4), lam=0.5))
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_training_is_deterministic_and_learns(face_sets):
    plan = _plan(mode="supervised", config=TrainConfig(**{**TINY.__dict__, "epochs": 3}))
    data = training_view(face_sets, plan.train_domains, plan.labelled_domains)
    a, b = train_run(plan, data, 7), train_run(plan, data, 7)
    assert [h["clf_loss"] for h in a.history] == [h["clf_loss"] for h in b.history]
    for k in a.state:
        torch.testing.assert_close(a.state[k], b.state[k], rtol=0, atol=0)
    assert a.history[-1]["clf_loss"] < a.history[0]["clf_loss"]
    assert all(math.isnan(h["lambda"]) for h in a.history)


def test_resume_after_interruption_matches_an_uninterrupted_run(face_sets, tmp_path):
    plan = _plan(config=TrainConfig(**{**TINY.__dict__, "epochs": 3}))
    data = training_view(face_sets, plan.train_domains, plan.labelled_domains)
    full = train_run(plan, data, 7, CheckpointStore(tmp_path / "a"))

    def kill(epoch):
        if epoch == 2:
            raise KeyboardInterrupt

    store = CheckpointStore(tmp_path / "b")
    with pytest.raises(KeyboardInterrupt):
        train_run(plan, data, 7, store, on_epoch_end=kill)
    assert torch.load(store.path(plan.run_id), weights_only=True)["epoch"] == 2
    resumed = train_run(plan, data, 7, store)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]
    for k in full.state:
        torch.testing.assert_close(full.state[k], resumed.state[k])
    assert resumed.history[-1]["clf_loss"] == full.history[-1]["clf_loss"]


def test_checkpoint_is_reused_only_for_the_same_initial_weights(face_sets, tmp_path):
    plan = _plan(mode="supervised", config=TrainConfig(**{**TINY.__dict__, "epochs": 1}))
    data = training_view(face_sets, plan.train_domains, plan.labelled_domains)
    init_a = train_run(_plan(mode="supervised", seed=1), data, 7).state
    init_b = train_run(_plan(mode="supervised", seed=2), data, 7).state
    store = CheckpointStore(tmp_path)
    epochs_run = []
    first = train_run(plan, data, 7, store, init_a, on_epoch_end=epochs_run.append)
    again = train_run(plan, data, 7, store, init_a, on_epoch_end=epochs_run.append)
    assert epochs_run == [1]  # the finished checkpoint was reused
    for k in first.state:
        torch.testing.assert_close(first.state[k], again.state[k], rtol=0, atol=0)
    # a new starting point (a retrained baseline under a fine-tune) must not reuse it
    other = train_run(plan, data, 7, store, init_b, on_epoch_end=epochs_run.append)
    assert epochs_run == [1, 1]
    assert any(not torch.equal(first.state[k], other.state[k]) for k in first.state)
    # resume: false retrains even when everything matches
    forced = plan.with_config(resume=False)
    train_run(forced, data, 7, store, init_b, on_epoch_end=epochs_run.append)
    assert epochs_run == [1, 1, 1]
    assert forced.fingerprint("d", "i") == plan.fingerprint("d", "i") != plan.fingerprint("d")


def test_non_finite_loss_stops_with_the_step(face_sets):
    plan = _plan(mode="supervised", config=TrainConfig(**{**TINY.__dict__, "lr": 1e30,
                                                          "epochs": 3}))
    data = training_view(face_sets, plan.train_domains, plan.labelled_domains)
    with pytest.raises(FloatingPointError, match=r"NaN/Inf at epoch \d+, step \d+"):
        train_run(plan, data, 7)


def test_config_rejects_unknown_keys():
    with pytest.raises(ValueError, match=r"training: unknown keys \['epoch'\]"):
        TrainConfig.from_params({"epoch": 3})
    assert TrainConfig.from_params({"seeds": [1, 2]}).seeds == (1, 2)
    with pytest.raises(ValueError, match="training.resume must be true or false"):
        TrainConfig.from_params({"resume": "false"})
    auto = TrainConfig()
    assert [auto.use_channels_last(d) for d in ("cuda", "cpu", "mps")] == [True, True, False]
    assert [auto.use_bf16(d) for d in ("cuda", "cpu")] == [True, False]


def test_host_streaming_fallback_matches_resident_training(face_sets):
    plan = _plan()
    data = training_view(face_sets, plan.train_domains, plan.labelled_domains)
    resident = train_run(plan.with_config(epochs=1, resident="device"), data, 7)
    streamed = train_run(plan.with_config(epochs=1, resident="host"), data, 7)
    for k in resident.state:
        torch.testing.assert_close(resident.state[k], streamed.state[k], rtol=0, atol=0)
    from fer_da.training.loop import ImageStore

    arrays = [d.images for d in data]
    assert ImageStore.placement(arrays, torch.device("cpu"), "auto", 1e-9) == "host"
    assert ImageStore.placement(arrays, torch.device("cpu"), "auto", 1.0) == "device"


def test_gpu_fast_path_runs_on_cpu(face_sets):
    """bf16 autocast + channels-last, the CUDA configuration, forced on the CPU."""
    plan = _plan().with_config(epochs=1, bf16=True, channels_last=True)
    assert plan.config.use_bf16("cpu") and not TINY.use_bf16("cpu") and TINY.use_bf16("cuda")
    data = training_view(face_sets, plan.train_domains, plan.labelled_domains)
    trained = train_run(plan, data, 7)
    assert math.isfinite(trained.history[0]["clf_loss"])
    assert all(v.dtype == torch.float32 for k, v in trained.state.items()
               if v.is_floating_point())


def test_the_epoch_line_shows_the_losses_the_run_has():
    from fer_da.training.loop import epoch_line

    nan = float("nan")
    assert epoch_line({"clf_loss": 1.0, "dmn_loss": nan, "dmn_acc": nan,
                       "lambda": 0.5}) == "clf 1.0000"  # erm_mixed: no dmn nan, no lambda
    assert epoch_line({"clf_loss": 1.0, "dmn_loss": 0.7, "dmn_acc": 0.5, "lambda": 0.5}) == (
        "clf 1.0000 dmn 0.7000 dmn-acc 0.500 lambda 0.500")
    assert epoch_line({"clf_loss": 1.0, "dmn_loss": nan, "dmn_acc": nan, "lambda": 0.25,
                       "adapt_loss": 0.2}) == "clf 1.0000 adapt 0.2000 lambda 0.250"
