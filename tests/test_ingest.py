"""Every layout on a fixture tree that reproduces it, bad cases included."""

from __future__ import annotations

import pandas as pd
import pytest

from fer_da.ingest import DomainSpec, RawTree, ingest_domain, parse_domain_specs
from fer_da.labels import label_set
from tests.conftest import write_image

SEVEN = label_set()


def _ingest(root, layout, options=None, vocabulary=SEVEN):
    return ingest_domain(DomainSpec("d", layout, "target", options or {}), RawTree(root),
                         vocabulary)


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
    good = " ".join(["7"] * 48 * 48)
    (tmp_path / "fer2013.csv").write_text(
        "emotion,pixels,Usage\n"
        f"3,{good},Training\n0,{good},PublicTest\n9,{good},Training\n6,1 2 3,PrivateTest\n")
    (tmp_path / "README.md").write_text("x")
    result = _ingest(tmp_path, "fer2013")
    assert result.manifest[["path", "label", "source_split", "width"]].values.tolist() == [
        ["fer2013.csv#row=0", "happiness", "train", 48],
        ["fer2013.csv#row=1", "anger", "val", 48]]
    assert _reasons(result) == {"fer2013.csv#row=2": "bad_row", "fer2013.csv#row=3": "bad_row",
                                "README.md": "non_image"}
    img = RawTree(tmp_path).open_image("fer2013.csv#row=1")
    assert img.size == (48, 48) and img.getpixel((0, 0)) == 7


def test_missing_or_empty_root_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"does not exist.*docs/datasets.md"):
        _ingest(tmp_path / "nope", "jaffe")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no file"):
        _ingest(tmp_path / "empty", "jaffe")


def test_domain_specs_are_validated():
    with pytest.raises(ValueError, match="unknown layout"):
        parse_domain_specs({"a": {"layout": "nope", "role": "source"}})
    with pytest.raises(ValueError, match="no source"):
        parse_domain_specs({"a": {"layout": "jaffe", "role": "target"}})
    with pytest.raises(ValueError, match="unknown keys"):
        parse_domain_specs({"a": {"layout": "jaffe", "role": "source", "root": "x"}})
    specs = parse_domain_specs({"a": {"layout": "jaffe", "role": "source"}})
    assert specs[0].options == {}
    assert isinstance(pd.DataFrame(), pd.DataFrame)
