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


FRACTIONS = {"val": 0.2, "test": 0.2}


def test_subject_split_keeps_subjects_apart_in_three_splits():
    t = _table(10)
    split = assign_split(t, "subject", FRACTIONS, seed=1)
    by_split = {s: set(t.subject[split == s]) for s in ("train", "val", "test")}
    assert all(by_split.values())
    assert not (by_split["train"] & by_split["val"] or by_split["train"] & by_split["test"]
                or by_split["val"] & by_split["test"])
    assert 0.1 <= (split == "val").mean() <= 0.3 and 0.1 <= (split == "test").mean() <= 0.3
    assert split.equals(assign_split(t, "subject", FRACTIONS, seed=1))


def test_random_split_is_stratified():
    t = _table(10)  # 70 images, 10 per label
    split = assign_split(t, "random", FRACTIONS, seed=0)
    assert (split == "val").sum() == 14 and (split == "test").sum() == 14
    assert set(t.label[split == "val"]) == set(t.label) == set(t.label[split == "test"])
    with pytest.raises(ValueError, match="unknown split mode"):
        assign_split(t, "nope", FRACTIONS, 0)
    with pytest.raises(ValueError, match="needs at least 3 subjects, found 2"):
        assign_split(_table(2), "subject", FRACTIONS, 0)


def test_group_split_takes_the_group_from_the_file_name():
    t = pd.DataFrame({"path": [f"Train/Happy/{film}_00{i}_0000{k}.png"
                               for film in ("Amelie", "Heat", "Up", "Jaws", "Big")
                               for i in range(3) for k in range(2)],
                      "label": ["happiness", "sadness"] * 15, "subject": "unknown"})
    split = assign_split(t, "group", FRACTIONS, 0, group_regex=r"^(?P<group>.+?)_\d+_\d+")
    films = t["path"].str.split("/").str[-1].str.split("_").str[0]
    for s in ("train", "val", "test"):
        assert (split == s).any()
        assert not set(films[split == s]) & set(films[split != s])  # a film in one split
    with pytest.raises(ValueError, match=r"finds no group in 'Train/Happy/Amelie"):
        assign_split(t, "group", FRACTIONS, 0, group_regex=r"^nomatch(x)")


def test_source_split_keeps_the_layouts_own_and_carves_what_it_lacks():
    t = _table(10).assign(path=[f"f{i}.png" for i in range(70)],
                          source_split=["train"] * 50 + ["test"] * 20)
    split = assign_split(t, "source", FRACTIONS, 0)
    assert (split[50:] == "test").all()  # the layout's test is kept as is
    assert (split[:50] != "test").all() and 7 <= (split[:50] == "val").sum() <= 12  # carved
    with pytest.raises(ValueError, match="needs the layout's own split"):
        assign_split(t.assign(source_split=None), "source", FRACTIONS, 0)


def test_each_training_seed_can_have_its_own_split():
    from fer_da.facesets import FaceSet
    from fer_da.training.data import training_view

    t = _table(10).assign(label_idx=0)
    t["split"] = assign_split(t, "subject", FRACTIONS, 0)
    t["split_seed1"] = assign_split(t, "subject", FRACTIONS, 1)
    assert not t["split"].equals(t["split_seed1"])
    fs = FaceSet(np.arange(len(t), dtype=np.uint8)[:, None, None].repeat(2, 1).repeat(2, 2), t)
    assert fs.split("test", 1).table.equals(fs.subset(t["split_seed1"] == "test").table)
    assert fs.split("test", 5).table.equals(fs.split("test").table)  # no column: shared split
    view = training_view({"d": fs}, ("d",), ("d",), seed=1)[0]
    assert len(view.images) == (t["split_seed1"] == "train").sum()


def test_domain_preprocessing_overrides_merge_over_the_global_keys():
    from fer_da.preprocess.config import domain_configs

    configs = domain_configs({"detector": {"backend": "mtcnn", "min_score": 0.7}, "margin": 0.2},
                             {"crops": {"detector": {"backend": "none"}, "margin": 0},
                              "photos": {}})
    assert configs["crops"].detector.backend == "none"
    assert configs["crops"].detector.min_score == 0.7 and configs["crops"].margin == 0
    assert configs["photos"].detector.backend == "mtcnn" and configs["photos"].margin == 0.2


def test_an_already_cropped_face_is_never_padded_with_black():
    from fer_da.preprocess.config import preprocess_config
    from fer_da.preprocess.faces import normalise_face

    rgb = np.full((181, 143, 3), 200, np.uint8)  # an SFEW-sized aligned face, bright
    cfg = preprocess_config({"margin": 0.15, "image_size": 48})
    face = normalise_face(rgb, [], "none", cfg)
    assert face.image.shape == (48, 48) and face.image.min() == 200  # no black border
    x0, y0, x1, y1 = face.box
    assert (x1 - x0, y1 - y0) == (143, 143) and y0 == 19
    zoomed = normalise_face(rgb, [], "none", preprocess_config({"margin": -0.5}))
    assert zoomed.box[2] - zoomed.box[0] == pytest.approx(71.5)


def test_max_train_subsamples_the_train_split_only():
    from fer_da.preprocess.splits import cap_train

    t = _table(10)
    split = assign_split(t, "random", FRACTIONS, 0)
    capped = cap_train(split, t["label"], 21, seed=0)
    assert (capped == "train").sum() == 21 and (capped == "unused").sum() == 21
    assert capped[split != "train"].equals(split[split != "train"])  # val and test untouched
    assert (capped[capped == "train"].index.map(t["label"]).value_counts() == 3).all()
    assert cap_train(split, t["label"], None, 0).equals(split)
