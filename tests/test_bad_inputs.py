"""The bad-input audit: each case ends in a reject row with a reason or an error that names
the file or the key (docs/bad_inputs.md lists them all)."""

from __future__ import annotations

import errno
import io
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from kedro.io import DatasetError
from PIL import Image

from fer_da.config_loader import LabConfigLoader
from fer_da.datasets import FaceSetsDataset, TableDataset, TablesDataset
from fer_da.facesets import FaceSet
from fer_da.ingest import DomainSpec, RawTree, ingest_domain, parse_domain_specs
from fer_da.ingest.domains import require_images
from fer_da.labels import label_set, vocabulary
from fer_da.pipelines.ingestion.nodes import ingest_domains
from fer_da.preprocess.config import domain_configs
from fer_da.preprocess.faces import detect_robustly
from fer_da.preprocess.normalise import require_faces
from fer_da.training.checkpoints import CheckpointStore
from fer_da.training.config import TrainConfig
from fer_da.training.plans import plan_runs
from fer_da.validate import ConfigError
from tests.conftest import write_image

SEVEN = label_set()
DOMAINS = {"a": {"layout": "jaffe", "role": "source"}}


def _ingest(root, layout, options=None, labels=None, vocab=SEVEN):
    return ingest_domain(DomainSpec("d", layout, "source", options or {}, labels or {}),
                         RawTree(root), vocab)


def _reasons(result) -> dict[str, str]:
    return dict(zip(result.rejects["path"], result.rejects["reason"], strict=True))


# --- crashes ---------------------------------------------------------------------------------
class _FailsOnOne:
    """Raises for a whole batch holding a 3-pixel-wide image, and for that image alone."""

    name = "fake"

    def detect(self, images):
        if any(im.shape[1] == 3 for im in images):
            raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
        return [[] for _ in images]


def test_one_failing_image_costs_only_itself():
    images = [np.zeros((30, 30, 3), np.uint8), np.zeros((3, 3, 3), np.uint8),
              np.zeros((40, 30, 3), np.uint8)]
    out = detect_robustly(_FailsOnOne(), images, upscale_below=0)
    assert out[0] == [] and out[2] == []
    assert isinstance(out[1], RuntimeError) and "non-empty list" in str(out[1])


def test_mtcnn_on_an_image_under_20_px_does_not_crash():
    from fer_da.detect.mtcnn import MTCNNDetector

    det = MTCNNDetector(device="cpu", min_score=0.8)
    tiny = np.full((12, 12, 3), 128, np.uint8)
    with pytest.raises(Exception, match="non-empty list"):  # what the library itself does
        det.detect([tiny])
    out = detect_robustly(det, [tiny, np.full((48, 48, 3), 90, np.uint8)], upscale_below=64)
    assert all(isinstance(faces, list) for faces in out)  # upscaled: no error


def test_a_domain_whose_every_file_is_rejected(tmp_path):
    (tmp_path / "README").write_text("x")
    write_image(tmp_path / "bad_name.tiff", fmt="TIFF")
    result = _ingest(tmp_path, "jaffe")  # used to crash: cannot insert domain
    assert result.manifest.empty and set(_reasons(result).values()) == {"non_image",
                                                                         "unknown_name"}
    manifests, rejects, _, _ = ingest_domains({"a": RawTree(tmp_path)}, DOMAINS, {})
    assert len(rejects) == 2  # written before the check below refuses the domain
    with pytest.raises(ValueError, match=r"domains \['a'\]: every file was rejected.*"
                                         r"ingestion_rejects.csv"):
        require_images(manifests)
    empty = FaceSet(np.zeros((0, 8, 8), np.uint8), pd.DataFrame(columns=["split"]))
    with pytest.raises(ValueError, match=r"domains \['x'\]: no face survived"):
        require_faces({"x": empty})


@pytest.mark.parametrize("text", ["inf", "-inf", "nan", "1e999", "three"])
def test_ckplus_label_file_with_a_non_finite_value(tmp_path, text):
    write_image(tmp_path / "cohn-kanade-images/S005/001/S005_001_00000001.png", mode="L")
    label = tmp_path / "Emotion/S005/001/S005_001_00000001_emotion.txt"
    label.parent.mkdir(parents=True)
    label.write_text(f"   {text}\n")
    reasons = _reasons(_ingest(tmp_path, "ckplus"))
    assert reasons["Emotion/S005/001/S005_001_00000001_emotion.txt"] == "bad_label_file"


def test_fer2013_pixel_overflow_and_malformed_rows(tmp_path):
    good = " ".join(["7"] * 48 * 48)
    huge = " ".join(["99999999999999999999999"] * 48 * 48)
    (tmp_path / "fer2013.csv").write_text(
        f'emotion,pixels,Usage\n3,{good},Training\n3,{huge},Training\n1,{good},Training,x\n'
        f'2,"{good},Training\n')
    result = _ingest(tmp_path, "fer2013")
    assert result.manifest["path"].tolist() == ["fer2013.csv#line=2"]
    rej = result.rejects.set_index("path")
    assert rej.loc["fer2013.csv#line=3", "reason"] == "bad_row"
    assert "overflow" in rej.loc["fer2013.csv#line=3", "detail"]
    assert "4 fields where the header has 3" in rej.loc["fer2013.csv#line=4", "detail"]
    assert "not valid CSV" in rej.loc["fer2013.csv#line=5", "detail"]


def test_csv_manifest_with_an_extra_field_or_an_unclosed_quote(tmp_path):
    write_image(tmp_path / "imgs/a.png")
    write_image(tmp_path / "imgs/b.png")
    (tmp_path / "manifest.csv").write_text(
        'path,label\nimgs/a.png,happy,extra\n"imgs/b.png,sad\n')
    result = _ingest(tmp_path, "csv", {"label_map": {"happy": "happiness"}})
    reasons = _reasons(result)
    assert reasons["manifest.csv#line=2"] == "bad_row"
    assert reasons["manifest.csv#line=3"] == "bad_row"
    assert reasons["imgs/a.png"] == reasons["imgs/b.png"] == "unreferenced_image"


# --- silent loss or misuse ----------------------------------------------------------------
def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (40, 20), (200, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    (tmp_path / "happy").mkdir()
    (tmp_path / "happy" / "p1_x.jpg").write_bytes(buf.getvalue())
    result = _ingest(tmp_path, "folder", {"classes": {"happy": "happiness"}})
    assert result.manifest[["width", "height"]].values.tolist() == [[20, 40]]
    assert RawTree(tmp_path).open_image("happy/p1_x.jpg").size == (20, 40)


def test_symlinked_and_unreadable_folders_are_followed_or_rejected(tmp_path, monkeypatch):
    real = tmp_path / "elsewhere" / "happiness"
    write_image(real / "p1_a.png")
    root = tmp_path / "root"
    write_image(root / "sadness" / "p2_b.png")
    write_image(root / "real_anger" / "p5_e.png")
    os.symlink(root / "real_anger", root / "anger")  # linked inside the root: followed
    os.symlink(real, root / "happiness")  # out of the root: a reject naming the target
    os.symlink(root, root / "sadness" / "loop")  # a loop: rejected, the walk ends
    os.symlink(tmp_path / "gone.png", root / "sadness" / "p3_c.png")  # broken link
    write_image(root / "locked" / "p4_d.png")
    scandir = os.scandir

    def refusing(path):
        if str(path).endswith("locked"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refusing)
    result = _ingest(root, "folder")
    assert sorted(result.manifest["path"]) == ["anger/p5_e.png", "sadness/p2_b.png"]
    reasons = _reasons(result)
    assert reasons == {"sadness/loop": "folder_listed_twice", "sadness/p3_c.png": "broken_link",
                       "locked": "unreadable_folder", "happiness": "link_outside_root",
                       "real_anger": "folder_listed_twice"}
    assert result.counts["seen"] == 7  # 2 accepted + 5 rejected entries


def test_links_out_of_the_root_are_rejects_naming_their_target(tmp_path):
    """A link inside the root that leads outside it (a folder or a file) is never read as
    data; the root itself may be a link."""
    outside = tmp_path / "elsewhere"
    write_image(outside / "happiness" / "p1_a.png")
    write_image(outside / "p9_z.png")
    root = tmp_path / "root"
    write_image(root / "sadness" / "p2_b.png")
    os.symlink(outside / "happiness", root / "happiness")
    os.symlink(outside / "p9_z.png", root / "sadness" / "p3_c.png")
    result = _ingest(root, "folder")
    assert list(result.manifest["path"]) == ["sadness/p2_b.png"]
    rejects = result.rejects.set_index("path")
    assert dict(rejects["reason"]) == {"happiness": "link_outside_root",
                                       "sadness/p3_c.png": "link_outside_root"}
    assert str(outside / "happiness") in rejects.loc["happiness", "detail"]
    os.symlink(root, tmp_path / "linked_root")
    again = _ingest(tmp_path / "linked_root", "folder")
    assert list(again.manifest["path"]) == ["sadness/p2_b.png"]


def test_a_csv_root_link_pointing_outside_is_not_read(tmp_path):
    outside = write_image(tmp_path / "secret" / "x.png")
    root = tmp_path / "root"
    write_image(root / "imgs" / "a.png")
    os.symlink(outside, root / "imgs" / "b.png")
    (root / "manifest.csv").write_text("path,label\nimgs/a.png,happiness\nimgs/b.png,sadness\n")
    result = _ingest(root, "csv")
    assert list(result.manifest["path"]) == ["imgs/a.png"]
    assert _reasons(result)["imgs/b.png"] == "link_outside_root"


def test_a_file_name_that_is_not_utf8_is_a_reject_naming_its_bytes(tmp_path):
    root = tmp_path / "root"
    write_image(root / "happiness" / "p1_a.png")
    bad = os.fsencode(str(root / "happiness")) + b"/p2_\xff\xfe.png"
    with open(bad, "wb") as handle:
        handle.write((root / "happiness" / "p1_a.png").read_bytes()[:-1] + b"\0")
    result = _ingest(root, "folder")
    assert list(result.manifest["path"]) == ["happiness/p1_a.png"]
    (row,) = result.rejects.itertuples()
    assert row.reason == "non_utf8_name" and "\\xff\\xfe" in row.detail
    row.path.encode("utf-8")  # the reject itself can be written
    pd.DataFrame(result.rejects).to_csv(tmp_path / "rejects.csv")  # was a UnicodeEncodeError


def test_the_same_file_listed_twice_with_two_labels_is_a_conflict(tmp_path):
    write_image(tmp_path / "imgs/a.png")
    write_image(tmp_path / "imgs/b.png")
    (tmp_path / "manifest.csv").write_text(
        "path,label\nimgs/a.png,happiness\nimgs/a.png,sadness\nimgs/b.png,anger\n"
        "imgs/b.png,anger\n")
    result = _ingest(tmp_path, "csv")
    conflicts = result.rejects[result.rejects["reason"] == "conflicting_duplicate"]
    assert list(conflicts["path"]) == ["imgs/a.png", "imgs/a.png"]
    assert "['happiness', 'sadness']" in conflicts["detail"].iloc[0]
    assert list(result.manifest["path"]) == ["imgs/b.png"]  # same label twice: kept once
    assert _reasons(result)["imgs/b.png"] == "duplicate"


def test_an_animated_image_is_a_multi_frame_reject(tmp_path):
    root = tmp_path / "root"
    write_image(root / "happiness" / "p1_a.png")
    frames = [Image.new("L", (24, 20), v) for v in (10, 120, 240)]
    frames[0].save(root / "happiness" / "p2_b.gif", save_all=True, append_images=frames[1:])
    result = _ingest(root, "folder")
    assert list(result.manifest["path"]) == ["happiness/p1_a.png"]
    assert _reasons(result) == {"happiness/p2_b.gif": "multi_frame"}
    assert result.rejects["detail"].iloc[0].startswith("3 frames")


def test_a_phone_jpeg_with_an_embedded_preview_is_one_still_image(tmp_path):
    """Many phones and cameras write a JPEG's preview or depth map as a second MPF image
    (Pillow reads it as MPO, n_frames 2): still one picture, never a multi_frame reject."""
    root = tmp_path / "root"
    main, preview = Image.new("RGB", (40, 30), (200, 10, 10)), Image.new("RGB", (8, 6))
    (root / "happiness").mkdir(parents=True)
    main.save(root / "happiness" / "p1_a.jpg", "MPO", save_all=True, append_images=[preview])
    with Image.open(root / "happiness" / "p1_a.jpg") as img:
        assert img.format == "MPO" and img.n_frames == 2  # the case is real
    result = _ingest(root, "folder")
    assert list(result.manifest["path"]) == ["happiness/p1_a.jpg"] and result.rejects.empty


def test_twelve_bit_data_in_a_sixteen_bit_png_is_scaled_by_its_range(tmp_path):
    """A camera's 12-bit values (0..4095) in a 16-bit PNG: mid-grey stays mid-grey (it
    was scaled by 65535: a near-black crop)."""
    from fer_da.preprocess.image import sample_depth, to_rgb

    img = Image.fromarray(np.full((20, 24), 2048, np.uint16))
    img.save(tmp_path / "twelve.png")
    decoded = RawTree(tmp_path).open_image("twelve.png")
    assert decoded.mode.startswith("I")
    assert abs(int(to_rgb(decoded).mean()) - 128) <= 1
    assert [sample_depth(v) for v in (255, 256, 1023, 4095, 4096, 65535)] == [
        8, 10, 10, 12, 14, 16]
    root = tmp_path / "root" / "happiness"
    root.mkdir(parents=True)
    img.save(root / "p1_a.png")
    result = _ingest(tmp_path / "root", "folder")
    assert list(result.manifest["bit_depth"]) == [12]  # the depth it was read at, recorded


def test_a_catalog_root_that_no_domain_declares(tmp_path):
    write_image(tmp_path / "KA.HA1.1.tiff", fmt="TIFF")
    with pytest.raises(ConfigError, match=r"roots \['extra'\] that no domain"):
        ingest_domains({"a": RawTree(tmp_path), "extra": RawTree(tmp_path)}, DOMAINS, {})


def test_typos_in_setup_and_layout_keys_are_errors():
    with pytest.raises(ConfigError, match=r"dann.setup: unknown keys \['clamp'\]"):
        plan_runs({"kind": "dann", "clamp": [3.0]}, DOMAINS, {})
    with pytest.raises(ConfigError, match=r"domains.k.options \(layout 'kdef'\): unknown keys "
                                          r"\['angle'\]"):
        parse_domain_specs({"k": {"layout": "kdef", "role": "source",
                                  "options": {"angle": ["S"]}}})
    with pytest.raises(ConfigError, match=r"dann.setup.training: unknown keys \['epoch'\]"):
        plan_runs({"kind": "dann", "training": {"epoch": 3}}, DOMAINS, {})


def test_booleans_given_as_strings_are_errors():
    with pytest.raises(ConfigError, match="labels.keep_contempt must be true or false"):
        vocabulary({"keep_contempt": "false"})
    with pytest.raises(ConfigError, match="training.resume must be true or false"):
        TrainConfig.from_params({"resume": "false"})
    with pytest.raises(ConfigError, match="options.neutral_first_frame must be true or false"):
        _ingest_ck_options({"neutral_first_frame": "no"})


def _ingest_ck_options(options):
    from fer_da.ingest.parsers import parse_ckplus

    class Empty:
        files: list[str] = []

    return parse_ckplus(Empty(), options)


@pytest.mark.parametrize("clamp", [0, -1.0, float("inf"), float("nan"), "3"])
def test_clamps_must_be_positive_finite_numbers(clamp):
    with pytest.raises(ConfigError, match=r"dann.setup.clamps"):
        plan_runs({"kind": "dann", "clamps": [clamp]}, DOMAINS, {})


def test_a_save_that_fails_leaves_the_previous_output_intact(tmp_path, monkeypatch):
    table = TableDataset(str(tmp_path / "metrics.csv"))
    table.save(pd.DataFrame({"a": [1, 2]}))
    tables = TablesDataset(str(tmp_path / "manifests"))
    tables.save({"d": pd.DataFrame({"a": [1]})})
    faces = FaceSetsDataset(str(tmp_path / "faces"))
    faces.save({"d": FaceSet(np.zeros((1, 4, 4), np.uint8),
                             pd.DataFrame({"split": ["train"]}))})

    def disk_full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", disk_full)  # tables are encoded, then written
    with pytest.raises(DatasetError, match=r"could not write .*metrics.csv.*No space left"):
        table.save(pd.DataFrame({"a": [9]}))
    with pytest.raises(DatasetError, match=r"could not write .*manifests.*No space left"):
        tables.save({"d": pd.DataFrame({"a": [9]}), "e": pd.DataFrame({"a": [9]})})
    monkeypatch.setattr(pd.DataFrame, "to_parquet", disk_full)
    with pytest.raises(DatasetError, match=r"could not write .*faces.*No space left"):
        faces.save({"d": FaceSet(np.ones((1, 4, 4), np.uint8),
                                 pd.DataFrame({"split": ["val"]}))})
    monkeypatch.undo()
    assert table.load()["a"].tolist() == [1, 2]
    loaded = {k: v() for k, v in tables.load().items()}
    assert list(loaded) == ["d"] and loaded["d"]["a"].tolist() == [1]
    assert faces.load()["d"].table["split"].tolist() == ["train"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["faces", "manifests", "metrics.csv"]


# --- unclear errors --------------------------------------------------------------------------
def test_a_command_line_override_keeps_the_rest_of_the_key(tmp_path):
    for env, text in (("base", "preprocessing:\n  detector: {backend: mtcnn}\n  split:\n"
                               "    mode: subject\n    seed: 0\ndomains:\n  kdef: {layout: kdef}"
                               "\n  jaffe: {layout: jaffe}\n"),
                      ("lab", "domains:\n  mine: {layout: folder}\n"
                              "preprocessing:\n  split: {seed: 3}\n")):
        (tmp_path / env).mkdir()
        (tmp_path / env / "parameters.yml").write_text(text)
    loader = LabConfigLoader(str(tmp_path), env="lab", base_env="base",
                             default_run_env="local",
                             runtime_params={"preprocessing": {"split": {"mode": "random"}}})
    params = loader["parameters"]
    assert params["preprocessing"] == {"detector": {"backend": "mtcnn"},
                                       "split": {"mode": "random", "seed": 3}}
    assert list(params["domains"]) == ["mine"]  # a lab's domains replace the default's


def test_numbers_given_as_strings_name_the_key():
    with pytest.raises(ConfigError, match=r"training.epochs must be an integer.*quotes"):
        TrainConfig.from_params({"epochs": "2"})
    with pytest.raises(ConfigError, match=r"training.lr must be a number"):
        TrainConfig.from_params({"lr": "1e-3"})
    with pytest.raises(ConfigError, match=r"preprocessing.margin must be a number"):
        domain_configs({"margin": "0.1"}, {})
    with pytest.raises(ConfigError, match=r"domains.c.preprocessing.*split.val_fraction"):
        domain_configs({}, {"c": {"split": {"val_fraction": "0.2"}}})
    with pytest.raises(ConfigError, match=r"domains.c.preprocessing.image_size"):
        domain_configs({"image_size": 48}, {"c": {"image_size": 64}})
    with pytest.raises(ConfigError, match=r"domains.c.preprocessing: unknown keys \['detecter'\]"):
        domain_configs({}, {"c": {"detecter": {"backend": "none"}}})


def test_a_truncated_checkpoint_or_a_full_disk_names_the_path(tmp_path, monkeypatch):
    store = CheckpointStore(tmp_path)
    store.save("dann/clamp3/seed0", {"fingerprint": "f", "epoch": 1})
    path = store.path("dann/clamp3/seed0")
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(RuntimeError, match=rf"cannot read the checkpoint {path}"):
        store.load("dann/clamp3/seed0", "f")

    def disk_full(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc] PytorchStreamWriter failed")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match=rf"could not write the checkpoint {path}"):
        store.save("dann/clamp3/seed0", {"fingerprint": "g"})
    assert not path.with_suffix(".tmp").exists()
