"""Backbones by name with published weights: torchvision's ResNets, the IR-50 face ResNet of
the cross-domain FER benchmark and any timm model, each loading a weights file the test
writes in that file's published key layout (random values), then one training step."""

from __future__ import annotations

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from fer_da.models import FERNet, ModelConfig
from fer_da.models.backbones import backbone_names, build_taps, min_input_size
from fer_da.training.config import RunPlan, TrainConfig
from fer_da.training.data import training_view
from fer_da.training.loop import train_run
from tests.conftest import make_face_sets

IR50_STAGES = ((64, 64, 3), (64, 128, 4), (128, 256, 14), (256, 512, 3))  # in, depth, units


def _bn(state: dict, key: str, n: int) -> None:
    for name, value in (("weight", torch.rand(n)), ("bias", torch.rand(n)),
                        ("running_mean", torch.rand(n)), ("running_var", torch.rand(n) + 0.5),
                        ("num_batches_tracked", torch.tensor(7))):
        state[f"{key}.{name}"] = value


def published_ir50() -> dict[str, torch.Tensor]:
    """face.evoLVe's backbone_ir50_ms1m_epoch120.pth as its keys and shapes are (the
    benchmark's getPreTrainedModel_ResNet.py maps ``body.<0..23>`` onto its four stages):
    written from that description, not from fer-da's module."""
    g = torch.Generator().manual_seed(0)
    state = {"input_layer.0.weight": torch.randn(64, 3, 3, 3, generator=g),
             "input_layer.2.weight": torch.rand(64, generator=g)}
    _bn(state, "input_layer.1", 64)
    unit = 0
    for in_channel, depth, units in IR50_STAGES:
        for k in range(units):
            c_in, stride = (in_channel, 2) if k == 0 else (depth, 1)
            key = f"body.{unit}"
            if c_in != depth:  # a MaxPool2d(1, stride) shortcut holds no weights
                state[f"{key}.shortcut_layer.0.weight"] = torch.randn(depth, c_in, 1, 1)
                _bn(state, f"{key}.shortcut_layer.1", depth)
            _bn(state, f"{key}.res_layer.0", c_in)
            state[f"{key}.res_layer.1.weight"] = torch.randn(depth, c_in, 3, 3) * 0.05
            state[f"{key}.res_layer.2.weight"] = torch.rand(depth)
            state[f"{key}.res_layer.3.weight"] = torch.randn(depth, depth, 3, 3) * 0.05
            _bn(state, f"{key}.res_layer.4", depth)
            unit += 1
    _bn(state, "output_layer.0", 512)  # the embedding head: BN, dropout, flatten, FC, BN
    state["output_layer.3.weight"] = torch.randn(512, 512 * 7 * 7) * 0.001
    state["output_layer.3.bias"] = torch.zeros(512)
    _bn(state, "output_layer.4", 512)
    return state


def test_the_registry_lists_and_refuses_names():
    names = backbone_names()
    assert {"vgg11_slim_bn", "resnet18", "torchvision:resnet18", "torchvision:resnet50",
            "ir18", "ir50", "timm:<name>"} <= set(names)
    with pytest.raises(ValueError, match="unknown backbone 'resnet99'"):
        build_taps("resnet99")
    with pytest.raises(ValueError, match="timm has no model 'no_such_net'"):
        build_taps("timm:no_such_net")
    assert min_input_size("ir50") == 16 and min_input_size("timm:resnet18") == 32


def test_ir50_loads_the_published_state_dict_and_its_face_normalisation(tmp_path):
    path = tmp_path / "backbone_ir50_ms1m_epoch120.pth"
    state = published_ir50()
    torch.save(state, path)
    model = FERNet(ModelConfig(backbone="ir50", n_classes=7, n_domains=2))
    left_out = model.load_imagenet(str(path))
    assert left_out == sorted(k for k in state if k.startswith("output_layer."))
    own = model.backbone.state_dict()
    for key in ("input_layer.0.weight", "body.3.shortcut_layer.0.weight",
                "body.23.res_layer.4.running_var", "body.6.res_layer.2.weight"):
        assert torch.equal(own[key], state[key]), key
    assert model.input_size == 112  # MS-Celeb-1M faces are 112 x 112
    assert torch.allclose(model.mean.flatten(), torch.full((3,), 127.5))
    assert torch.allclose(model.std.flatten(), torch.full((3,), 127.5))
    taps = model.taps(torch.zeros(2, 1, 48, 48, dtype=torch.uint8))  # resized to 112
    assert [t.shape[-1] for t in taps[:-1]] == [112, 56, 28, 14, 7]


def test_a_file_of_another_layout_is_refused_naming_what_is_missing(tmp_path):
    from torchvision.models import resnet50

    path = tmp_path / "resnet50.pth"
    torch.save(resnet50(weights=None).state_dict(), path)
    with pytest.raises(ValueError, match=r"does not fit IRTaps: 285 keys missing "
                                         r"\(e.g. \[.body.0.res_layer"):
        FERNet(ModelConfig(backbone="ir50")).load_imagenet(str(path))
    bad = published_ir50()
    bad["body.0.res_layer.1.weight"] = torch.zeros(64, 64, 5, 5)
    torch.save(bad, path)
    with pytest.raises(ValueError, match=r"shapes differ for \['body.0.res_layer.1.weight'\]"):
        FERNet(ModelConfig(backbone="ir50")).load_imagenet(str(path))
    torch.save({"weights": [1, 2]}, path)
    with pytest.raises(ValueError, match="holds no state dict of tensors"):
        FERNet(ModelConfig(backbone="ir50")).load_imagenet(str(path))


def test_torchvision_resnets_load_torchvisions_file(tmp_path, monkeypatch):
    from torchvision.models import resnet18

    path = tmp_path / "resnet18-f37072fd.pth"
    state = resnet18(weights=None).state_dict()
    torch.save(state, path)
    model = FERNet(ModelConfig(backbone="torchvision:resnet18"))
    assert model.load_imagenet(str(path)) == ["fc.bias", "fc.weight"]
    assert torch.equal(model.backbone.layer4[1].conv2.weight, state["layer4.1.conv2.weight"])
    assert torch.allclose(model.mean.flatten() / 255, torch.tensor([0.485, 0.456, 0.406]))
    hub = tmp_path / "torch" / "hub"
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # torch.hub.get_dir() follows
    with pytest.raises(FileNotFoundError, match="resnet18-f37072fd.pth.*nothing is "
                                                "downloaded"):
        FERNet(ModelConfig(backbone="torchvision:resnet18")).load_imagenet()
    (hub / "checkpoints").mkdir(parents=True)
    (hub / "checkpoints" / path.name).write_bytes(path.read_bytes())
    assert FERNet(ModelConfig(backbone="torchvision:resnet18")).load_imagenet() == [
        "fc.bias", "fc.weight"]


def test_a_timm_model_loads_its_safetensors_file_and_the_local_cache(tmp_path, monkeypatch):
    import timm
    from huggingface_hub import constants

    state = timm.create_model("resnet18", pretrained=False).state_dict()
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    model = FERNet(ModelConfig(backbone="timm:resnet18"))
    assert model.load_imagenet(str(path)) == ["fc.bias", "fc.weight"]
    assert torch.equal(model.backbone.net.layer3[0].conv1.weight, state["layer3.0.conv1.weight"])
    assert model.backbone.stage_channels == [64, 64, 128, 256, 512]
    # the Hugging Face cache as huggingface_hub lays it out (refs/main -> a snapshot)
    repo = tmp_path / "hf" / "models--timm--resnet18.a1_in1k"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(FileNotFoundError, match="Hugging Face cache of timm/resnet18"):
        FERNet(ModelConfig(backbone="timm:resnet18")).load_imagenet()
    (repo / "snapshots" / "abc123" / "model.safetensors").write_bytes(path.read_bytes())
    cached = FERNet(ModelConfig(backbone="timm:resnet18"))
    assert cached.load_imagenet() == ["fc.bias", "fc.weight"]


@pytest.mark.parametrize("backbone, writer", [
    ("ir50", lambda p: torch.save(published_ir50(), p)),
    ("timm:resnet18", lambda p: torch.save(__import__("timm").create_model(
        "resnet18").state_dict(), p)),
    ("torchvision:resnet18", lambda p: torch.save(__import__(
        "torchvision").models.resnet18().state_dict(), p)),
])
def test_one_training_step_from_published_weights(tmp_path, backbone, writer):
    path = tmp_path / "weights.pth"
    writer(path)
    face_sets = make_face_sets(size=32, per_label=2)
    cfg = TrainConfig(epochs=1, batch_size=7, tap_dim=8, hidden=8, device="cpu",
                      backbone=backbone, pretrained=True, weights_file=str(path),
                      input_size=32)  # a small input keeps IR-50 quick on the CPU
    plan = RunPlan(setup="baseline", run="src", seed=0, mode="supervised",
                   train_domains=("src",), labelled_domains=("src",),
                   all_domains=("src", "tgt"), method="erm", config=cfg)
    trained = train_run(plan, training_view(face_sets, ("src",), ("src",)), 7)
    assert all(row["clf_loss"] == row["clf_loss"] for row in trained.history)  # no NaN
    first = next(k for k in trained.state if k.startswith("backbone.") and
                 k.endswith("weight") and trained.state[k].ndim == 4)
    published = torch.load(path, weights_only=True)
    # started from the file's weights and moved by the step
    assert not torch.equal(trained.state[first],
                           published[first.removeprefix("backbone.").removeprefix("net.")])
    assert trained.model_config["backbone"] == backbone


@pytest.mark.slow
def test_ir50_and_a_timm_model_train_and_evaluate_on_the_synthetic_default(tmp_path):
    import pandas as pd
    import timm

    from tests.conftest import make_tiny_project, run_in_project

    root = make_tiny_project(tmp_path / "project")
    ir50, resnet = tmp_path / "ir50.pth", tmp_path / "resnet18.safetensors"
    torch.save(published_ir50(), ir50)
    save_file(timm.create_model("resnet18").state_dict(), str(resnet))
    metrics = root / "data" / "08_reporting" / "baseline_metrics.csv"
    seen = {}
    for backbone, weights in (("ir50", ir50), ("timm:resnet18", resnet)):
        run_in_project(root, "tiny", "baseline", params={"training": {
            "backbone": backbone, "pretrained": True, "weights_file": str(weights),
            "epochs": 1, "input_size": 48}})  # IR-50 at 48 px: its 112 is minutes on a CPU
        frame = pd.read_csv(metrics)
        assert set(frame["eval_domain"]) == {"kdef", "ckplus", "jaffe", "tfeid"}
        assert frame["accuracy"].between(0, 1).all()
        seen[backbone] = frame["config_hash"].iloc[0]
        models = sorted((root / "data" / "06_models" / "baseline").iterdir())[-1]
        first = str(next(models.rglob("*.safetensors")))
        with safe_open(first, "pt") as handle:
            config = handle.metadata()["model_config"]
        assert f'"backbone": "{backbone}"' in config, config[:300]
    assert len(set(seen.values())) == 2  # two different models, each evaluated


def test_timm_maps_its_own_keys_for_wrapped_feature_models(tmp_path):
    import timm

    state = timm.create_model("convnext_atto").state_dict()  # stages.0 in the file, stages_0
    path = tmp_path / "model.safetensors"                    # in the features_only model
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    model = FERNet(ModelConfig(backbone="timm:convnext_atto"))
    assert model.load_imagenet(str(path)) == ["head.fc.bias", "head.fc.weight"]
    assert torch.equal(model.backbone.net.stages_2.blocks[0].conv_dw.weight,
                       state["stages.2.blocks.0.conv_dw.weight"])


def test_channels_last_feature_maps_are_put_channels_first():
    model = FERNet(ModelConfig(backbone="timm:swin_tiny_patch4_window7_224", tap_dim=4))
    taps = model.taps(torch.zeros(1, 1, 32, 32, dtype=torch.uint8))
    assert [t.shape[1] for t in taps[:-1]] == model.backbone.stage_channels


def test_a_torchvision_file_without_batch_norm_counters_loads(tmp_path):
    from torchvision.models import resnet18

    state = {k: v for k, v in resnet18(weights=None).state_dict().items()
             if not k.endswith("num_batches_tracked")}  # as torchvision's own file
    torch.save(state, tmp_path / "resnet18-f37072fd.pth")
    model = FERNet(ModelConfig(backbone="torchvision:resnet18"))
    assert model.load_imagenet(str(tmp_path / "resnet18-f37072fd.pth")) == ["fc.bias",
                                                                           "fc.weight"]
    assert torch.equal(model.backbone.bn1.running_var, state["bn1.running_var"])
