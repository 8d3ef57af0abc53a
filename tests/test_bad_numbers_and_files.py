"""Issue 39's parser cases: numbers read by one strict helper, face-box references that read
back, label/index files that are folders, unreadable or not UTF-8, oversized images, FERG's
formats (docs/bad_inputs.md, "Numbers, label files and image formats")."""

from __future__ import annotations

import logging
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fer_da.ingest import DomainSpec, RawTree, ingest_domain
from fer_da.ingest.characters import read_ferg
from fer_da.ingest.numbers import finite_number, plain_number, whole_number
from fer_da.ingest.tree import BOX_REF, box_ref, member_file
from fer_da.labels import label_set
from tests.conftest import write_image

SEVEN = label_set()
AFFECTNET_HEADER = ("subDirectory_filePath,face_x,face_y,face_width,face_height,"
                    "facial_landmarks,expression,valence,arousal\n")


def _ingest(root, layout, options=None):
    return ingest_domain(DomainSpec("d", layout, "source", options or {}), RawTree(root), SEVEN)


def _reasons(result) -> dict[str, str]:
    return dict(zip(result.rejects["path"], result.rejects["reason"], strict=True))


def _details(result) -> dict[str, str]:
    return dict(zip(result.rejects["path"], result.rejects["detail"], strict=True))


def _photo(path: Path, size=(80, 60)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    x = np.arange(size[0] * size[1] * 3, dtype=np.uint32).reshape(size[1], size[0], 3)
    x = x * 7 + zlib.crc32(path.name.encode())
    Image.fromarray((x % 251).astype(np.uint8)).save(path, format="JPEG", quality=95)


def _png_header(path: Path, width: int, height: int) -> Path:
    """A PNG that declares ``width`` x ``height`` grey pixels: a decompression bomb's
    header (Pillow refuses it at open, before decoding)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    path.parent.mkdir(parents=True, exist_ok=True)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    return path


# --- one strict helper for numbers ------------------------------------------------------------
def test_the_number_helper_reads_ascii_finite_whole_codes_only():
    assert whole_number(" 3 ", "x") == 3 and whole_number("3.0000000e+00", "x") == 3
    assert finite_number("1e-05", "x") == 1e-05 and finite_number("-2.5", "x") == -2.5
    for text in ("³", "٣", "2.7", "nan", "inf", "1e400", "1_0", "", "0x10"):
        with pytest.raises(ValueError, match="expression"):
            whole_number(text, "expression")
    for text in ("nan", "-inf", "1e400", "٣.5", "1_0"):
        with pytest.raises(ValueError, match="confidence"):
            finite_number(text, "confidence")


def test_a_rafdb_superscript_label_is_a_bad_row_not_a_crash(tmp_path):
    for name in ("train_00001", "train_00002"):
        write_image(tmp_path / "Image" / "aligned" / f"{name}_aligned.jpg", fmt="JPEG")
    (tmp_path / "EmoLabel").mkdir()
    (tmp_path / "EmoLabel" / "list_patition_label.txt").write_text(
        "train_00001.jpg ³\ntrain_00002.jpg 5\n", encoding="utf-8")
    result = _ingest(tmp_path, "rafdb")  # was: ValueError from int('³'), the run stopped
    assert result.manifest["label"].tolist() == ["sadness"]
    line = "EmoLabel/list_patition_label.txt#line=1"
    assert _reasons(result)[line] == "bad_row" and "'³'" in _details(result)[line]


def test_affectnet_codes_that_are_not_whole_or_finite_are_bad_rows(tmp_path):
    images = tmp_path / "Manually_Annotated_Images"
    codes = ["1", "2.7", "inf", "nan", "1e400", "٣", "2.0"]
    for i in range(len(codes)):
        _photo(images / "1" / f"f{i}.jpg")
    (tmp_path / "training.csv").write_text(AFFECTNET_HEADER + "".join(
        f"1/f{i}.jpg,5,5,40,40,,{code},0,0\n" for i, code in enumerate(codes)
    ) + "1/f0.jpg,nan,5,40,40,,1,0,0\n1/f0.jpg,5,1e400,40,40,,1,0,0\n"
        "1/f0.jpg,1e308,5,1e308,40,,1,0,0\n", encoding="utf-8")
    result = _ingest(tmp_path, "affectnet")  # 'inf' was OverflowError; 2.7 was taken as 2
    m = result.manifest.set_index("path")["label"].to_dict()
    assert m == {"Manually_Annotated_Images/1/f0.jpg#box=5,5,45,45": "happiness",
                 "Manually_Annotated_Images/1/f6.jpg#box=5,5,45,45": "sadness"}
    reasons, details = _reasons(result), _details(result)
    for line in range(3, 12):
        if line != 8:
            assert reasons[f"training.csv#line={line}"] == "bad_row", line
    assert "'2.7' is not a whole number" in details["training.csv#line=3"]
    assert "face_x 'nan'" in details["training.csv#line=9"]


def test_expw_nan_confidence_never_passes_min_confidence(tmp_path):
    _photo(tmp_path / "image" / "origin" / "party.jpg")
    (tmp_path / "label").mkdir()
    (tmp_path / "label" / "label.lst").write_text(
        "party.jpg 0 5 10 40 45 nan 3\n"       # nan < 10 is False: it used to pass
        "party.jpg 1 10 45 75 50 88 0\n"
        "party.jpg 2 5 10 inf 45 90 4\n"
        "party.jpg 3 5 10 40 45 90 2.5\n"
        "party.jpg 1.5 5 10 40 45 90 1\n")
    result = _ingest(tmp_path, "expw", {"min_confidence": 10})
    assert result.manifest["path"].tolist() == ["image/origin/party.jpg#box=45,10,75,50"]
    reasons, details = _reasons(result), _details(result)
    assert {reasons[f"label/label.lst#line={n}"] for n in (1, 3, 4, 5)} == {"bad_row"}
    assert "confidence 'nan' is not a number" in details["label/label.lst#line=1"]


# --- face-box references read back ---------------------------------------------------------
def test_every_accepted_box_number_reads_back_from_its_reference():
    for v in (1e6, 1_000_005.0, 1e-5, 3.3e-7, 10.0, 12.5, 123456.7, 0.1 + 0.2, -0.0):
        ref = box_ref("a/b.jpg", v, 1, 2, 3)
        m = BOX_REF.match(ref)
        assert m and member_file(ref) == "a/b.jpg", ref
        assert finite_number(m["box"].split(",")[0], "x") == v
        assert plain_number(v) == m["box"].split(",")[0]
    assert box_ref("a.jpg", 10, 5, 40, 45) == "a.jpg#box=10,5,40,45"  # the short form kept


def test_faces_with_tiny_or_huge_box_numbers_are_ingested(tmp_path):
    images = tmp_path / "Manually_Annotated_Images"
    for i in range(3):
        _photo(images / "1" / f"f{i}.jpg")
    (tmp_path / "training.csv").write_text(
        AFFECTNET_HEADER + "1/f0.jpg,0.00001,5,40,40,,1,0,0\n"
        "1/f1.jpg,5,5,1000000,1000000,,2,0,0\n"    # clipped to the photo
        "1/f2.jpg,5,5,40.0000001,40,,3,0,0\n")
    result = _ingest(tmp_path, "affectnet")  # the first two were FileNotFoundError rejects
    assert result.rejects.empty, result.rejects.to_dict("records")
    m = result.manifest.set_index("path")
    assert sorted(m["label"]) == ["happiness", "sadness", "surprise"]
    assert m.loc["Manually_Annotated_Images/1/f0.jpg#box=1e-05,5,40.00001,45", "width"] == 40
    huge = "Manually_Annotated_Images/1/f1.jpg#box=5,5,1000005.0,1000005.0"
    assert (m.loc[huge, "width"], m.loc[huge, "height"]) == (75, 55)


# --- label and index files --------------------------------------------------------------------
def _rafdb(root: Path, label_bytes: bytes) -> None:
    for name in ("train_00001", "train_00002"):
        write_image(root / "Image" / "aligned" / f"{name}_aligned.jpg", fmt="JPEG")
    (root / "EmoLabel").mkdir(parents=True)
    (root / "EmoLabel" / "list_patition_label.txt").write_bytes(label_bytes)


def test_a_utf8_bom_is_stripped_and_another_encoding_names_the_file_and_line(tmp_path):
    _rafdb(tmp_path / "bom", "\ufefftrain_00001.jpg 5\ntrain_00002.jpg 1\n".encode())
    result = _ingest(tmp_path / "bom", "rafdb")  # the BOM made line 1 a bad_row
    assert len(result.manifest) == 2 and result.rejects.empty
    _rafdb(tmp_path / "latin1", "train_00001.jpg 5\n# café\ntrain_00002.jpg 1\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"list_patition_label.txt line 2: byte 0xe9 is not "
                                         r"UTF-8.*save it as UTF-8"):
        _ingest(tmp_path / "latin1", "rafdb")  # was: read with U+FFFD, a silent bad_row
    (tmp_path / "csv").mkdir()
    write_image(tmp_path / "csv" / "a.png")
    (tmp_path / "csv" / "manifest.csv").write_text("path,label\na.png,fear\n", encoding="utf-16")
    with pytest.raises(ValueError, match=r"manifest.csv is UTF-16 text; save it as UTF-8"):
        _ingest(tmp_path / "csv", "csv")


def test_a_label_file_that_is_a_folder_or_unreadable_is_an_error_naming_it(tmp_path,
                                                                            monkeypatch):
    _photo(tmp_path / "image" / "origin" / "party.jpg")
    (tmp_path / "label" / "label.lst").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"label/label.lst is a folder"):
        _ingest(tmp_path, "expw")  # was: "no label/label.lst under …"
    aff = tmp_path / "aff"
    _photo(aff / "Manually_Annotated_Images" / "1" / "f0.jpg")
    (aff / "training.csv").mkdir(parents=True)
    (aff / "validation.csv").write_text(AFFECTNET_HEADER + "1/f0.jpg,5,5,40,40,,1,0,0\n")
    with pytest.raises(ValueError, match=r"training.csv is a folder"):
        _ingest(aff, "affectnet")  # was: training.csv silently left out
    (aff / "training.csv").rmdir()
    (aff / "training.csv").write_text(AFFECTNET_HEADER)
    read_bytes = Path.read_bytes

    def refusing(self):
        if self.name == "validation.csv":
            raise PermissionError(13, "Permission denied", str(self))
        return read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", refusing)
    with pytest.raises(ValueError, match=r"cannot read the label/index file .*validation.csv: "
                                         r"PermissionError"):
        _ingest(aff, "affectnet")


def test_a_ckplus_emotion_file_not_in_utf8_or_not_whole_is_a_reject(tmp_path):
    for seq, text in (("001", b"   3.0000000e+00\n"), ("002", b"\xe9 3\n"), ("003", b"2.5\n")):
        write_image(tmp_path / f"cohn-kanade-images/S005/{seq}/S005_{seq}_00000001.png",
                    mode="L")
        label = tmp_path / f"Emotion/S005/{seq}/S005_{seq}_00000001_emotion.txt"
        label.parent.mkdir(parents=True)
        label.write_bytes(text)
    reasons = _reasons(_ingest(tmp_path, "ckplus"))
    assert reasons["Emotion/S005/002/S005_002_00000001_emotion.txt"] == "bad_label_file"
    assert reasons["Emotion/S005/003/S005_003_00000001_emotion.txt"] == "bad_label_file"
    assert "Emotion/S005/001/S005_001_00000001_emotion.txt" not in reasons


# --- oversized images --------------------------------------------------------------------------
def test_a_decompression_bomb_is_an_oversized_image_reject(tmp_path, monkeypatch):
    _png_header(tmp_path / "happiness" / "p1_bomb.png", 30000, 30000)
    write_image(tmp_path / "happiness" / "p2_big.png", size=(24, 20))
    write_image(tmp_path / "fear" / "p3_ok.png", size=(10, 10))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300)  # 24x20 = 480: over, under twice
    result = _ingest(tmp_path, "folder")
    assert result.manifest["path"].tolist() == ["fear/p3_ok.png"]
    assert _reasons(result) == {"happiness/p1_bomb.png": "oversized_image",
                                "happiness/p2_big.png": "oversized_image"}
    assert "24x20 pixels is over the 300 pixel limit" in _details(result)[
        "happiness/p2_big.png"]


# --- FERG ---------------------------------------------------------------------------------------
def _ferg_folder(root: Path, expression: str) -> Path:
    folder = root / "aia" / f"aia_{expression}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_ferg_reads_every_image_format_scales_16_bit_and_names_what_it_skips(tmp_path, caplog):
    classes = ["anger", "happiness"]
    anger, joy = _ferg_folder(tmp_path, "anger"), _ferg_folder(tmp_path, "joy")
    Image.new("RGB", (20, 20), (90, 90, 90)).save(anger / "a.bmp")
    Image.new("L", (20, 20), 60).save(anger / "b.gif")
    Image.new("RGB", (20, 20), (30, 30, 30)).save(anger / "c.webp")
    Image.fromarray(np.full((20, 20), 2048, np.uint16)).save(joy / "twelve_bit.png")
    (joy / "Thumbs.db").write_bytes(b"\0" * 10)
    (tmp_path / "README.txt").write_text("FERG-DB")
    with caplog.at_level(logging.WARNING, logger="fer_da.ingest.characters"):
        chars = read_ferg(tmp_path, classes, 16)
    assert chars.images.shape[0] == 4  # the .bmp, .gif and .webp were skipped silently
    happy = chars.images[chars.expression == 1]
    assert abs(int(happy.mean()) - 128) <= 1  # 12-bit mid-grey: was clipped to 255
    assert sorted(int(v) for v in chars.images[chars.expression == 0].mean(axis=(1, 2))) \
        == [30, 60, 90]
    text = caplog.text
    assert "Thumbs.db (suffix '.db': not an image" in text and "README.txt" in text


def test_ferg_oversized_or_animated_images_are_errors_naming_them(tmp_path):
    anger = _ferg_folder(tmp_path, "anger")
    Image.new("L", (20, 20), 60).save(anger / "ok.png")
    _png_header(anger / "bomb.png", 30000, 30000)
    with pytest.raises(ValueError, match=r"bomb.png cannot be read: .*900000000 pixels"):
        read_ferg(tmp_path, ["anger"], 16)  # was: DecompressionBombError naming nothing
    (anger / "bomb.png").unlink()
    frames = [Image.new("L", (20, 20), v) for v in (10, 200)]
    frames[0].save(anger / "moving.gif", save_all=True, append_images=frames[1:])
    with pytest.raises(ValueError, match=r"moving.gif cannot be read: 2 frames"):
        read_ferg(tmp_path, ["anger"], 16)


def test_every_image_format_is_read_in_the_named_layouts(tmp_path):
    """KDEF took only .jpg/.png, JAFFE only .tif(f), CK+ only .png: the rest were
    ``unknown_name`` rejects saying the name did not match."""
    write_image(tmp_path / "kdef" / "AF01" / "AF01ANS.bmp")
    write_image(tmp_path / "kdef" / "AF01" / "AF01HAS.webp", fmt="WEBP")
    assert sorted(_ingest(tmp_path / "kdef", "kdef").manifest["label"]) == ["anger",
                                                                             "happiness"]
    write_image(tmp_path / "jaffe" / "KA.AN1.39.png", mode="L")
    write_image(tmp_path / "jaffe" / "KA.HA1.40.jpg", mode="L", fmt="JPEG")
    assert sorted(_ingest(tmp_path / "jaffe", "jaffe").manifest["label"]) == ["anger",
                                                                               "happiness"]
    ck = tmp_path / "ck"
    write_image(ck / "cohn-kanade-images/S005/001/S005_001_00000001.jpg", mode="L", fmt="JPEG")
    (ck / "Emotion/S005/001").mkdir(parents=True)
    (ck / "Emotion/S005/001/S005_001_00000001_emotion.txt").write_text("5\n")
    result = _ingest(ck, "ckplus")
    assert result.manifest["label"].tolist() == ["happiness"] and result.rejects.empty


# --- inference input lists ------------------------------------------------------------------
def test_a_malformed_csv_or_latin1_txt_input_list_names_the_list_and_line(tmp_path):
    from fer_da.inference.media import list_media

    write_image(tmp_path / "a.png")
    write_image(tmp_path / "é.png")
    good = tmp_path / "good.csv"
    good.write_bytes("\ufeffpath,note\na.png,x\n\"é.png\",\"with, comma\"\n".encode())
    assert [Path(f).name for f in list_media(good).files] == ["a.png", "é.png"]
    bad = tmp_path / "bad.csv"
    bad.write_text('path,note\na.png,x\n"é.png,unclosed\na.png,x,extra\n')
    with pytest.raises(ValueError, match=r"bad.csv: 2 malformed lines \(line 3: not valid "
                                         r"CSV.*line 4: 3 fields where the header has 2"):
        list_media(bad)  # was: pandas ParserError naming neither
    latin = tmp_path / "inputs.txt"
    latin.write_bytes("a.png\n# caf\xe9 photos\né.png\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"inputs.txt line 2: byte 0xe9 is not UTF-8"):
        list_media(latin)  # was: UnicodeDecodeError
    latin.write_bytes("\ufeffa.png\n".encode())
    assert [Path(f).name for f in list_media(latin).files] == ["a.png"]  # BOM stripped


# --- integrity on load --------------------------------------------------------------------
def _face_set_datasets(path: str):
    from kedro.io import Version

    from fer_da.datasets import FaceSetsDataset

    def latest():
        return FaceSetsDataset(path, version=Version(None, None))

    previous = FaceSetsDataset(path, version=Version(None, None), mmap=True, missing_ok=True)
    return latest, previous


def _save(path: str, data, stamp: str) -> None:
    from kedro.io import Version

    from fer_da.datasets import FaceSetsDataset

    FaceSetsDataset(path, version=Version(None, stamp)).save(data)


def test_overwritten_crops_are_refused_never_reused_or_copied_forward(tmp_path, face_sets,
                                                                       caplog):
    from kedro.io import DatasetError

    path = str(tmp_path / "face_sets")
    _save(path, face_sets, "2026-01-01T00.00.00.000Z")
    crops = next((tmp_path / "face_sets").rglob("src.safetensors"))
    data = bytearray(crops.read_bytes())
    data[-5:] = bytes(255 - b for b in data[-5:])  # bytes of the last crop overwritten
    crops.write_bytes(bytes(data))
    latest, previous = _face_set_datasets(path)
    with pytest.raises(DatasetError, match=r"2026-01-01.*src.safetensors does not match the "
                                           r"sha256 recorded.*run the preprocessing"):
        latest().load()  # was: loaded, trained on, and copied into the next version
    with caplog.at_level(logging.WARNING):
        assert previous.load() == {}  # the crops to reuse: none, they are made again
    assert "src.safetensors does not match" in caplog.text
    _save(path, face_sets, "2026-01-02T00.00.00.000Z")  # same content: not the damaged one
    assert len(list((tmp_path / "face_sets").iterdir())) == 2
    again = latest().load()
    assert again["src"].version == "2026-01-02T00.00.00.000Z"
    np.testing.assert_array_equal(again["src"].images, face_sets["src"].images)


def test_a_face_set_version_missing_a_domain_file_names_it(tmp_path, face_sets):
    from kedro.io import DatasetError

    path = str(tmp_path / "face_sets")
    _save(path, face_sets, "2026-01-01T00.00.00.000Z")
    next((tmp_path / "face_sets").rglob("tgt.safetensors")).unlink()
    next((tmp_path / "face_sets").rglob("tgt.parquet")).unlink()
    latest, previous = _face_set_datasets(path)
    with pytest.raises(DatasetError, match=r"tgt.parquet is missing"):
        latest().load()  # was: {src} alone, then "domain 'tgt' is not among the …"
    assert previous.load() == {}


def test_a_version_saved_before_per_file_digests_is_checked_by_its_content(tmp_path,
                                                                           face_sets):
    from kedro.io import DatasetError

    path = str(tmp_path / "face_sets")
    _save(path, face_sets, "2026-01-01T00.00.00.000Z")
    next((tmp_path / "face_sets").rglob("files.sha256")).unlink()
    latest, _ = _face_set_datasets(path)
    assert sorted(latest().load()) == ["src", "tgt"]  # intact: loads
    next((tmp_path / "face_sets").rglob("tgt.safetensors")).unlink()
    next((tmp_path / "face_sets").rglob("tgt.parquet")).unlink()
    with pytest.raises(DatasetError, match=r"no longer matches its recorded content.sha256 .*"
                                           r"domains present: \['src'\]"):
        latest().load()


def test_an_edited_ingestion_index_never_makes_a_false_duplicate(tmp_path, caplog):
    write_image(tmp_path / "happiness" / "p1_a.png")
    write_image(tmp_path / "happiness" / "p2_b.png")
    first = _ingest(tmp_path, "folder")
    assert len(first.manifest) == 2
    index = first.index.copy()
    a = index.loc[index["path"] == "happiness/p1_a.png", "sha256"].item()
    index.loc[index["path"] == "happiness/p2_b.png", "sha256"] = a  # b given a's sha256
    with caplog.at_level(logging.WARNING):
        again = ingest_domain(DomainSpec("d", "folder", "source", {}), RawTree(tmp_path), SEVEN,
                              index)
    assert sorted(again.manifest["path"]) == ["happiness/p1_a.png", "happiness/p2_b.png"]
    assert again.rejects.empty  # was: p2_b.png a `duplicate` of p1_a.png
    assert "happiness/p2_b.png" in caplog.text
    fixed = again.index.set_index("path")["sha256"]
    assert fixed["happiness/p2_b.png"] == first.index.set_index("path")["sha256"][
        "happiness/p2_b.png"]  # the index corrected for the next run
    assert again.rehashed == 1


# --- training.hidden --------------------------------------------------------------------------
def test_a_huge_hidden_width_is_named_before_any_allocation():
    from fer_da.training.config import TrainConfig
    from fer_da.validate import ConfigError

    with pytest.raises(ConfigError, match=r"training.hidden must be <= 16384, got "
                                          r"1000000000000"):
        TrainConfig.from_params({"hidden": 10**12})  # was: an allocator error in training
    with pytest.raises(ConfigError, match=r"training.hidden must be an integer"):
        TrainConfig.from_params({"hidden": 1e12})
    assert TrainConfig.from_params({"hidden": 16384}).hidden == 16384
