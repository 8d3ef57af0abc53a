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

from fer_da.ingest.characters import CharacterSet, character_set, read_ferg
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
from fer_da.synthetic.cartoons import render_characters
from fer_da.training.checkpoints import CheckpointStore
from fer_da.training.config import RunPlan, TrainConfig
from fer_da.training.data import training_view
from fer_da.training.hagan import CharacterBank, train_hagan
from fer_da.validate import ConfigError
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


def test_characters_vary_within_every_expression_and_are_reproducible():
    chars = render_characters(CLASSES, 6, 48, per_expression=4, seed=0)
    again = render_characters(CLASSES, 6, 48, per_expression=4, seed=0)
    assert chars.images.shape == (6 * 7 * 4, 48, 48) and chars.neutral.shape == (24, 48, 48)
    assert chars.images.dtype == np.uint8 and np.array_equal(chars.images, again.images)
    assert len(set(chars.names)) == 6  # FERG-DB's six characters
    cells = np.bincount(chars.character * 7 + chars.expression)
    assert (cells == 4).all() and (np.bincount(chars.neutral_character) == 4).all()

    def cell(c, k):
        return chars.images[(chars.character == c) & (chars.expression == k)].astype(int)

    # frame 0 is the canonical peak; the other frames vary pose, light and intensity
    for k in range(7):
        frames = cell(0, k)
        assert min(np.abs(frames[v] - frames[0]).mean() for v in (1, 2, 3)) > 2
    np.testing.assert_array_equal(cell(0, 6)[0], chars.neutral[0])  # neutral class = neutral
    diff = [np.abs(cell(0, k)[0] - chars.neutral[0]).mean() for k in range(6)]
    assert min(diff) > 0.5  # every expression differs from neutral
    assert np.abs(cell(0, 3)[0] - cell(1, 3)[0]).mean() > 5  # two different characters
    other = render_characters(CLASSES, 1, 48, per_expression=2, seed=1)
    assert not np.array_equal(other.images[1], chars.images[1])
    with pytest.raises(ValueError, match="pride"):
        render_characters(["anger", "pride"], 1, 48)


def _coded_set(counts: dict[tuple[int, int], int]) -> CharacterSet:
    """Each image's pixels hold 100 c + 10 k + v: which (character, class, frame) it is."""
    images, char, expr = [], [], []
    for (c, k), n in counts.items():
        for v in range(n):
            images.append(np.full((8, 8), 100 * c + 10 * k + v, np.uint8))
            char.append(c)
            expr.append(k)
    neutral = np.stack([np.full((8, 8), 200 + c * 10 + v, np.uint8)
                        for c in (0, 1) for v in range(3)])
    return CharacterSet(("a", "b"), np.stack(images), np.array(char), np.array(expr),
                        neutral, np.array([0, 0, 0, 1, 1, 1]))


def test_character_bank_draws_every_frame_of_the_asked_cell_only():
    counts = {(0, 0): 3, (0, 1): 1, (1, 0): 2, (1, 1): 4}
    bank = CharacterBank(_coded_set(counts), 2, 2, torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    for (c, k), n in counts.items():
        who, y = torch.full((200,), c), torch.full((200,), k)
        drawn = ((bank.real(who, y, gen)[:, 0, 0, 0] + 1) * 127.5).round().long()
        assert set(drawn.tolist()) == {100 * c + 10 * k + v for v in range(n)}
        neutral = ((bank.neutral(who, gen)[:, 0, 0, 0] + 1) * 127.5).round().long()
        assert set(neutral.tolist()) == {200 + 10 * c + v for v in range(3)}
    with pytest.raises(ValueError, match=r"\('a', 1\)"):
        _coded_set({(0, 0): 1, (1, 0): 1, (1, 1): 1}).check(2, 2, "run")
    with pytest.raises(ValueError, match="3 characters asked"):
        _coded_set(counts).check(3, 2, "run")


def _write_ferg(root, characters=("aia", "ray"), per=3, skip=()):
    from PIL import Image

    for ci, name in enumerate(characters):
        for e, expression in enumerate(("anger", "disgust", "fear", "joy", "neutral",
                                        "sadness", "surprise")):
            if (name, expression) in skip:
                continue
            folder = root / name / f"{name}_{expression}"
            folder.mkdir(parents=True)
            for v in range(per):
                rgba = np.zeros((20, 20, 4), np.uint8)  # a transparent ground
                rgba[5:15, 5:15] = (10 * e + v, 0, 100 * ci, 255)
                Image.fromarray(rgba, "RGBA").save(folder / f"{name}_{expression}_{v}.png")


def test_ferg_layout_reads_characters_and_maps_joy_to_happiness(tmp_path):
    _write_ferg(tmp_path)
    chars = read_ferg(tmp_path, CLASSES, 16)
    assert chars.names == ("aia", "ray") and chars.images.shape == (2 * 7 * 3, 16, 16)
    assert (np.bincount(chars.character * 7 + chars.expression) == 3).all()
    assert chars.neutral.shape == (6, 16, 16)  # FERG-DB's neutral folder: eq. 4's target
    happy = chars.images[(chars.expression == CLASSES.index("happiness"))
                         & (chars.character == 0)]
    assert abs(float(happy[0, 8, 8]) - 0.299 * 30) < 2  # joy (folder 3) -> happiness
    assert happy[0, 0, 0] == 255  # the transparent ground is white
    assert read_ferg(tmp_path, CLASSES, 16, names=["ray"]).names == ("ray",)
    capped = read_ferg(tmp_path, CLASSES, 16, max_per_expression=2)
    assert len(capped.images) == 2 * 7 * 2
    chars.check(2, 7, "hagan.characters")
    via_params = character_set({"source": "ferg", "root": str(tmp_path)}, CLASSES, 16, 2)
    assert np.array_equal(via_params.images, chars.images)


def test_ferg_layout_errors_name_the_folder_file_or_key(tmp_path):
    _write_ferg(tmp_path, skip={("ray", "fear")})
    with pytest.raises(ValueError, match=r"\('ray', 2\)"):
        character_set({"source": "ferg", "root": str(tmp_path)}, CLASSES, 16, 2)
    (tmp_path / "aia" / "aia_anger" / "aia_anger_0.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="aia_anger_0.png"):
        read_ferg(tmp_path, CLASSES, 16)
    (tmp_path / "aia" / "aia_anger" / "aia_anger_0.png").unlink()
    (tmp_path / "aia" / "happy").mkdir()
    with pytest.raises(ValueError, match="happy"):
        read_ferg(tmp_path, CLASSES, 16, names=["aia"])
    with pytest.raises(ValueError, match="nobody"):
        read_ferg(tmp_path, CLASSES, 16, names=["nobody"])
    with pytest.raises(ConfigError, match="hagan.characters.root"):
        character_set({"source": "ferg"}, CLASSES, 16, 1)
    with pytest.raises(ConfigError, match="hagan.characters.count"):
        character_set({"count": 1}, CLASSES, 16, 2)
    with pytest.raises(ConfigError, match=r"hagan.characters: unknown keys \[.sorce.\]"):
        character_set({"sorce": "ferg"}, CLASSES, 16, 1)


def test_discriminator_is_the_same_function_in_training_and_evaluation():
    torch.manual_seed(0)
    d = Discriminator(HaganConfig(d_norm="group"))
    human, real, _, _ = _batch(2)
    train_out = d.train()(human, real)[1]
    alone = d(human[:1], real[:1])[1]  # no batch statistics: a pair is judged alone
    eval_out = d.eval()(human, real)[1]
    torch.testing.assert_close(train_out, eval_out)
    torch.testing.assert_close(alone, train_out[:1])
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules())
    old = Discriminator(HaganConfig())  # a model saved before the fix keeps batch norm
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in old.modules())


def test_evaluation_averages_fixed_noise_draws_and_ignores_the_batch():
    torch.manual_seed(0)
    model = HaganClassifier(HaganConfig(eval_draws=16, d_norm="group")).eval()
    with torch.no_grad():  # sharp predictions, so that the draws disagree
        model.discriminator.expression[-1].weight.mul_(300)
    assert model.eval_noise.shape == (16, 16)
    assert 0.5 < float(model.eval_noise.std()) < 1.5  # z ~ N(0, 1), as G was trained
    x = torch.randint(0, 255, (4, 1, 48, 48), dtype=torch.uint8)
    out = model(x)
    torch.testing.assert_close(model(x[2:3]).class_logp, out.class_logp[2:3])
    human = to_unit(x)
    probs = torch.stack([model.discriminator(human, model.translate(x, draw=j))[1]
                         .softmax(1) for j in range(16)]).mean(0)
    torch.testing.assert_close(out.class_logp.exp(), probs)
    assert (probs.max(1).values < 0.99).any()  # the draws disagree: the mean matters
    one = model.translate(x, draw=0)
    assert not torch.allclose(one, model.translate(x, draw=1))  # z changes the drawing
    assert torch.equal(HaganClassifier(HaganConfig()).eval_noise, torch.zeros(1, 16))
    state = model.state_dict()
    assert "eval_noise" not in state  # rebuilt from the config, not saved


TRAINING = {"epochs": 2, "batch_size": 7, "device": "cpu", "seeds": [0]}
DOMAINS = {"src": {"layout": "jaffe", "role": "source"},
           "tgt": {"layout": "jaffe", "role": "target"}}


def test_training_is_deterministic_on_cpu():
    face_sets = make_face_sets(("src",), per_label=3, size=48)
    plan = RunPlan(setup="hagan", run="src", seed=0, mode="supervised", train_domains=("src",),
                   labelled_domains=("src",), all_domains=("src",), method="hagan",
                   config=TrainConfig.from_params(TRAINING))
    data = training_view(face_sets, ("src",), ("src",), 0)
    chars = render_characters(CLASSES, 1, 48, per_expression=3)
    a = train_hagan(plan, data, 7, chars)
    b = train_hagan(plan, data, 7, chars)
    assert all(torch.equal(a.state[k], b.state[k]) for k in a.state)
    assert [h["g_l1"] for h in a.history] == [h["g_l1"] for h in b.history]
    assert len(a.history) == 2 and a.model_config["kind"] == "hagan"
    assert a.model_config["d_norm"] == "group" and a.model_config["eval_draws"] > 1


def test_hagan_setup_runs_end_to_end(tmp_path):
    face_sets = make_face_sets(("src", "tgt"), per_label=3, size=48)
    pipe = setup_pipeline("hagan", with_characters=True) + setup_pipeline("baseline")
    data = {"face_sets": face_sets, "params:domains": DOMAINS,
            "params:training": {**TRAINING, "tap_dim": 8, "hidden": 8},
            "params:labels": {"keep_contempt": False}, "params:evaluation": {"splits": ["val"]},
            "params:preprocessing": {"image_size": 48}, "params:inference": {}, "params:job": {},
            "params:reporting": {"names": {"src": "Source set"}},
            "params:hagan.setup": {"kind": "hagan", "options": {"characters": 2}},
            "params:hagan.characters": {"count": 2, "per_expression": 3},
            "params:baseline.setup": {"kind": "baseline"},
            "hagan.checkpoints": CheckpointStore(tmp_path / "h"),
            "baseline.checkpoints": CheckpointStore(tmp_path / "b")}
    catalog = DataCatalog({k: MemoryDataset(v, copy_mode="assign") for k, v in data.items()})
    for setup in ("hagan", "baseline"):
        for name in ("metrics", "history"):
            catalog[f"{setup}.{name}"] = MemoryDataset(copy_mode="assign")
    catalog["hagan.translation_figure"] = MemoryDataset(copy_mode="assign")
    catalog["hagan.character_figure"] = MemoryDataset(copy_mode="assign")
    SequentialRunner().run(pipe, catalog)
    metrics: pd.DataFrame = catalog["hagan.metrics"].load()
    assert list(metrics.columns) == list(catalog["baseline.metrics"].load().columns)
    assert len(metrics) == 2 and (metrics["n"] == 7).all()
    history = catalog["hagan.history"].load()
    assert len(history) == 2 and history["d_expression_acc"].between(0, 1).all()
    figure = catalog["hagan.translation_figure"].load()
    # one row per (domain, expression) of the evaluated split: 2 domains x 7 classes,
    # each named by the domain's display name
    rows = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert isinstance(figure, plt.Figure) and len(rows) == 14
    assert rows[0].startswith("Source set · ") and rows[-1].startswith("tgt · ")
    plt.close(figure)
    figure = catalog["hagan.character_figure"].load()  # one row per class
    assert isinstance(figure, plt.Figure) and len(figure.axes) == 7
    plt.close(figure)
