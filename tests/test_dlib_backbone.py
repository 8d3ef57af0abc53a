"""dlib's face-recognition ResNet-29 (``backbone: dlib_resnet29``): the reader of dlib's
serialization, parity with dlib's own C++ outputs, the backbone in FERNet, and training with
frozen, cached stages."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fer_da.models import FERNet, ModelConfig
from fer_da.models.backbone_dlib import (
    DLIB_MEAN,
    DlibTaps,
    converted_file,
    package_dat,
    state_from_records,
)
from fer_da.models.backbones import backbone_names, build_taps, min_input_size
from fer_da.models.dlib_format import DlibFormatError, read_records
from tests import dlib_writer as w

REFERENCE = Path(__file__).parent / "data" / "dlib_resnet29_reference.json"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_DA_CACHE", str(tmp_path / "cache"))


def reference_images() -> np.ndarray:
    """The two images of the reference file, built from their formulas: (2, 150, 150, 3)."""
    x = np.arange(150)
    X, Y = np.meshgrid(x, x)  # X: column, Y: row
    a = np.stack([255 * X // 149, 255 * Y // 149, 255 * (X + Y) // 298], -1)
    b = np.stack([(7 * X + 13 * Y + 59 * c) % 256 for c in range(3)], -1)
    return np.stack([a, b]).astype(np.uint8)


def descriptors(taps: DlibTaps, rgb: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(rgb).permute(0, 3, 1, 2).float()
    x = (x - torch.tensor(DLIB_MEAN).view(1, 3, 1, 1)) / 256.0
    with torch.no_grad():
        return taps.eval()(x)[-1].numpy()


def test_converted_network_computes_what_dlib_computes():
    ref = json.loads(REFERENCE.read_text())
    dat = package_dat()
    assert hashlib.sha256(dat.read_bytes()).hexdigest() == ref["sha256"]
    taps = DlibTaps()
    assert taps.load_pretrained(None) == []
    assert sum(p.numel() for p in taps.parameters()) == ref["parameters"] == 5_614_592
    got = descriptors(taps, reference_images())
    for i, name in enumerate("AB"):
        np.testing.assert_allclose(got[i], ref["descriptor"][name], atol=1e-5, rtol=0)
    # the two images give different descriptors: the check compares something
    assert np.abs(got[0] - got[1]).max() > 0.01


def test_a_written_network_reads_back_exactly(tmp_path):
    data, weights = w.resnet29(np.random.default_rng(0))
    path = tmp_path / "net.dat"
    path.write_bytes(data)
    records = read_records(path)
    assert [r.name for r in records][:5] == ["input_rgb_image_sized", "con_4", "affine_",
                                              "relu_", "max_pool_2"]
    assert records[0].fields["nr"] == 150 and records[-1].name == "loss_metric_2"
    assert abs(records[0].fields["avg_red"] - 122.782) < 1e-12
    state = state_from_records(records, str(path))
    assert set(state) == set(weights)
    for key, value in weights.items():  # fc included: dlib's (in, out) is transposed
        assert np.array_equal(state[key].numpy(), value), key
    taps = DlibTaps()
    taps.load_pretrained(str(path))  # a .dat as weights_file: converted, then loaded
    assert torch.equal(taps.fc.weight, torch.from_numpy(weights["fc.weight"]))


def test_a_small_network_reads_back_and_is_refused_as_the_face_resnet(tmp_path):
    rng = np.random.default_rng(1)
    weight = rng.normal(size=(4, 3, 3, 3)).astype(np.float32)
    small = w.network([w.con(weight, np.arange(4, dtype=np.float32), 1, 1),
                       w.affine(np.ones(4, np.float32), np.zeros(4, np.float32)), w.RELU,
                       w.pool("avg_pool", 0, 1), w.fc(np.ones((4, 2), np.float32))],
                      wrappers={1: 2})
    path = tmp_path / "small.dat"
    path.write_bytes(small)
    records = read_records(path)
    assert [r.kind for r in records] == ["input_rgb_image_sized", "con", "affine", "relu",
                                         "avg_pool", "fc", "loss_metric"]
    assert np.array_equal(records[1].params[:108], weight.reshape(-1))
    assert np.array_equal(records[1].params[108:], np.arange(4))
    with pytest.raises(DlibFormatError, match=r"small\.dat: 1 convolutions, 1 affine"):
        state_from_records(records, str(path))


def test_damaged_files_are_refused_naming_them(tmp_path):
    data, _ = w.resnet29(np.random.default_rng(0))
    cut = tmp_path / "cut.dat"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DlibFormatError, match=r"cut\.dat: file ends"):
        read_records(cut)
    trailing = tmp_path / "trailing.dat"
    trailing.write_bytes(data + b"\x00")
    with pytest.raises(DlibFormatError, match=r"trailing\.dat: 1 bytes after"):
        read_records(trailing)
    other = tmp_path / "other.dat"
    other.write_bytes(w.pack_int(1) + w.pack_str("loss_multiclass_log_"))
    with pytest.raises(DlibFormatError, match=r"other\.dat: unknown or misplaced"):
        read_records(other)


def test_a_network_with_a_layer_less_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    data, _ = w.resnet29(rng)
    records = read_records(_write(tmp_path / "a.dat", data))
    del records[5:7]  # one convolution and its affine layer
    with pytest.raises(DlibFormatError, match="28 convolutions, 28 affine layers"):
        state_from_records(records, "a.dat")
    records = read_records(_write(tmp_path / "b.dat", data))
    records[5].fields["stride_y"] = 2  # the counts hold, the architecture does not
    with pytest.raises(DlibFormatError, match="layer 5 is"):
        state_from_records(records, "b.dat")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_conversion_is_made_once_and_named_by_the_file_digest(tmp_path):
    first = converted_file(package_dat())
    stamp = first.stat().st_mtime_ns
    assert first.name.startswith("dlib_resnet29-") and first.suffix == ".safetensors"
    assert converted_file(package_dat()) == first and first.stat().st_mtime_ns == stamp


def test_registered_backbone_in_fernet():
    assert "dlib_resnet29" in backbone_names() and min_input_size("dlib_resnet29") == 103
    taps = build_taps("dlib_resnet29")
    assert taps.stage_channels == [32, 64, 128, 256, 256] and taps.fc_dim == 128
    model = FERNet(ModelConfig(backbone="dlib_resnet29", tap_dim=8, hidden=8))
    assert model.input_size == 150
    assert model.load_imagenet() == []
    x = torch.randint(0, 255, (2, 1, 48, 48), dtype=torch.uint8)
    shapes = [tuple(t.shape) for t in model.taps(x)]
    assert shapes == [(2, 32, 35, 35), (2, 64, 17, 17), (2, 128, 8, 8), (2, 256, 4, 4),
                      (2, 256, 2, 2), (2, 128)]
    # a grey face is the RGB network's input with three equal channels
    grey = model.normalised(x)
    assert torch.allclose(grey[:, 0] * 256 + 122.782, grey[:, 1] * 256 + 117.001, atol=1e-3)


def test_a_wrong_safetensors_file_is_refused(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "other.safetensors"
    save_file({"conv.weight": torch.zeros(1)}, str(path))
    with pytest.raises(ValueError, match=r"other\.safetensors is not a converted"):
        DlibTaps().load_pretrained(str(path))


# --- training with frozen, cached stages (training/frozen.py) --------------------------------

def _plan(freeze: str, method: str = "dann", **changes):
    from fer_da.training.config import RunPlan, TrainConfig

    cfg = TrainConfig(**{"epochs": 2, "batch_size": 7, "tap_dim": 8, "hidden": 8,
                         "device": "cpu", "backbone": "dlib_resnet29", "pretrained": True,
                         "freeze": freeze, "augment": {}, "select": "source_val", **changes})
    return RunPlan(setup="dann", run="r", seed=0, mode="dann", train_domains=("src", "tgt"),
                   labelled_domains=("src",), all_domains=("src", "tgt"), clamp=3.0,
                   method=method, config=cfg)


def _data():
    from fer_da.training.data import training_view
    from tests.conftest import make_face_sets

    return training_view(make_face_sets(size=24, per_label=3), ("src", "tgt"), ("src",))


def test_cached_rows_give_the_model_what_the_images_give():
    from fer_da.training.frozen import compute_rows

    torch.manual_seed(0)
    model = FERNet(ModelConfig(backbone="dlib_resnet29", tap_dim=8, hidden=8)).eval()
    model.load_imagenet()
    x = torch.randint(0, 255, (5, 24, 24), dtype=torch.uint8).numpy()
    for depth in (0, 3, 4, 6):  # stem, level2, level1, all
        rows = compute_rows(model, x, depth, torch.device("cpu"), 2)
        model.cache_layout = model.layout
        with torch.no_grad():
            cached = model(torch.from_numpy(rows).unsqueeze(1)).class_logp
            mirrored = model(torch.from_numpy(rows[:, 1])).class_logp
            model.cache_layout = None
            direct = model(torch.from_numpy(x).unsqueeze(1)).class_logp
            flipped = model(torch.from_numpy(x).unsqueeze(1).flip(-1)).class_logp
        assert torch.allclose(cached, direct, atol=1e-5), depth
        assert torch.allclose(mirrored, flipped, atol=1e-5), depth
        assert not torch.allclose(direct, flipped, atol=1e-3)


def test_frozen_stages_keep_their_weights_and_the_rest_trains(tmp_path):
    from fer_da.training.checkpoints import CheckpointStore
    from fer_da.training.loop import train_run

    pretrained = DlibTaps()
    pretrained.load_pretrained(None)
    trained = train_run(_plan("level1"), _data(), 7, CheckpointStore(tmp_path / "ck" / "dann"))
    for key, value in pretrained.state_dict().items():
        same = torch.equal(trained.state[f"backbone.{key}"], value)
        assert same == (not key.startswith("levels.4.") and not key.startswith("fc.")), key
    assert trained.provenance["pretrained_weights"]
    cached = list((tmp_path / "cache" / "frozen_rows").glob("*.npy"))
    assert len(cached) == 3  # src train, src val, tgt pool


def test_the_row_cache_is_reused_and_gives_the_same_model(tmp_path, monkeypatch):
    from fer_da.training import frozen
    from fer_da.training.checkpoints import CheckpointStore
    from fer_da.training.loop import train_run

    folder = tmp_path / "ck" / "dann"
    first = train_run(_plan("level0"), _data(), 7, CheckpointStore(folder))

    def refuse(*args, **kwargs):
        raise AssertionError("rows computed again")

    monkeypatch.setattr(frozen, "compute_rows", refuse)
    again = train_run(_plan("level0", resume=False), _data(), 7, CheckpointStore(folder))
    assert all(torch.equal(first.state[k], again.state[k]) for k in first.state)
    with pytest.raises(AssertionError, match="rows computed again"):  # another depth
        train_run(_plan("level1", resume=False), _data(), 7, CheckpointStore(folder))


def test_evaluation_reads_the_rows_and_scores_as_from_the_images(tmp_path, monkeypatch):
    from fer_da.training import frozen
    from fer_da.training.evaluate import load_model, predict
    from fer_da.training.loop import train_run

    trained = train_run(_plan("level1"), _data(), 7)
    faces = _data()[1].images
    model = load_model(trained.model_config, trained.state)
    direct = predict(model, faces, "cpu", 4, "flip")
    cached = predict(model, faces, "cpu", 4, "flip", "level1")
    assert model.cache_layout is None  # the model reads images again afterwards
    for a, b in zip(direct, cached, strict=True):
        assert np.allclose(a, b, atol=1e-5)
    monkeypatch.setattr(frozen, "compute_rows", lambda *a, **k: 1 / 0)
    again = predict(model, faces, "cpu", 4, "flip", "level1")  # the training run's rows
    assert np.array_equal(again[0], cached[0])


def test_rows_key_follows_weights_faces_and_depth():
    from fer_da.training.frozen import rows_key

    model = FERNet(ModelConfig(backbone="dlib_resnet29", tap_dim=8, hidden=8))
    faces = np.zeros((3, 24, 24), np.uint8)
    key = rows_key(model, faces, 4)
    assert rows_key(model, faces, 4) == key
    assert rows_key(model, faces, 3) != key
    other = faces.copy()
    other[0, 0, 0] = 1
    assert rows_key(model, other, 4) != key
    with torch.no_grad():  # a trainable stage: the frozen rows are the same
        model.backbone.fc.weight[0, 0] += 1
    assert rows_key(model, faces, 4) == key
    with torch.no_grad():  # a frozen one: other rows
        model.backbone.levels[3][0].conv1.weight[0, 0, 0, 0] += 1
    assert rows_key(model, faces, 4) != key


def test_flip_picks_the_mirror_about_half_the_time():
    from fer_da.training.augment import AugmentConfig
    from fer_da.training.frozen import choose_view

    rows = torch.stack([torch.zeros(400, 3), torch.ones(400, 3)], 1).unsqueeze(1)
    gen = torch.Generator().manual_seed(0)
    picked, mirror = choose_view(rows, AugmentConfig(), gen)
    assert picked.shape == (400, 3) and 150 < int(picked[:, 0].sum()) < 250
    assert torch.equal(picked[:, 0].bool(), mirror)
    for cfg in (AugmentConfig(flip=False), AugmentConfig(enabled=False)):
        picked, mirror = choose_view(rows, cfg, gen)
        assert int(picked.sum()) == 0 and not mirror.any()


def test_faces_are_mirrored_as_their_rows_were():
    from fer_da.training.frozen import as_chosen

    faces = torch.arange(2 * 3 * 3, dtype=torch.uint8).view(2, 1, 3, 3)
    out = as_chosen(faces, torch.tensor([True, False]))
    assert torch.equal(out[0], faces[0].flip(-1).float())
    assert torch.equal(out[1], faces[1].float())


def test_sna_with_frozen_stages_makes_its_neighbours_from_the_faces(monkeypatch):
    from fer_da.models import autoencoder
    from fer_da.models.autoencoder import fit_autoencoder
    from fer_da.training.config import RunPlan, TrainConfig
    from fer_da.training.data import training_view
    from fer_da.training.loop import train_run
    from tests.conftest import make_face_sets

    seen = []
    real = autoencoder.neighbour_maker

    def spy(*args, **kwargs):
        make = real(*args, **kwargs)

        def wrapped(x):
            seen.append(tuple(x.shape))
            return make(x)
        return wrapped

    monkeypatch.setattr("fer_da.training.loop.neighbour_maker", spy)
    data = training_view(make_face_sets(size=24, per_label=3), ("src",), ("src",))
    state, std = fit_autoencoder(data[0].images, 8, 1, 0, torch.device("cpu"))
    cfg = TrainConfig(epochs=1, batch_size=7, tap_dim=8, hidden=8, device="cpu",
                      backbone="dlib_resnet29", pretrained=True, freeze="all", augment={})
    plan = RunPlan(setup="sna", run="src", seed=0, mode="supervised", train_domains=("src",),
                   labelled_domains=("src",), all_domains=("src", "tgt"), method="sna",
                   config=cfg)
    trained = train_run(plan, data, 7, autoencoder={"state": state, "code_std": std})
    assert seen and all(s[1:] == (1, 24, 24) for s in seen)  # faces, not rows
    assert 0.0 <= trained.history[-1]["masked"] <= 1.0


def test_freeze_is_refused_where_it_cannot_work():
    from fer_da.training.loop import train_run
    from fer_da.validate import ConfigError

    with pytest.raises(ConfigError, match="training.freeze: 'level9' is not a stage"):
        train_run(_plan("level9"), _data(), 7)
    with pytest.raises(ConfigError, match="training.freeze: 'level1' needs a backbone with "
                                          "named stages"):
        train_run(_plan("level1", backbone="vgg11_slim_bn", pretrained=False), _data(), 7)
    from fer_da.training.config import TrainConfig

    with pytest.raises(ConfigError, match="training.freeze must be none or a stage"):
        TrainConfig.from_params({"freeze": 3})


def test_preflight_names_a_freeze_or_weights_file_the_run_cannot_use(tmp_path):
    from fer_da.preflight import check_backbone
    from fer_da.validate import ConfigError

    ok = {"backbone": "dlib_resnet29", "freeze": "level1", "pretrained": True}
    assert check_backbone(ok, "dann") == 103
    with pytest.raises(ConfigError, match=r"training.input_size\): 64 is below what "
                                          "'dlib_resnet29' takes: at least 103 px"):
        check_backbone({**ok, "input_size": 64}, "dann")
    with pytest.raises(ConfigError, match=r"dann.setup.training.freeze \(or training.freeze\):"
                                          r" 'level7' is not a stage of 'dlib_resnet29'"):
        check_backbone({**ok, "freeze": "level7"}, "dann")
    with pytest.raises(ConfigError, match="'level1' is not a stage of 'vgg11_slim_bn'"):
        check_backbone({**ok, "backbone": "vgg11_slim_bn"}, "baseline")
    with pytest.raises(ConfigError, match=r"training.weights_file\): .*nope.dat does not exist"):
        check_backbone({**ok, "weights_file": str(tmp_path / "nope.dat")}, "dann")


def test_adabn_on_a_backbone_without_batch_norm_is_refused_before_any_work():
    from fer_da.preflight import check_batchnorm
    from fer_da.validate import ConfigError

    check_batchnorm("vgg11_slim_bn", "dann/adabn/seed0", "dann")
    with pytest.raises(ConfigError, match=r"dann.setup.methods: dann/adabn/seed0 is an AdaBN "
                                          r"run, but the backbone 'dlib_resnet29' has no"):
        check_batchnorm("dlib_resnet29", "dann/adabn/seed0", "dann")
