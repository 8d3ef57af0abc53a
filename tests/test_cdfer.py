"""The cross-domain FER benchmark env (conf/cdfer): its stand-ins in the benchmark datasets'
native layouts, the transductive split of its JAFFE protocol, and the env run end to end on
the stand-ins with the report marking them."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.io import DatasetError

from fer_da.datasets.raw_dataset import RawDomainsDataset
from fer_da.facesets import FaceSet
from fer_da.ingest import parse_domain_specs
from fer_da.ingest.core import ingest_domain
from fer_da.ingest.tree import RawTree
from fer_da.labels import CANONICAL_LABELS
from fer_da.preprocess.splits import assign_split
from fer_da.synthetic import generate_domain
from fer_da.training.data import training_view
from tests.conftest import make_face_sets, run_in_project

PROJECT = Path(__file__).resolve().parents[1]
CDFER = yaml.safe_load((PROJECT / "conf" / "cdfer" / "parameters.yml").read_text())
SEVEN = tuple(CANONICAL_LABELS[:7])


@pytest.mark.parametrize("domain", ["rafdb", "fer2013", "sfew", "expw"])
def test_each_stand_in_is_read_by_its_native_parser_without_a_reject(tmp_path, domain):
    generate_domain(tmp_path / domain, domain, seed=1, subjects=4)
    spec = parse_domain_specs({domain: {**CDFER["domains"][domain], "role": "source"}})[0]
    result = ingest_domain(spec, RawTree(tmp_path / domain), SEVEN)
    files = [p for p in (tmp_path / domain).rglob("*") if p.is_file()]
    assert result.rejects.empty, result.rejects.head()
    assert set(result.manifest["label"]) == set(SEVEN)
    if domain == "expw":  # one row per face of a photo, several faces per photo
        assert result.manifest["path"].str.contains("#box=").all()
        photos = result.manifest["path"].str.split("#").str[0]
        assert photos.nunique() < len(result.manifest) and photos.nunique() == len(files) - 1
    else:
        label_files = 1 if domain == "rafdb" else 0
        assert len(result.manifest) == len(files) - label_files
    if domain in ("rafdb", "fer2013", "sfew"):  # the release's own splits
        assert {"train", "test"} <= set(result.manifest["source_split"])


def test_a_stand_in_is_generated_only_where_the_lab_has_no_dataset(tmp_path, caplog):
    real = tmp_path / "jaffe_real"
    generate_domain(real, "jaffe", seed=2, subjects=1)  # a lab's copy: no generator stamp
    stand = tmp_path / "stand_ins"
    ds = RawDomainsDataset({
        "present": {"path": str(real),
                    "stand_in": {"preset": "jaffe", "seed": 7, "path": str(stand / "a")}},
        "absent": {"path": str(tmp_path / "nowhere"),
                   "stand_in": {"preset": "jaffe", "seed": 7, "subjects": 1,
                                "path": str(stand / "b")}}})
    logger = logging.getLogger("fer_da.datasets.raw_dataset")
    logger.addHandler(caplog.handler)
    try:
        trees = ds.load()
        again = ds.load()  # a run loads the raw trees twice (ingestion, preprocessing)
    finally:
        logger.removeHandler(caplog.handler)
    assert again["absent"].root == stand / "b" and again["absent"].synthetic
    warned = {id(r) for r in caplog.records if "synthetic stand-in" in r.getMessage()}
    assert len(warned) == 1  # warned once, not on every load
    assert trees["present"].root == real and not trees["present"].synthetic
    assert not (stand / "a").exists()  # the lab's dataset is read, nothing generated
    assert trees["absent"].root == stand / "b" and trees["absent"].synthetic
    assert len(trees["absent"].files) == 22  # 21 images and the README
    assert "'absent'" in caplog.text and "synthetic stand-in" in caplog.text
    assert "'present'" not in caplog.text


@pytest.mark.parametrize("stand_in, message", [
    ({"preset": "jaffe"}, "stand_in needs preset and path"),
    ({"preset": "jaffe", "path": "x", "colour": 1}, "stand_in needs preset and path"),
    ({"preset": "nope", "path": "x"}, "stand_in.preset 'nope' is none of"),
    ({"preset": "jaffe", "path": "data/j"}, "stand_in.path must differ from path"),
])
def test_a_bad_stand_in_is_refused_naming_the_domain(stand_in, message):
    with pytest.raises(DatasetError, match=message):
        RawDomainsDataset({"jaffe": {"path": "data/j", "stand_in": stand_in}})


def _transductive(face_sets: dict[str, FaceSet], name: str) -> dict[str, FaceSet]:
    fs = face_sets[name]
    table = fs.table.assign(split=assign_split(fs.table, "transductive", {}, 0),
                            transductive=True)
    return {**face_sets, name: FaceSet(fs.images, table)}


def test_transductive_makes_every_image_test_and_the_unlabelled_pool():
    face_sets = make_face_sets()
    before = face_sets["tgt"].digest
    face_sets = _transductive(face_sets, "tgt")
    tgt = face_sets["tgt"]
    assert (tgt.table["split"] == "test").all() and tgt.transductive
    assert tgt.digest != before
    inductive = FaceSet(tgt.images, tgt.table.drop(columns="transductive"))
    assert inductive.digest != tgt.digest  # the pool is part of what a model saw
    src, target = training_view(face_sets, ("src", "tgt"), ("src",))
    assert target.labels is None and len(target.images) == len(tgt.table)
    assert np.array_equal(target.images, tgt.images)
    assert len(src.images) == int((face_sets["src"].table["split"] == "train").sum())
    plain = make_face_sets()["tgt"]  # an ordinary target adapts to its train split alone
    assert len(plain.unlabelled_pool().table) == int((plain.table["split"] == "train").sum())
    with pytest.raises(ValueError, match="'tgt' has split mode transductive"):
        training_view(face_sets, ("tgt",), ("tgt",))  # finetune, joint: labels refused


def test_adabn_statistics_of_a_transductive_target_come_from_all_its_images():
    from fer_da.pipelines.evaluation.nodes import evaluate_models
    from fer_da.training.config import RunPlan, TrainConfig
    from fer_da.training.loop import train_run

    face_sets = _transductive(make_face_sets(size=32), "tgt")
    cfg = TrainConfig(epochs=1, batch_size=8, tap_dim=4, hidden=8, device="cpu")
    plan = RunPlan(setup="dann", run="adabn", seed=0, mode="supervised",
                   train_domains=("src",), labelled_domains=("src",),
                   all_domains=("src", "tgt"), method="erm", config=cfg, target_bn=True)
    trained = train_run(plan, training_view(face_sets, ("src",), ("src",)), 7)
    metrics, _ = evaluate_models({trained.run_id: trained}, face_sets, {"device": "cpu"},
                                 {"splits": ["test", "val"]}, {})
    stats = metrics.set_index("eval_domain")["bn_stats"]
    assert stats["tgt"] == "tgt/all" and stats["src"] == "trained"


def test_a_transductive_source_is_refused_naming_the_key():
    from fer_da.pipelines.preprocessing.nodes import normalise_faces
    from fer_da.validate import ConfigError

    params = yaml.safe_load((PROJECT / "conf/base/parameters_preprocessing.yml").read_text())
    domains = {"rafdb": {"layout": "rafdb", "role": "source",
                         "preprocessing": {"split": {"mode": "transductive"}}}}
    with pytest.raises(ConfigError, match="domains.rafdb.preprocessing.split.mode: "
                                          "transductive .* 'rafdb' is a source"):
        normalise_faces({"rafdb": pd.DataFrame()}, {"rafdb": None},
                        pd.DataFrame(columns=["image_id"]), params["preprocessing"], domains,
                        {"classes": list(SEVEN)}, {"seeds": [0]})


def _cdfer_project(root: Path) -> Path:
    """A copy of the project with conf/cdfer as it ships, its stand-ins smaller and the
    training short (the same env otherwise: layouts, splits, the reference)."""
    root.mkdir(parents=True)
    shutil.copy(PROJECT / "pyproject.toml", root / "pyproject.toml")
    (root / "src").mkdir()
    for env in ("base", "cdfer"):
        shutil.copytree(PROJECT / "conf" / env, root / "conf" / env)
    (root / "conf" / "local").mkdir()
    catalog = yaml.safe_load((root / "conf/cdfer/catalog.yml").read_text())
    for body in catalog["raw_domains"]["domains"].values():
        body["stand_in"]["subjects"] = 3 if body["stand_in"]["preset"] in ("ckplus",
                                                                           "jaffe") else 6
    (root / "conf/cdfer/catalog.yml").write_text(yaml.safe_dump(catalog))
    return root


@pytest.mark.slow
def test_the_cdfer_env_runs_on_its_stand_ins_and_the_report_marks_them(tmp_path):
    root = _cdfer_project(tmp_path / "project")
    run_in_project(root, "cdfer", "adaptation", params={
        "training": {"epochs": 1, "tap_dim": 8, "hidden": 16, "device": "cpu"},
        "preprocessing": {"image_size": 48}})

    reports = root / "data" / "cdfer" / "08_reporting"
    assert not (root / "data" / "08_reporting").exists()  # data_root keeps the env apart
    protocol = pd.read_csv(reports / "protocol.csv").set_index("domain")
    assert set(protocol.index) == {"rafdb", "ckplus", "jaffe", "sfew", "fer2013", "expw"}
    assert (protocol["data"] == "synthetic").all()
    jaffe = protocol.loc["jaffe"]
    assert jaffe["split_mode"] == "transductive" and jaffe["n_train"] == 0
    assert jaffe["n_test"] == jaffe["images"] > 0
    assert protocol.loc["rafdb", "split_mode"] == "source"
    faces = sorted((root / "data" / "cdfer" / "05_model_input" / "face_sets").iterdir())[-1]
    assert pd.read_parquet(next(faces.rglob("jaffe.parquet")))["transductive"].all()
    report = (reports / "report.md").read_text()
    section = report[report.index("## Cross-domain FER benchmark beside fer-da"):]
    assert "| fer-da (synthetic stand-ins) | baseline |" in section
    assert "| fer-da (synthetic stand-ins) | dann/clamp3 |" in section
    assert "| published, ResNet-50 | AGRA | 85.27 |" in section
    assert "| JAFFE | jaffe | all 213 images" in section
    assert section.count("no: a synthetic stand-in") == 6
    assert "Table I —" not in report  # joint did not run: no table of the baseline alone
    metrics = pd.read_csv(reports / "dann_metrics.csv")
    assert set(metrics["eval_domain"]) == set(protocol.index)
    assert (metrics.loc[metrics["eval_domain"] == "jaffe", "split"] == "test").all()


def test_joint_and_finetune_refuse_a_transductive_target_before_training():
    from fer_da.training.plans import plan_runs
    from fer_da.validate import ConfigError

    params = yaml.safe_load((PROJECT / "conf/base/parameters_preprocessing.yml").read_text())
    domains = {"src": {"layout": "folder", "role": "source"},
               "jaffe": {"layout": "jaffe", "role": "target",
                         "preprocessing": {"split": {"mode": "transductive"}}}}
    for kind in ("joint", "finetune"):
        with pytest.raises(ConfigError, match=r"labels of \['jaffe'\], whose split mode is "
                                              "transductive"):
            plan_runs({"kind": kind}, domains, {}, params["preprocessing"])
    assert plan_runs({"kind": "dann"}, domains, {}, params["preprocessing"])  # adaptation
