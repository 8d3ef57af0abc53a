"""A lab env made by the test from generated files, run through Kedro as a lab would run it.

Three domains like real ones: pre-cropped 48x48 grey faces in ``<split>/<class>/`` folders
(FER2013-like, no subject ids), full photos in KDEF's layout (the default detector), and
film stills without subject ids grouped by a file-name regex (SFEW-like). Ingestion,
preprocessing and the baseline run with the default detector settings plus per-domain
overrides; the metrics report the test split.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from PIL import Image

from fer_da.synthetic.faces import blend, render, sample_identity
from fer_da.synthetic.generate import PRESETS, generate_domain

PROJECT = Path(__file__).resolve().parents[1]
CLASSES = {"angry": "anger", "happy": "happiness", "sad": "sadness", "surprise": "surprise"}


def _face(rng: np.random.Generator, label: str, size: int, grey: bool) -> Image.Image:
    style = PRESETS["jaffe"].style
    img = Image.fromarray(render(sample_identity(rng, style), blend(label, 1.0), style, rng)[0])
    w, h = img.size
    img = img.crop((int(w * 0.15), int(h * 0.12), int(w * 0.85), int(h * 0.82)))
    img = img.resize((size, size) if isinstance(size, int) else size)
    return img.convert("L") if grey else img


def _write_domains(raw: Path) -> None:
    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("test", 3)):  # FER2013-like crops, no validation folder
        for folder, label in CLASSES.items():
            for i in range(n):
                path = raw / "crops" / split / folder / f"{split}_{folder}_{i}.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                _face(rng, label, 48, grey=True).save(path)
    generate_domain(raw / "photos", "kdef", seed=3, subjects=6)
    tiny = raw / "photos" / "KDEF" / "AF09" / "AF09HAS.JPG"  # 12 px: under MTCNN's minimum
    tiny.parent.mkdir()
    _face(rng, "happiness", 12, grey=False).save(tiny)
    for film in ("Amelie", "Heat", "Up", "Jaws", "Big"):  # SFEW-like stills, no subject
        for folder, label in CLASSES.items():
            for i in range(2):
                path = raw / "films" / folder.capitalize() / f"{film}_00{i}_0000{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                _face(rng, label, (143, 181), grey=False).save(path)


def _lab_conf(conf: Path, raw: Path) -> None:
    shutil.copytree(PROJECT / "conf" / "base", conf / "base")
    (conf / "local").mkdir()
    lab = conf / "lab"
    lab.mkdir()
    catalog = {"raw_domains": {"type": "fer_da.datasets.RawDomainsDataset", "domains": {
        name: {"path": str(raw / name)} for name in ("crops", "photos", "films")}}}
    crop = {"detector": {"backend": "none"}, "margin": 0}
    params = {
        "labels": {"classes": ["anger", "happiness", "sadness", "surprise"]},
        "domains": {
            "photos": {"layout": "kdef", "role": "source",
                       "labels": {"fear": None}},  # dropped: an excluded_label reject
            "crops": {"layout": "folder", "role": "target",
                      "options": {"classes": CLASSES, "splits": {"train": "train",
                                                                  "test": "test"}},
                      "preprocessing": {**crop, "split": {"mode": "source"}}},
            "films": {"layout": "folder", "role": "target", "options": {"classes": CLASSES},
                      "preprocessing": {**crop, "split": {
                          "mode": "group", "group_regex": r"^(?P<group>.+?)_\d+_\d+"}}},
        },
        "training": {"epochs": 1, "batch_size": 8, "tap_dim": 8, "hidden": 8,
                     "device": "cpu"},
    }
    (lab / "catalog.yml").write_text(yaml.safe_dump(catalog))
    (lab / "parameters.yml").write_text(yaml.safe_dump(params))


@pytest.mark.slow
def test_a_lab_env_runs_ingestion_preprocessing_and_baseline(tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    _write_domains(raw)
    _lab_conf(tmp_path / "conf", raw)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KEDRO_DISABLE_TELEMETRY", "1")
    bootstrap_project(PROJECT)
    with KedroSession.create(tmp_path, env="lab", conf_source=str(tmp_path / "conf"),
                             runtime_params={"preprocessing": {"split": {"seed": 1}}}) as s:
        s.run(pipeline_names=["baseline"])

    reports = tmp_path / "data" / "08_reporting"
    rejects = pd.read_csv(reports / "ingestion_rejects.csv")
    prep_rejects = pd.read_csv(reports / "preprocessing_rejects.csv")
    dropped = rejects[(rejects["domain"] == "photos") & (rejects["reason"] == "excluded_label")]
    assert len(dropped) > 0  # fear (dropped by the domain) and neutral (not a class)

    protocol = pd.read_csv(reports / "protocol.csv").set_index("domain")
    assert protocol.loc["crops", "detector"] == "none"
    assert protocol.loc["films", "detector"] == "none"
    assert protocol.loc["photos", "detector"] == "mtcnn"  # RetinaFace has no weights offline
    assert protocol.loc["crops", "split_mode"] == "source"
    assert protocol.loc["crops", "n_test"] == 12  # the layout's own test folder
    assert protocol.loc["films", "split_mode"] == "group"
    assert protocol.loc["photos", "split_mode"] == "subject"

    faces = sorted((tmp_path / "data" / "05_model_input" / "face_sets").iterdir())[-1]
    sizes = {}
    for domain in ("crops", "photos", "films"):
        table = pd.read_parquet(next(faces.rglob(f"{domain}.parquet")))
        assert {"train", "test"} <= set(table["split"])
        sizes[domain] = int((table["split"] == "test").sum())
        if domain == "films":  # a film never straddles two splits
            film = table["path"].str.split("/").str[-1].str.split("_").str[0]
            assert table.groupby(film)["split"].nunique().max() == 1
        if domain == "photos":  # the 12 px image was detected or rejected, not a crash
            tiny_id = "photos/AF09HAS"
            assert (tiny_id in set(table["image_id"])) != (
                "KDEF/AF09/AF09HAS.JPG" in set(prep_rejects["path"]))
    metrics = pd.read_csv(reports / "baseline_metrics.csv")
    assert set(metrics["split"]) == {"test"}
    assert dict(zip(metrics["eval_domain"], metrics["n"], strict=True)) == sizes
    for col in ("accuracy", "balanced_accuracy", "macro_f1", "recall_anger"):
        assert metrics[col].between(0, 1).all()
    assert "recall_neutral" not in metrics.columns  # not a chosen class

    import mlflow

    client = mlflow.tracking.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs(client.search_experiments()[0].experiment_id)
    parent = next(r for r in runs if "protocol.crops" in r.data.tags)
    assert parent.data.tags["protocol.films"].startswith("folder, none, split group")
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"protocol.csv", "split_summary.csv"} <= artifacts
    model_run = next(r for r in runs if r.data.tags.get("fer_da.run_id") == "baseline/photos/seed0")
    assert {"test_balanced_accuracy_crops", "test_macro_f1_films",
            "test_accuracy_photos"} <= set(model_run.data.metrics)
