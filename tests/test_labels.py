import pytest

from fer_da.labels import CANONICAL_LABELS, label_index, label_set


def test_label_set_has_seven_and_optional_contempt():
    assert label_set() == CANONICAL_LABELS
    assert len(label_set()) == 7
    assert label_set(keep_contempt=True)[-1] == "contempt"


def test_label_index_rejects_unknown():
    assert label_index(["neutral", "anger"], CANONICAL_LABELS) == [6, 0]
    with pytest.raises(ValueError, match="contempt"):
        label_index(["contempt"], CANONICAL_LABELS)
