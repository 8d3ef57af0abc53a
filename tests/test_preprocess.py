import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fer_da.preprocess.image import centre_box, crop_face, eye_angle, square_box, to_grey, to_rgb
from fer_da.preprocess.splits import assign_split


def test_square_box_geometry():
    assert square_box((10, 20, 30, 60), 0.0) == (0.0, 20.0, 40.0, 60.0)
    x0, y0, x1, y1 = square_box((10, 20, 30, 60), 0.5)
    assert (x1 - x0, y1 - y0) == (60.0, 60.0) and ((x0 + x1) / 2, (y0 + y1) / 2) == (20, 40)
    assert centre_box(100, 200, 0.5) == (75.0, 25.0, 125.0, 75.0)


def test_crop_matches_a_face_drawn_at_a_known_box():
    grey = np.zeros((100, 120), np.uint8)
    grey[30:70, 50:90] = 255  # the "face": a bright square at x 50..90, y 30..70
    crop = crop_face(grey, square_box((50, 30, 90, 70), 0.0), 16)
    assert crop.shape == (16, 16) and crop.min() == 255
    padded = crop_face(grey, square_box((50, 30, 90, 70), 1.0), 16)
    assert padded[8, 8] == 255 and padded[0, 0] == 0 and padded[5:11, 5:11].min() == 255
    outside = crop_face(grey, (-20, -20, 20, 20), 8)  # beyond the frame: zero padding
    assert outside.max() == 0


def test_eye_alignment_angle():
    lm = np.array([[10, 10], [30, 30], [20, 25], [12, 35], [28, 35]], float)
    assert eye_angle(lm) == pytest.approx(45.0)
    assert eye_angle(np.full((5, 2), np.nan)) == 0.0


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "CMYK", "P", "I;16", "F"])
def test_every_mode_becomes_rgb_uint8(mode):
    img = Image.new(mode, (6, 4))
    rgb = to_rgb(img)
    assert rgb.shape == (4, 6, 3) and rgb.dtype == np.uint8
    assert to_grey(rgb).shape == (4, 6)


def test_sixteen_bit_is_scaled_not_clipped():
    img = Image.new("I;16", (2, 2))
    img.putdata([0, 65535, 32896, 65535])
    assert to_rgb(img)[..., 0].ravel().tolist() == [0, 255, 128, 255]


def _table(subjects=6, per=7):
    labels = ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"]
    return pd.DataFrame([{"subject": f"s{s}", "label": labels[i % 7]}
                         for s in range(subjects) for i in range(per)])


def test_subject_split_keeps_subjects_apart():
    t = _table(10)
    split = assign_split(t, "subject", 0.2, seed=1)
    val_subjects = set(t.subject[split == "val"])
    assert val_subjects and not val_subjects & set(t.subject[split == "train"])
    assert 0.1 <= (split == "val").mean() <= 0.3
    assert split.equals(assign_split(t, "subject", 0.2, seed=1))


def test_random_split_is_stratified():
    t = _table(10)
    split = assign_split(t, "random", 0.2, seed=0)
    assert (split == "val").sum() == 14
    assert set(t.label[split == "val"]) == set(t.label)
    with pytest.raises(ValueError, match="unknown split mode"):
        assign_split(t, "nope", 0.2, 0)
    with pytest.raises(ValueError, match="two subjects"):
        assign_split(_table(1), "subject", 0.2, 0)
