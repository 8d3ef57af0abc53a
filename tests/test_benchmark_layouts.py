"""The cross-domain benchmark's datasets in their native layouts (RAF-DB basic, ExpW,
AffectNet), made by the test from generated faces, each label file with bad lines, run
through ingestion, preprocessing and the baseline as a lab with the real datasets would."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from tests.conftest import run_in_project
from tests.test_lab_env import _face

PROJECT = Path(__file__).resolve().parents[1]
LABELS = ("anger", "happiness", "sadness", "surprise")
RAFDB = {"surprise": 1, "happiness": 4, "sadness": 5, "anger": 6}
EXPW = {"anger": 0, "happiness": 3, "sadness": 4, "surprise": 5}
AFFECTNET = {"happiness": 1, "sadness": 2, "surprise": 3, "anger": 6}


def _rafdb(root: Path, rng: np.random.Generator) -> None:
    lines = []
    for split, n in (("train", 8), ("test", 3)):
        for label in LABELS:
            for _ in range(n):
                name = f"{split}_{len(lines) + 1:05d}"
                path = root / "basic" / "Image" / "aligned" / f"{name}_aligned.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                _face(rng, label, 100, grey=False).save(path)
                lines.append(f"{name}.jpg {RAFDB[label]}")
    lines.append("train_99999.jpg 8")  # a bad line: no such code
    (root / "basic" / "EmoLabel").mkdir(parents=True)
    (root / "basic" / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines))


def _expw(root: Path, rng: np.random.Generator) -> None:
    (root / "image" / "origin").mkdir(parents=True)
    lines = []
    for i in range(12):  # two faces per photo, side by side
        photo = Image.new("RGB", (200, 100), (90, 90, 90))
        for face_id, left in enumerate((10, 110)):
            label = LABELS[(i + face_id) % 4]
            photo.paste(_face(rng, label, 80, grey=False), (left, 10))
            lines.append(f"web_{i}.jpg {face_id} 10 {left} {left + 80} 90 {50 + i} "
                         f"{EXPW[label]}")
        photo.save(root / "image" / "origin" / f"web_{i}.jpg")
    lines.append("web_0.jpg 2 10 10 90")  # a bad line: too few fields
    (root / "label").mkdir()
    (root / "label" / "label.lst").write_text("\n".join(lines) + "\n")


def _affectnet(root: Path, rng: np.random.Generator) -> None:
    header = ("subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,"
              "expression,valence,arousal")
    for csv, n in (("training.csv", 6), ("validation.csv", 3)):
        rows = [header]
        for label in LABELS:
            for i in range(n):
                rel = f"{len(rows) % 3}/{csv[0]}{label}{i}.jpg"
                photo = Image.new("RGB", (120, 120), (60, 60, 60))
                photo.paste(_face(rng, label, 90, grey=False), (15, 15))
                path = root / "Manually_Annotated_Images" / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                photo.save(path)
                rows.append(f"{rel},15,15,90,90,,{AFFECTNET[label]},0.1,0.1")
        rows.append("0/none.jpg,0,0,10,10,,9,0,0")  # uncertain, and no such image
        (root / csv).write_text("\n".join(rows) + "\n")


def _env(root: Path, raw: Path) -> None:
    shutil.copytree(PROJECT / "conf" / "base", root / "conf" / "base")
    shutil.copy(PROJECT / "pyproject.toml", root / "pyproject.toml")
    (root / "src").mkdir()
    (root / "conf" / "local").mkdir()
    env = root / "conf" / "native"
    env.mkdir()
    crop = {"detector": {"backend": "none"}, "margin": 0}
    (env / "catalog.yml").write_text(yaml.safe_dump({"raw_domains": {
        "type": "fer_da.datasets.RawDomainsDataset",
        "domains": {d: {"path": str(raw / d)} for d in ("rafdb", "expw", "affectnet")}}}))
    (env / "parameters.yml").write_text(yaml.safe_dump({
        "labels": {"classes": list(LABELS)},
        "domains": {
            "rafdb": {"layout": "rafdb", "role": "source",
                      "preprocessing": {**crop, "split": {"mode": "source"}}},
            "expw": {"layout": "expw", "role": "target",
                     "preprocessing": {**crop, "split": {"mode": "random"}}},
            "affectnet": {"layout": "affectnet", "role": "target",
                          "preprocessing": {**crop, "split": {"mode": "source"}}}},
        "training": {"epochs": 1, "batch_size": 8, "tap_dim": 8, "hidden": 8,
                     "device": "cpu"}}))


@pytest.mark.slow
def test_rafdb_expw_and_affectnet_run_from_their_native_layouts(tmp_path):
    raw, rng = tmp_path / "raw", np.random.default_rng(0)
    _rafdb(raw / "rafdb", rng)
    _expw(raw / "expw", rng)
    _affectnet(raw / "affectnet", rng)
    root = tmp_path / "project"
    _env(root, raw)
    run_in_project(root, "native", "baseline")

    reports = root / "data" / "08_reporting"
    summary = pd.read_csv(reports / "ingestion_summary.csv").set_index("domain")
    assert summary["accepted"].to_dict() == {"rafdb": 44, "expw": 24, "affectnet": 36}
    rejects = pd.read_csv(reports / "ingestion_rejects.csv")
    reasons = rejects.groupby("domain")["reason"].apply(sorted).to_dict()
    assert reasons == {"rafdb": ["bad_row"], "expw": ["bad_row"],
                       "affectnet": ["missing_image", "missing_image"]}
    protocol = pd.read_csv(reports / "protocol.csv").set_index("domain")
    assert protocol.loc["rafdb", "n_test"] == 12  # RAF-DB's own test_ images
    assert protocol.loc["affectnet", "n_test"] == 12  # validation.csv serves as the test set
    assert (protocol["detector"] == "none").all()
    faces = sorted((root / "data" / "05_model_input" / "face_sets").iterdir())[-1]
    expw = pd.read_parquet(next(faces.rglob("expw.parquet")))
    assert expw["path"].str.contains("#box=").all() and len(expw) == 24
    metrics = pd.read_csv(reports / "baseline_metrics.csv")
    assert set(metrics["eval_domain"]) == {"rafdb", "expw", "affectnet"}
    assert metrics["accuracy"].between(0, 1).all()
