"""Weight files a user hands over: read as state dicts only, and every way one can be wrong
is an error naming the file and the key; their content (not their path) is in the
checkpoint fingerprint."""

from __future__ import annotations

import pickle

import pytest
import torch
from safetensors.torch import save_file

from fer_da.models.weights import read_state_dict
from fer_da.training.config import TrainConfig
from fer_da.validate import ConfigError


def _state() -> dict[str, torch.Tensor]:
    return {"conv.weight": torch.randn(4, 3, 3, 3), "conv.bias": torch.zeros(4)}


def test_a_truncated_or_mislabelled_file_names_itself_and_the_key(tmp_path):
    good = tmp_path / "w.safetensors"
    save_file(_state(), str(good))
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"training.weights_file: .*cut\.safetensors could "
                                         r"not be read as a state dict"):
        read_state_dict(cut)
    pth = tmp_path / "really_a_pth.safetensors"
    torch.save(_state(), pth)
    with pytest.raises(ValueError, match=r"really_a_pth\.safetensors could not be read"):
        read_state_dict(pth)
    assert set(read_state_dict(good)) == {"conv.weight", "conv.bias"}


class _Hostile:
    def __reduce__(self):
        import os

        return os.system, (f"touch {_Hostile.marker}",)


def test_a_hostile_pickle_is_refused_and_never_run(tmp_path):
    _Hostile.marker = tmp_path / "ran"
    path = tmp_path / "weights.pth"
    path.write_bytes(pickle.dumps({"conv.weight": _Hostile()}))
    with pytest.raises(ValueError, match=r"training.weights_file: .*weights\.pth could not be "
                                         r"read .*nothing is unpickled"):
        read_state_dict(path)
    assert not _Hostile.marker.exists()


def test_non_finite_weights_are_refused_naming_the_tensor(tmp_path):
    state = _state()
    state["conv.bias"][1] = float("nan")
    path = tmp_path / "nan.safetensors"
    save_file(state, str(path))
    with pytest.raises(ValueError, match=r"nan\.safetensors holds non-finite values .*"
                                         r"conv\.bias"):
        read_state_dict(path)


def test_weights_file_must_be_a_path_and_needs_pretrained():
    with pytest.raises(ConfigError, match=r"training.weights_file must be a path .* got 123"):
        TrainConfig.from_params({"weights_file": 123, "pretrained": True})
    with pytest.raises(ConfigError, match=r"training.weights_file is set but "
                                          r"training.pretrained is not true"):
        TrainConfig.from_params({"weights_file": "w.pth"})
    assert TrainConfig.from_params({"weights_file": "w.pth", "pretrained": True}).weights_file


def test_other_weights_at_the_same_path_train_afresh(tmp_path, caplog):
    import torchvision

    from fer_da.training.checkpoints import CheckpointStore
    from fer_da.training.config import RunPlan
    from fer_da.training.data import training_view
    from fer_da.training.loop import train_run
    from tests.conftest import make_face_sets

    path = tmp_path / "resnet18.pth"
    cfg = TrainConfig(epochs=1, batch_size=7, tap_dim=8, hidden=8, device="cpu",
                      backbone="torchvision:resnet18", pretrained=True, weights_file=str(path),
                      input_size=32)
    plan = RunPlan(setup="baseline", run="src", seed=0, mode="supervised",
                   train_domains=("src",), labelled_domains=("src",),
                   all_domains=("src", "tgt"), method="erm", config=cfg)
    data = training_view(make_face_sets(size=32, per_label=2), ("src",), ("src",))
    store = CheckpointStore(tmp_path / "ck")
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18().state_dict(), path)
    first = train_run(plan, data, 7, store)
    with caplog.at_level("INFO"):
        again = train_run(plan, data, 7, store)  # same file: the checkpoint is reused
    assert "resuming after epoch 1" in caplog.text
    assert all(torch.equal(first.state[k], again.state[k]) for k in first.state)
    torch.manual_seed(1)
    torch.save(torchvision.models.resnet18().state_dict(), path)  # other weights, same path
    caplog.clear()
    with caplog.at_level("INFO"):
        other = train_run(plan, data, 7, store)
    assert "resuming" not in caplog.text
    assert other.provenance["pretrained_weights"] != first.provenance["pretrained_weights"]
