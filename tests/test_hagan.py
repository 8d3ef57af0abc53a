"""HA-GAN (paper 004): shapes, which parameters each loss trains, one step lowers each
loss, determinism, the characters, and the setup end to end on tiny tensors."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from fer_da.models.hagan import (
    Discriminator,
    Generator,
    HaganClassifier,
    HaganConfig,
    discriminator_loss,
    generator_loss,
    to_unit,
)
from fer_da.pipelines.training.pipeline import setup_pipeline
from fer_da.synthetic.characters import render_characters
from fer_da.training.checkpoints import CheckpointStore
from fer_da.training.config import RunPlan, TrainConfig
from fer_da.training.data import training_view
from fer_da.training.hagan import train_hagan
from tests.conftest import make_face_sets

CLASSES = ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"]


def _batch(seed: int = 0, n: int = 6):
    g = torch.Generator().manual_seed(seed)
    human = torch.rand(n, 1, 48, 48, generator=g) * 2 - 1
    real = torch.rand(n, 1, 48, 48, generator=g) * 2 - 1
    neutral = torch.rand(n, 1, 48, 48, generator=g) * 2 - 1
    labels = torch.arange(n) % 7
    return human, real, neutral, labels


def test_shapes_and_the_evaluation_path():
    torch.manual_seed(0)
    cfg = HaganConfig(characters=2)
    model = HaganClassifier(cfg).eval()
    for side in (48, 64):
        x = torch.randint(0, 255, (3, 1, side, side), dtype=torch.uint8)
        out = model(x)
        assert out.class_logp.shape == (3, 7) and out.features.shape == (3, cfg.shared)
        torch.testing.assert_close(out.class_logp.exp().sum(1), torch.ones(3))
        char = model.translate(x, identity=1)
        assert char.shape == (3, 1, 48, 48) and char.abs().max() <= 1.0
    real_logit, expr, shared = model.discriminator(to_unit(x), char)
    assert real_logit.shape == (3,) and expr.shape == (3, 7) and shared.shape == (3, 256)


def _grads(module: torch.nn.Module) -> dict[str, bool]:
    return {n: p.grad is not None and bool(p.grad.abs().sum() > 0)
            for n, p in module.named_parameters()}


def test_each_loss_trains_the_right_parameters():
    torch.manual_seed(0)
    cfg = HaganConfig()
    g, d = Generator(cfg), Discriminator(cfg)
    human, real, neutral, labels = _batch()
    fake = g(human, torch.zeros(6, dtype=torch.long), torch.zeros(6, cfg.noise))
    terms = discriminator_loss(d, human, real, fake.detach(), labels)
    terms["d_real_fake"].backward(retain_graph=True)
    got = _grads(d)
    assert all(v for k, v in got.items() if k.startswith(("shared.0", "real.")))
    assert not any(v for k, v in got.items() if k.startswith("expression."))  # D^R only
    assert not any(_grads(g).values())  # the fake was detached
    d.zero_grad(set_to_none=True)
    terms["d_expression"].backward()
    got = _grads(d)
    assert all(v for k, v in got.items() if k.startswith("expression."))
    assert not any(v for k, v in got.items() if k.startswith("real."))  # D^e only
    d.zero_grad(set_to_none=True)
    g_terms = generator_loss(d, human, fake, neutral, labels, l1_weight=10.0)
    g_terms["loss"].backward()
    assert all(_grads(g).values())  # every G parameter receives a gradient
    assert torch.isclose(g_terms["loss"], g_terms["g_adversarial"] + g_terms["g_expression"]
                         + 10.0 * g_terms["g_l1"])
    assert torch.isclose(terms["loss"], 0.5 * (terms["d_real_fake"] + terms["d_expression"]))


class _StubD(torch.nn.Module):
    """D^R = the pair's mean character pixel, D^e = fixed logits per pair: losses by hand."""

    def forward(self, human, character):
        real = character.mean(dim=(1, 2, 3))
        expr = torch.stack([character.mean(dim=(1, 2, 3)) * k for k in range(7)], 1)
        return real, expr, character.flatten(1)


def test_gan_losses_by_hand_real_is_one_fake_is_zero():
    human = torch.zeros(2, 1, 4, 4)
    real, fake = torch.full((2, 1, 4, 4), 2.0), torch.full((2, 1, 4, 4), -1.0)
    neutral = torch.full((2, 1, 4, 4), -0.5)
    labels = torch.tensor([3, 0])
    d_terms = discriminator_loss(_StubD(), human, real, fake, labels)
    sig = torch.sigmoid
    # real pairs labelled 1 (-log sigma(2)), generated pairs labelled 0 (-log(1 - sigma(-1)))
    want_adv = float(-torch.log(sig(torch.tensor(2.0))) - torch.log(1 - sig(torch.tensor(-1.0))))
    assert float(d_terms["d_real_fake"]) == pytest.approx(want_adv, rel=1e-5)
    real_e = torch.tensor([[2.0 * k for k in range(7)]] * 2)
    want_e = float(torch.nn.functional.cross_entropy(real_e, labels))  # on the real pairs
    assert float(d_terms["d_expression"]) == pytest.approx(want_e, rel=1e-5)
    g_terms = generator_loss(_StubD(), human, fake, neutral, labels, l1_weight=10.0)
    # non-saturating: G wants its pairs called real (-log sigma(-1)) and to show the label
    assert float(g_terms["g_adversarial"]) == pytest.approx(
        float(-torch.log(sig(torch.tensor(-1.0)))), rel=1e-5)
    fake_e = torch.tensor([[-1.0 * k for k in range(7)]] * 2)
    assert float(g_terms["g_expression"]) == pytest.approx(
        float(torch.nn.functional.cross_entropy(fake_e, labels)), rel=1e-5)
    assert float(g_terms["g_l1"]) == pytest.approx(0.5)
    assert float(g_terms["loss"]) == pytest.approx(
        float(g_terms["g_adversarial"] + g_terms["g_expression"] + 10.0 * 0.5), rel=1e-5)


def test_one_step_of_each_lowers_its_own_loss():
    torch.manual_seed(0)
    cfg = HaganConfig()
    g, d = Generator(cfg).eval(), Discriminator(cfg).eval()  # fixed batch statistics
    human, real, neutral, labels = _batch(1)
    ids, z = torch.zeros(6, dtype=torch.long), torch.zeros(6, cfg.noise)
    fake = g(human, ids, z).detach()
    opt_d = torch.optim.SGD(d.parameters(), lr=0.01)
    before = discriminator_loss(d, human, real, fake, labels)["loss"]
    opt_d.zero_grad()
    before.backward()
    opt_d.step()
    after = discriminator_loss(d, human, real, fake, labels)["loss"]
    assert after.item() < before.item()
    opt_g = torch.optim.SGD(g.parameters(), lr=0.01)
    before = generator_loss(d, human, g(human, ids, z), neutral, labels, 10.0)["loss"]
    opt_g.zero_grad()
    before.backward()
    opt_g.step()
    after = generator_loss(d, human, g(human, ids, z), neutral, labels, 10.0)["loss"]
    assert after.item() < before.item()


def test_characters_show_every_expression_and_are_reproducible():
    faces, neutral = render_characters(CLASSES, 2, 48, seed=0)
    again, _ = render_characters(CLASSES, 2, 48, seed=0)
    assert faces.shape == (2, 7, 48, 48) and neutral.shape == (2, 48, 48)
    assert faces.dtype == np.uint8 and np.array_equal(faces, again)
    np.testing.assert_array_equal(faces[:, 6], neutral)  # the neutral class is the neutral face
    diff = [np.abs(faces[0, k].astype(int) - neutral[0]).mean() for k in range(6)]
    assert min(diff) > 0.5  # every expression differs from neutral
    assert np.abs(faces[0].astype(int) - faces[1]).mean() > 5  # two different characters
    with pytest.raises(ValueError, match="pride"):
        render_characters(["anger", "pride"], 1, 48)


TRAINING = {"epochs": 2, "batch_size": 7, "device": "cpu", "seeds": [0]}
DOMAINS = {"src": {"layout": "jaffe", "role": "source"},
           "tgt": {"layout": "jaffe", "role": "target"}}


def test_training_is_deterministic_on_cpu():
    face_sets = make_face_sets(("src",), per_label=3, size=48)
    plan = RunPlan(setup="hagan", run="src", seed=0, mode="supervised", train_domains=("src",),
                   labelled_domains=("src",), all_domains=("src",), method="hagan",
                   config=TrainConfig.from_params(TRAINING))
    data = training_view(face_sets, ("src",), ("src",), 0)
    chars, neutral = render_characters(CLASSES, 1, 48)
    a = train_hagan(plan, data, 7, chars, neutral)
    b = train_hagan(plan, data, 7, chars, neutral)
    assert all(torch.equal(a.state[k], b.state[k]) for k in a.state)
    assert [h["g_l1"] for h in a.history] == [h["g_l1"] for h in b.history]
    assert len(a.history) == 2 and a.model_config["kind"] == "hagan"


def test_hagan_setup_runs_end_to_end(tmp_path):
    face_sets = make_face_sets(("src", "tgt"), per_label=3, size=48)
    pipe = setup_pipeline("hagan", with_characters=True) + setup_pipeline("baseline")
    data = {"face_sets": face_sets, "params:domains": DOMAINS,
            "params:training": {**TRAINING, "tap_dim": 8, "hidden": 8},
            "params:labels": {"keep_contempt": False}, "params:evaluation": {"splits": ["val"]},
            "params:preprocessing": {"image_size": 48}, "params:inference": {}, "params:job": {},
            "params:hagan.setup": {"kind": "hagan", "options": {"characters": 2}},
            "params:baseline.setup": {"kind": "baseline"},
            "hagan.checkpoints": CheckpointStore(tmp_path / "h"),
            "baseline.checkpoints": CheckpointStore(tmp_path / "b")}
    catalog = DataCatalog({k: MemoryDataset(v, copy_mode="assign") for k, v in data.items()})
    for setup in ("hagan", "baseline"):
        for name in ("metrics", "history"):
            catalog[f"{setup}.{name}"] = MemoryDataset(copy_mode="assign")
    catalog["hagan.translation_figure"] = MemoryDataset(copy_mode="assign")
    SequentialRunner().run(pipe, catalog)
    metrics: pd.DataFrame = catalog["hagan.metrics"].load()
    assert list(metrics.columns) == list(catalog["baseline.metrics"].load().columns)
    assert len(metrics) == 2 and (metrics["n"] == 7).all()
    history = catalog["hagan.history"].load()
    assert len(history) == 2 and history["d_expression_acc"].between(0, 1).all()
    figure = catalog["hagan.translation_figure"].load()
    # one row per (domain, expression) of the evaluated split: 2 domains x 7 classes
    assert isinstance(figure, plt.Figure) and len(figure.axes) == 14
    plt.close(figure)
