import numpy as np
import pytest

from fer_da.training.metrics import classification_metrics

CLASSES = ("a", "b", "c")


def _logp(pred: list[int], k: int = 3) -> np.ndarray:
    p = np.full((len(pred), k), 0.1)
    p[np.arange(len(pred)), pred] = 0.8
    return np.log(p)


def test_metrics_against_a_hand_count():
    labels = np.array([0, 0, 0, 0, 1, 1])  # class c absent
    pred = [0, 0, 0, 1, 1, 2]
    m = classification_metrics(_logp(pred), labels, CLASSES)
    assert m["accuracy"] == pytest.approx(4 / 6)
    # recalls: a 3/4, b 1/2 -> balanced accuracy 0.625 (c absent: not averaged)
    assert m["recall_a"] == pytest.approx(0.75) and m["recall_b"] == pytest.approx(0.5)
    assert np.isnan(m["recall_c"]) and m["balanced_accuracy"] == pytest.approx(0.625)
    # F1: a p=3/3 r=3/4 -> 6/7; b p=1/2 r=1/2 -> 1/2; macro over present classes
    assert m["macro_f1"] == pytest.approx((6 / 7 + 0.5) / 2)
    assert m["nll"] == pytest.approx(-(4 * np.log(0.8) + 2 * np.log(0.1)) / 6)


def test_one_class_predictor_on_an_imbalanced_target():
    labels = np.array([0] * 84 + [1] * 10 + [2] * 6)  # 84% one class
    m = classification_metrics(_logp([0] * 100), labels, CLASSES)
    assert m["accuracy"] == pytest.approx(0.84)
    assert m["balanced_accuracy"] == pytest.approx(1 / 3)  # chance, as it should read
    assert m["macro_f1"] == pytest.approx((2 * 0.84 / 1.84) / 3)
    empty = classification_metrics(np.zeros((0, 3)), np.zeros(0, np.int64), CLASSES)
    assert np.isnan(empty["accuracy"]) and np.isnan(empty["balanced_accuracy"])
