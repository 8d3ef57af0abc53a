"""What the validators read (training/selection.py), on a model whose outputs are known:
each image's mean brightness is its single feature and picks its class."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from fer_da.training import selection
from fer_da.training.data import DomainData
from fer_da.training.selection import (
    selection_score,
    validation_inputs,
    validator_scores,
)
from fer_da.validate import ConfigError


class Brightness(torch.nn.Module):
    """logits (B, 2) = (mean, -mean); features (B, 1) = mean/255; counts its eval calls."""

    def __init__(self):
        super().__init__()
        self.calls, self.modes = 0, []

    def forward(self, x):
        self.calls += 1
        self.modes.append(self.training)
        m = x.float().mean(dim=(1, 2, 3)) / 255.0
        logits = torch.stack([m, -m], 1) * 10
        return SimpleNamespace(class_logp=torch.log_softmax(logits, 1), features=m[:, None])


def _images(values):
    return np.stack([np.full((4, 4), v, np.uint8) for v in values])


def _data():
    src = DomainData("src", _images([10, 200, 30, 220]), np.array([1, 0, 1, 0]),
                     val_images=_images([240, 20, 5]), val_labels=np.array([0, 1, 0]))
    tgt = DomainData("tgt", _images([250, 50, 100]), None)
    return [src, tgt]


def test_each_role_reads_its_own_images_and_never_a_target_label():
    model = Brightness().train()
    got = validation_inputs(model, _data(), torch.device("cpu"), 2,
                            {"source_val_logits", "source_train_features", "target_logits"})
    assert got["source_val_labels"].tolist() == [0, 1, 0]
    assert got["source_val_logits"].argmax(1).tolist() == [0, 0, 0]  # bright -> class 0
    assert got["source_val_features"][:, 0].tolist() == pytest.approx([240 / 255, 20 / 255,
                                                                        5 / 255])
    assert got["source_train_labels"].tolist() == [1, 0, 1, 0]
    assert got["source_train_features"].shape == (4, 1)
    assert got["target_features"][:, 0].tolist() == pytest.approx([250 / 255, 50 / 255,
                                                                    100 / 255])
    assert got["target_logits"].shape == (3, 2)
    assert model.training and not any(model.modes)  # eval for the passes, restored after
    assert model.calls == 2 + 2 + 2  # batches of 2: val 3, train 4, target 3 images
    assert validation_inputs(model, _data(), torch.device("cpu"), 2, {"target_logits"}).keys(
    ) == {"target_logits", "target_features"}  # only what was asked for


def test_scores_by_hand_and_what_a_run_without_target_records():
    model = Brightness()
    data = _data()
    # source_val: predictions (0, 0, 0) against labels (0, 1, 0): 2 of 3
    assert selection_score("source_val", model, data, torch.device("cpu"), 8) == \
        pytest.approx(2 / 3)
    scores = validator_scores(("target_entropy", "source_val", "snd"), model, data,
                              torch.device("cpu"), 8)
    assert list(scores) == ["val_target_entropy", "val_source_val", "val_snd"]  # in order
    assert scores["val_source_val"] == pytest.approx(2 / 3)
    assert scores["val_target_entropy"] < 0  # negated entropy
    alone = validator_scores(("target_entropy", "source_val", "bnm"), model, data[:1],
                             torch.device("cpu"), 8)
    assert alone == {"val_source_val": pytest.approx(2 / 3)}
    with pytest.raises(ValueError, match=r"need an unlabelled \(target\) domain"):
        selection_score("target_entropy", model, data[:1], torch.device("cpu"), 8)
    with pytest.raises(ValueError, match="needs a validation split on a labelled domain"):
        selection_score("source_val", model, [data[1]], torch.device("cpu"), 8)
    with pytest.raises(ConfigError, match="the oracle reads target test"):
        selection_score("oracle", model, data, torch.device("cpu"), 8)


def test_only_snd_class_ami_and_dev_read_a_sample(monkeypatch):
    monkeypatch.setattr(selection, "SAMPLE", 2)
    model = Brightness()
    data = _data()
    full = validation_inputs(model, data, torch.device("cpu"), 8, {"target_logits"},
                             sample=False)
    part = validation_inputs(model, data, torch.device("cpu"), 8,
                             {"target_logits", "source_train_features"}, sample=True)
    assert len(full["target_logits"]) == 3 and len(part["target_logits"]) == 2
    assert len(part["source_train_features"]) == 2 and len(part["source_train_labels"]) == 2
    again = validation_inputs(model, data, torch.device("cpu"), 8, {"target_logits"})
    torch.testing.assert_close(again["target_logits"], part["target_logits"])  # seeded
    seen = []
    real = selection.validation_inputs

    def spy(model, data, device, batch_size, needs, sample=True):
        seen.append(sample)
        return real(model, data, device, batch_size, needs, sample)

    monkeypatch.setattr(selection, "validation_inputs", spy)
    validator_scores(("target_im", "snd", "bnm"), model, data, torch.device("cpu"), 8)
    assert seen == [False, True]  # im and bnm on the whole pool, snd on the sample
    seen.clear()
    selection_score("target_entropy", model, data, torch.device("cpu"), 8)
    selection_score("dev", model, data, torch.device("cpu"), 8)
    assert seen == [False, True]
    assert selection.SAMPLED == ("snd", "class_ami", "dev")
