"""Every layout on a fixture tree that reproduces it, bad cases included."""

from __future__ import annotations

import zlib

import pandas as pd
import pytest

from fer_da.ingest import DomainSpec, RawTree, ingest_domain, parse_domain_specs
from fer_da.labels import label_set
from tests.conftest import write_image

SEVEN = label_set()


def _ingest(root, layout, options=None, vocabulary=SEVEN, labels=None, vocab=None):
    return ingest_domain(DomainSpec("d", layout, "target", options or {}, labels or {}),
                         RawTree(root), vocab or vocabulary)


def _reasons(result) -> dict[str, str]:
    return dict(zip(result.rejects["path"], result.rejects["reason"], strict=True))


def _assert_accounted(result, root):
    files = [p for p in root.rglob("*") if p.is_file()]
    c = result.counts
    assert c["seen"] == c["accepted"] + c["metadata_files"] + c["rejected"]
    assert "unaccounted" not in set(result.rejects["reason"])
    return files


def test_kdef(tmp_path):
    k = tmp_path / "KDEF"
    write_image(k / "AF01/AF01ANS.JPG", fmt="JPEG")
    write_image(k / "AF01/AF01HAS.JPG", fmt="JPEG")
    write_image(k / "AF01/AF01HAHL.JPG", fmt="JPEG")  # half-left angle
    write_image(k / "BM12/BM12SUS.jpg", fmt="JPEG")
    write_image(k / "BM12/bm12sus.JPG", fmt="JPEG")  # duplicate differing in case
    write_image(k / "BM12/BM12XXS.JPG", fmt="JPEG")  # misnamed
    (k / "AF01/Thumbs.db").write_bytes(b"\0" * 10)
    (k / "AF01/.DS_Store").write_bytes(b"\0")
    (k / "BM12/BM12NES.JPG").write_bytes(b"")  # zero bytes
    (k / "BM12/BM12DIS.JPG").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    result = _ingest(tmp_path, "kdef", {"angles": ["S"]})
    m = result.manifest
    assert m[["path", "subject", "label", "session", "angle"]].values.tolist() == [
        ["KDEF/AF01/AF01ANS.JPG", "F01", "anger", "A", "S"],
        ["KDEF/AF01/AF01HAS.JPG", "F01", "happiness", "A", "S"],
        ["KDEF/BM12/BM12SUS.jpg", "M12", "surprise", "B", "S"],
    ]
    assert m["image_id"].tolist() == ["d/AF01ANS", "d/AF01HAS", "d/BM12SUS"]
    assert m[["width", "height"]].values.tolist() == [[24, 20]] * 3
    assert _reasons(result) == {
        "KDEF/AF01/AF01HAHL.JPG": "excluded_angle",
        "KDEF/AF01/Thumbs.db": "non_image",
        "KDEF/AF01/.DS_Store": "non_image",
        "KDEF/BM12/bm12sus.JPG": "duplicate",
        "KDEF/BM12/BM12XXS.JPG": "unknown_name",
        "KDEF/BM12/BM12NES.JPG": "empty_file",
        "KDEF/BM12/BM12DIS.JPG": "unreadable_image",
    }
    files = _assert_accounted(result, tmp_path)
    assert result.counts["seen"] == len(files) == 10


def _ck_sequence(root, subject, seq, frames, code=None, mode="L"):
    for f in range(1, frames + 1):
        write_image(root / f"cohn-kanade-images/{subject}/{seq}/{subject}_{seq}_{f:08d}.png",
                    mode=mode)
    if code is not None:
        p = root / f"Emotion/{subject}/{seq}/{subject}_{seq}_{frames:08d}_emotion.txt"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"   {code:.7e}\n")


def test_ckplus(tmp_path):
    _ck_sequence(tmp_path, "S005", "001", 5, code=3)  # disgust
    _ck_sequence(tmp_path, "S005", "002", 3)  # unlabelled
    _ck_sequence(tmp_path, "S010", "001", 4, code=2, mode="RGB")  # contempt, RGB frames
    lonely = tmp_path / "Emotion/S011/001/S011_001_00000009_emotion.txt"
    lonely.parent.mkdir(parents=True)
    lonely.write_text("   5.0000000e+00\n")  # label without image
    (tmp_path / "Landmarks/S005/001").mkdir(parents=True)
    (tmp_path / "Landmarks/S005/001/S005_001_00000001_landmarks.txt").write_text("1 2\n")
    result = _ingest(tmp_path, "ckplus", {"peak_frames": 2, "neutral_first_frame": True})
    m = result.manifest
    assert m[["path", "subject", "label", "sequence", "frame"]].values.tolist() == [
        ["cohn-kanade-images/S005/001/S005_001_00000001.png", "S005", "neutral", "001", 1],
        ["cohn-kanade-images/S005/001/S005_001_00000004.png", "S005", "disgust", "001", 4],
        ["cohn-kanade-images/S005/001/S005_001_00000005.png", "S005", "disgust", "001", 5],
        ["cohn-kanade-images/S010/001/S010_001_00000001.png", "S010", "neutral", "001", 1],
    ]
    assert m["mode"].tolist() == ["L", "L", "L", "RGB"]
    assert m["label_file"].iloc[1] == "Emotion/S005/001/S005_001_00000005_emotion.txt"
    reasons = _reasons(result)
    assert reasons["cohn-kanade-images/S005/001/S005_001_00000002.png"] == "intermediate_frame"
    assert reasons["cohn-kanade-images/S005/002/S005_002_00000001.png"] == "unlabelled_sequence"
    assert reasons["cohn-kanade-images/S010/001/S010_001_00000004.png"] == "excluded_label"
    assert reasons["Emotion/S011/001/S011_001_00000009_emotion.txt"] == "label_without_image"
    assert reasons["Landmarks/S005/001/S005_001_00000001_landmarks.txt"] == "ignored_folder"
    assert sorted(reasons.values()).count("unlabelled_sequence") == 3
    files = _assert_accounted(result, tmp_path)
    assert result.counts["seen"] == len(files) == 16
    assert result.counts["metadata_files"] == 2


def test_ckplus_keeps_contempt_when_configured(tmp_path):
    _ck_sequence(tmp_path, "S010", "001", 3, code=2)
    result = _ingest(tmp_path, "ckplus", {"peak_frames": 1},
                     vocabulary=label_set(keep_contempt=True))
    assert result.manifest["label"].tolist() == ["neutral", "contempt"]


def test_jaffe(tmp_path):
    write_image(tmp_path / "KA.AN1.39.tiff", mode="L", fmt="TIFF")
    write_image(tmp_path / "KL.HA2.12.TIF", mode="L", fmt="TIFF")  # upper-case extension
    write_image(tmp_path / "YM.SU3.58.tif", mode="CMYK", fmt="TIFF")
    write_image(tmp_path / "NA.NE1.200.tiff", mode="I;16", fmt="TIFF")  # 16-bit
    write_image(tmp_path / "XX.ZZ1.1.tiff", mode="L", fmt="TIFF")
    (tmp_path / "README").write_text("readme")
    (tmp_path / "ratings.txt").write_text("1 2 3")
    result = _ingest(tmp_path, "jaffe")
    assert result.manifest[["path", "subject", "label", "repetition", "serial"]].values.tolist() \
        == [["KA.AN1.39.tiff", "KA", "anger", 1, 39], ["KL.HA2.12.TIF", "KL", "happiness", 2, 12],
            ["NA.NE1.200.tiff", "NA", "neutral", 1, 200], ["YM.SU3.58.tif", "YM", "surprise", 3,
                                                            58]]
    assert result.manifest["mode"].tolist() == ["L", "L", "I;16", "CMYK"]
    assert _reasons(result) == {"README": "non_image", "ratings.txt": "non_image",
                                "XX.ZZ1.1.tiff": "unknown_name"}
    _assert_accounted(result, tmp_path)


def test_folder_layout_with_mapping_and_subject_regex(tmp_path):
    write_image(tmp_path / "happy/tf01_happy_1.jpg", fmt="JPEG")
    write_image(tmp_path / "Angry/tf02_angry_2.jpg", fmt="JPEG")
    write_image(tmp_path / "contempt/tf01_contempt_1.jpg", fmt="JPEG")
    write_image(tmp_path / "weird/tf01_weird_1.jpg", fmt="JPEG")
    write_image(tmp_path / "sad/noname.jpg", fmt="JPEG")
    write_image(tmp_path / "loose.jpg", fmt="JPEG")
    result = _ingest(tmp_path, "folder", {"classes": {"happy": "happiness", "angry": "anger",
                                                      "sad": "sadness"},
                                          "subject_regex": r"^(?P<subject>tf\d+)_"})
    assert result.manifest[["path", "subject", "label", "class_folder"]].values.tolist() == [
        ["Angry/tf02_angry_2.jpg", "tf02", "anger", "Angry"],
        ["happy/tf01_happy_1.jpg", "tf01", "happiness", "happy"]]
    assert _reasons(result) == {"contempt/tf01_contempt_1.jpg": "excluded_label",
                                "weird/tf01_weird_1.jpg": "unknown_class",
                                "sad/noname.jpg": "unknown_name",
                                "loose.jpg": "outside_class_folder"}
    _assert_accounted(result, tmp_path)


def test_folder_layout_rejects_bad_mapping(tmp_path):
    write_image(tmp_path / "x/a.png")
    with pytest.raises(ValueError, match="joy"):
        _ingest(tmp_path, "folder", {"classes": {"x": "joy"}})


def test_csv_manifest(tmp_path):
    write_image(tmp_path / "imgs/a.png")
    write_image(tmp_path / "imgs/b.png")
    write_image(tmp_path / "imgs/c.png")
    (tmp_path / "manifest.csv").write_text(
        "path,label,subject,split\nimgs/a.png,Happy,p1,train\nimgs/b.png,sad,p2,val\n"
        "imgs/missing.png,fear,p3,train\nimgs/c.png,joy,p3,train\n")
    result = _ingest(tmp_path, "csv", {"label_map": {"happy": "happiness", "sad": "sadness"}})
    assert result.manifest[["path", "subject", "label", "source_split"]].values.tolist() == [
        ["imgs/a.png", "p1", "happiness", "train"], ["imgs/b.png", "p2", "sadness", "val"]]
    assert _reasons(result) == {"manifest.csv#line=4": "missing_image",
                                "imgs/c.png": "unknown_label"}
    assert result.counts == {"seen": 5, "accepted": 2, "metadata_files": 1, "rejected": 2}


def test_fer2013(tmp_path):
    def px(v):
        return " ".join([str(v)] * 48 * 48)

    (tmp_path / "fer2013.csv").write_text(
        "emotion,pixels,Usage\n"
        f"3,{px(7)},Training\n0,{px(8)},PublicTest\n9,{px(9)},Training\n6,1 2 3,PrivateTest\n")
    (tmp_path / "README.md").write_text("x")
    result = _ingest(tmp_path, "fer2013")
    assert result.manifest[["path", "label", "source_split", "width"]].values.tolist() == [
        ["fer2013.csv#line=2", "happiness", "train", 48],
        ["fer2013.csv#line=3", "anger", "val", 48]]
    assert _reasons(result) == {"fer2013.csv#line=4": "bad_row",
                                "fer2013.csv#line=5": "bad_row", "README.md": "non_image"}
    img = RawTree(tmp_path).open_image("fer2013.csv#line=3")
    assert img.size == (48, 48) and img.getpixel((0, 0)) == 8


def test_missing_or_empty_root_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"does not exist.*docs/datasets.md"):
        _ingest(tmp_path / "nope", "jaffe")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no file"):
        _ingest(tmp_path / "empty", "jaffe")


def test_domain_specs_are_validated():
    with pytest.raises(ValueError, match=r"domains.a.layout must be one of"):
        parse_domain_specs({"a": {"layout": "nope", "role": "source"}})
    with pytest.raises(ValueError, match="no source"):
        parse_domain_specs({"a": {"layout": "jaffe", "role": "target"}})
    with pytest.raises(ValueError, match="unknown keys"):
        parse_domain_specs({"a": {"layout": "jaffe", "role": "source", "root": "x"}})
    specs = parse_domain_specs({"a": {"layout": "jaffe", "role": "source"}})
    assert specs[0].options == {} and specs[0].labels == {} and specs[0].preprocessing == {}


def test_identical_bytes_under_two_names_are_one_image(tmp_path):
    write_image(tmp_path / "happiness/a.png", unique=False)
    (tmp_path / "happiness/b.png").write_bytes((tmp_path / "happiness/a.png").read_bytes())
    write_image(tmp_path / "sadness/c.png", value=10, unique=False)
    (tmp_path / "anger/d.png").parent.mkdir()
    (tmp_path / "anger/d.png").write_bytes((tmp_path / "sadness/c.png").read_bytes())
    write_image(tmp_path / "fear/e.png")
    result = _ingest(tmp_path, "folder")
    assert result.manifest["path"].tolist() == ["fear/e.png", "happiness/a.png"]
    rej = result.rejects.set_index("path")
    assert rej.loc["happiness/b.png", "reason"] == "duplicate"
    assert "happiness/a.png" in rej.loc["happiness/b.png", "detail"]
    assert rej.loc["anger/d.png", "reason"] == rej.loc["sadness/c.png", "reason"] \
        == "conflicting_duplicate"  # which label is right is unknown: neither is used
    assert result.manifest["sha256"].str.len().eq(64).all()


def test_label_set_mapping_and_dropping(tmp_path):
    for label in ("happiness", "neutral", "contempt", "fear"):
        write_image(tmp_path / label / f"{label}.png")
    six = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")
    result = _ingest(tmp_path, "folder", labels={"fear": None, "contempt": "anger"},
                     vocab=six)
    assert dict(zip(result.manifest["path"], result.manifest["label"], strict=True)) == {
        "contempt/contempt.png": "anger", "happiness/happiness.png": "happiness"}
    rej = result.rejects.set_index("path")
    assert rej.loc["fear/fear.png", "reason"] == "excluded_label"
    assert "dropped by domains.d.labels" in rej.loc["fear/fear.png", "detail"]
    assert rej.loc["neutral/neutral.png", "reason"] == "excluded_label"
    assert "not in labels.classes" in rej.loc["neutral/neutral.png", "detail"]


def test_vocabulary_from_params():
    from fer_da.labels import vocabulary

    assert vocabulary({}) == SEVEN
    assert vocabulary({"keep_contempt": True})[-1] == "contempt"
    assert vocabulary({"classes": ["happiness", "sadness"]}) == ("happiness", "sadness")
    with pytest.raises(ValueError, match="labels.classes"):
        vocabulary({"classes": ["happiness"]})
    with pytest.raises(ValueError, match=r"labels: unknown keys \['clases'\]"):
        vocabulary({"clases": ["happiness", "sadness"]})


def test_folder_layout_with_a_split_level(tmp_path):
    for split, cls, name in (("Train", "Happy", "Heat_001_01.png"),
                             ("Val", "Sad", "Up_002_01.png"),
                             ("Extra", "Sad", "Big_003_01.png")):
        write_image(tmp_path / split / cls / name)
    write_image(tmp_path / "Train" / "loose.png")
    result = _ingest(tmp_path, "folder", {"classes": {"happy": "happiness", "sad": "sadness"},
                                          "splits": {"Train": "train", "Val": "test"}})
    assert result.manifest[["path", "label", "source_split"]].values.tolist() == [
        ["Train/Happy/Heat_001_01.png", "happiness", "train"],
        ["Val/Sad/Up_002_01.png", "sadness", "test"]]
    assert _reasons(result) == {"Extra/Sad/Big_003_01.png": "unknown_split_folder",
                                "Train/loose.png": "outside_class_folder"}
    with pytest.raises(ValueError, match=r"options.splits maps folder names"):
        _ingest(tmp_path, "folder", {"splits": {"Train": "training"}})


@pytest.mark.parametrize("nested", [True, False])
def test_rafdb_basic(tmp_path, nested):
    root = tmp_path / "RAF-DB"
    basic = root / "basic" if nested else root
    for name in ("train_00001", "train_00002", "test_0001", "train_00009"):
        write_image(basic / "Image" / "aligned" / f"{name}_aligned.jpg", fmt="JPEG")
    write_image(basic / "Image" / "original" / "train_00001.jpg", fmt="JPEG")
    (basic / "Annotation").mkdir(parents=True)
    (basic / "Annotation" / "train_00001_boundingbox.txt").write_text("1 2 3 4\n")
    (basic / "EmoLabel").mkdir()
    (basic / "EmoLabel" / "list_patition_label.txt").write_text(
        "train_00001.jpg 5\ntrain_00002.jpg 1\ntest_0001.jpg 7\n"
        "train_00003.jpg 4\n"      # no image
        "train_00004.jpg 9\n"      # no such code
        "garbage line\n\n")
    result = _ingest(root, "rafdb")
    _assert_accounted(result, root)
    prefix = "basic/" if nested else ""
    m = result.manifest.set_index("path")
    assert m["label"].to_dict() == {
        f"{prefix}Image/aligned/test_0001_aligned.jpg": "neutral",
        f"{prefix}Image/aligned/train_00001_aligned.jpg": "sadness",
        f"{prefix}Image/aligned/train_00002_aligned.jpg": "surprise"}
    assert m["source_split"].tolist() == ["test", "train", "train"]
    label_file = f"{prefix}EmoLabel/list_patition_label.txt"
    assert _reasons(result) == {
        f"{label_file}#line=4": "missing_image", f"{label_file}#line=5": "bad_row",
        f"{label_file}#line=6": "bad_row",
        f"{prefix}Image/aligned/train_00009_aligned.jpg": "unreferenced_image",
        f"{prefix}Image/original/train_00001.jpg": "other_variant",
        f"{prefix}Annotation/train_00001_boundingbox.txt": "ignored_folder"}
    original = _ingest(root, "rafdb", {"images": "original"})
    assert original.manifest["path"].tolist() == [f"{prefix}Image/original/train_00001.jpg"]


def test_rafdb_without_its_label_file_or_with_a_bad_option_names_them(tmp_path):
    write_image(tmp_path / "Image" / "aligned" / "train_00001_aligned.jpg", fmt="JPEG")
    with pytest.raises(FileNotFoundError, match="list_patition_label.txt"):
        _ingest(tmp_path, "rafdb")
    with pytest.raises(Exception, match="options.images must be aligned or original"):
        _ingest(tmp_path, "rafdb", {"images": "crops"})


def _photo(path, size=(80, 60)):
    """A photo whose pixels differ by place, so two face boxes of it are two images."""
    import numpy as np
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    x = np.arange(size[0] * size[1] * 3, dtype=np.uint32).reshape(size[1], size[0], 3)
    x = x * 7 + zlib.crc32(path.name.encode())  # each photo its own pixels
    Image.fromarray((x % 251).astype(np.uint8)).save(path, format="JPEG", quality=95)


def test_expw_one_face_per_line_cut_from_its_box(tmp_path):
    _photo(tmp_path / "image" / "origin" / "party.jpg")
    _photo(tmp_path / "image" / "origin" / "alone.jpg")
    _photo(tmp_path / "image" / "origin" / "unlisted.jpg")
    (tmp_path / "label").mkdir()
    (tmp_path / "label" / "label.lst").write_text(
        "party.jpg 0 5 10 40 45 88.5 3\n"        # top left right bottom confidence label
        "party.jpg 1 10 45 75 50 12.0 0\n"
        "alone.jpg 0 0 0 30 30 2.5 6\n"          # a low detector confidence
        "gone.jpg 0 1 1 20 20 50 1\n"            # no such image
        "party.jpg 2 5 40 10 45 90 4\n"          # right < left
        "party.jpg 3 5 10 40 45 90 9\n"          # no such label
        "too few fields\n")
    (tmp_path / "README.txt").write_text("ExpW\n")
    result = _ingest(tmp_path, "expw", {"min_confidence": 10})
    _assert_accounted(result, tmp_path)
    m = result.manifest.set_index("path")
    assert m["label"].to_dict() == {"image/origin/party.jpg#box=10,5,40,45": "happiness",
                                    "image/origin/party.jpg#box=45,10,75,50": "anger"}
    assert m["width"].tolist() == [30, 30] and m["height"].tolist() == [40, 40]
    assert m["sha256"].nunique() == 2  # two faces of one photo: two images
    assert _reasons(result) == {
        "image/origin/alone.jpg#box=0,0,30,30": "low_confidence",
        "label/label.lst#line=4": "missing_image", "label/label.lst#line=5": "bad_row",
        "label/label.lst#line=6": "bad_row", "label/label.lst#line=7": "bad_row",
        "image/origin/unlisted.jpg": "unreferenced_image", "README.txt": "ignored_folder"}
    assert len(_ingest(tmp_path, "expw").manifest) == 3  # no confidence floor by default
    tree = RawTree(tmp_path)
    assert tree.open_image("image/origin/party.jpg#box=45,10,75,50").size == (30, 40)
    with pytest.raises(ValueError, match="outside the 80x60 image"):
        tree.open_image("image/origin/party.jpg#box=90,10,95,50")


def test_affectnet_maps_0_to_7_and_rejects_8_to_10_with_reasons(tmp_path):
    images = tmp_path / "Manually_Annotated_Images"
    for i in range(6):
        _photo(images / "1" / f"face{i}.jpg")
    (tmp_path / "training.csv").write_text(
        "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,"
        "expression,valence,arousal\n"
        "1/face0.jpg,5,5,40,40,,1,0.5,0.2\n"
        "1/face1.jpg,5,5,40,40,,6,0.5,0.2\n"
        "1/face2.jpg,5,5,40,40,,8,0,0\n"          # none
        "1/face3.jpg,5,5,40,40,,10,0,0\n"         # non-face
        "1/missing.jpg,5,5,40,40,,1,0,0\n"
        "1/face4.jpg,5,5,0,40,,1,0,0\n"          # empty box
        "1/face4.jpg,5,5,40,40,,11,0,0\n")       # no such expression
    (tmp_path / "validation.csv").write_text(
        "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,"
        "expression,valence,arousal\n"
        "1/face5.jpg,0,0,50,50,,7,0,0\n")         # contempt: kept only with keep_contempt
    result = _ingest(tmp_path, "affectnet")
    _assert_accounted(result, tmp_path)
    m = result.manifest.set_index("path")
    assert m["label"].to_dict() == {
        "Manually_Annotated_Images/1/face0.jpg#box=5,5,45,45": "happiness",
        "Manually_Annotated_Images/1/face1.jpg#box=5,5,45,45": "anger"}
    assert set(m["source_split"]) == {"train"}
    reasons = _reasons(result)
    assert reasons["Manually_Annotated_Images/1/face2.jpg#box=5,5,45,45"] == "not_an_expression"
    assert reasons["Manually_Annotated_Images/1/face3.jpg#box=5,5,45,45"] == "not_an_expression"
    assert reasons["training.csv#line=6"] == "missing_image"
    assert reasons["training.csv#line=7"] == reasons["training.csv#line=8"] == "bad_row"
    assert reasons["Manually_Annotated_Images/1/face5.jpg#box=0,0,50,50"] == "excluded_label"
    assert reasons["Manually_Annotated_Images/1/face4.jpg"] == "unreferenced_image"
    with_contempt = _ingest(tmp_path, "affectnet", vocab=label_set(keep_contempt=True))
    face5 = with_contempt.manifest.set_index("path").loc[
        "Manually_Annotated_Images/1/face5.jpg#box=0,0,50,50"]
    assert (face5["label"], face5["source_split"]) == ("contempt", "test")


def test_the_ingestion_line_counts_exclusions_and_refusals_by_reason():
    from fer_da.ingest.core import ingestion_line

    rejects = pd.DataFrame({"reason": ["intermediate_frame"] * 3 + ["excluded_label"]
                            + ["unlabelled_sequence"] * 2 + ["unreadable_image"]})
    line = ingestion_line("ckplus", "ckplus", {"seen": 20, "accepted": 10,
                                               "metadata_files": 3}, rejects, 20)
    assert line.startswith("ckplus (ckplus): 20 seen = 10 accepted + 3 label/index files + "
                           "6 left out by the layout's protocol (3 intermediate_frame, "
                           "2 unlabelled_sequence, 1 excluded_label) + 1 refused "
                           "(1 unreadable_image) (20 images read")
    clean = ingestion_line("kdef", "kdef", {"seen": 5, "accepted": 5, "metadata_files": 0},
                           rejects.iloc[:0], 5)
    assert "+ 0 left out by the layout's protocol + 0 refused (5 images read" in clean
