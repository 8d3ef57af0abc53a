"""Using a trained model: listing inputs, video frames, the serving model file, and the
inference pipeline and MLflow model end to end on a lab project made by the test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from kedro.io import DatasetError
from safetensors.torch import save_file

from fer_da.datasets.media_dataset import media_from_table
from fer_da.datasets.models_dataset import ServingModelDataset
from fer_da.inference.media import iter_frames, list_media, video_frames
from fer_da.inference.predict import InferenceConfig, predict_media
from fer_da.inference.serving import ServingModel, choose_run
from fer_da.models import FERNet, ModelConfig
from fer_da.preprocess.config import PreprocessConfig
from fer_da.training.evaluate import predict
from fer_da.training.trained import TrainedModel
from fer_da.validate import ConfigError
from tests.conftest import PROJECT, make_face_sets, run_in_project, write_image

CLASSES = ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"]


def _video(path: Path, frames: int = 20, fps: float = 10.0, size: int = 64) -> Path:
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (size, size))
    for i in range(frames):
        writer.write(np.full((size, size, 3), 10 * i % 255, np.uint8))
    writer.release()
    return path


def _trained(seed: int = 0, run_id: str = "baseline/src/seed0") -> TrainedModel:
    torch.manual_seed(seed)
    config = ModelConfig(n_classes=7, n_domains=2, backbone="vgg11_slim_bn", tap_dim=8,
                         hidden=8)
    model = FERNet(config)
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    plan = {"run_id": run_id, "setup": "baseline", "run": "src", "seed": 0,
            "labelled_domains": ["src"], "train_domains": ["src"]}
    return TrainedModel(run_id, plan, config.to_dict(), state, [], {"faceset_version": "v1"})


def _serving(trained: TrainedModel, tta: str = "none") -> ServingModel:
    pre = PreprocessConfig().to_dict()
    pre.pop("split")
    pre["detector"].update(backend="none", fallback=None)
    pre["margin"] = 0.0
    return ServingModel(trained, CLASSES, pre, "src", tta, "run_id")


def test_list_media_folders_lists_and_rejects(tmp_path):
    a = write_image(tmp_path / "in" / "a.png", size=(40, 40))
    write_image(tmp_path / "in" / "sub" / "b.jpg", size=(40, 40))
    (tmp_path / "in" / "notes.txt").write_text("not a face")
    media = list_media(tmp_path / "in")
    assert [Path(f).name for f in media.files] == ["a.png", "b.jpg"]
    assert [(Path(r["file"]).name, r["reason"]) for r in media.rejects] == [
        ("notes.txt", "not_media")]
    listing = tmp_path / "list.txt"
    listing.write_text(f"# my faces\nin/a.png\n{a}\nin/missing.png\n")
    media = list_media(listing)
    assert media.files == [str(tmp_path / "in" / "a.png"), str(a)]
    assert [r["reason"] for r in media.rejects] == ["missing_file"]
    table = tmp_path / "list.csv"
    pd.DataFrame({"path": ["in/sub/b.jpg"]}).to_csv(table, index=False)
    assert [Path(f).name for f in list_media(table).files] == ["b.jpg"]
    pd.DataFrame({"file": ["x"]}).to_csv(table, index=False)
    with pytest.raises(ValueError, match="'path' column"):
        list_media(table)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        list_media(tmp_path / "nowhere")
    assert media_from_table(pd.DataFrame({"path": [str(tmp_path / "in")]})).files[0] == str(a)


def test_an_input_folder_is_confined_and_its_links_are_rows_or_rejects(tmp_path):
    """Links inside the folder are followed (a linked sub-folder was silently skipped);
    a link out of it is a reject naming its target (it was read)."""
    write_image(tmp_path / "in" / "a.png", size=(40, 40))
    write_image(tmp_path / "in" / "real" / "b.png", size=(40, 40))
    os.symlink(tmp_path / "in" / "real", tmp_path / "in" / "linked")
    secret = write_image(tmp_path / "secret" / "c.png", size=(40, 40))
    os.symlink(secret, tmp_path / "in" / "c.png")
    media = list_media(tmp_path / "in")
    assert [Path(f).relative_to(tmp_path / "in").as_posix() for f in media.files] == [
        "a.png", "linked/b.png"]
    reasons = {Path(r["file"]).name: r["reason"] for r in media.rejects}
    assert reasons == {"c.png": "link_outside_root", "real": "folder_listed_twice"}
    assert str(secret) in next(r["detail"] for r in media.rejects if r["file"].endswith("c.png"))


def test_an_empty_input_is_an_error_and_an_input_without_faces_says_so(tmp_path, caplog):
    from fer_da.pipelines.inference.nodes import predict_media as predict_node

    (tmp_path / "empty").mkdir()
    serving = _serving(_trained())
    with pytest.raises(ValueError, match=r"empty holds no file: nothing to predict"):
        predict_node(list_media(tmp_path / "empty"), serving, {"device": "cpu"})
    # the MLflow model's table of paths may be empty: an empty answer with its columns
    table, _, rejects = predict_media(serving, media_from_table(pd.DataFrame({"path": []})),
                                      InferenceConfig(device="cpu"))
    assert table.empty and rejects.empty and "p_anger" in table.columns
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "notes.txt").write_text("no face here")
    with caplog.at_level("WARNING"):
        table, _, rejects = predict_media(serving, list_media(tmp_path / "text"),
                                          InferenceConfig(device="cpu"))
    assert table.empty and list(rejects["reason"]) == ["not_media"]
    assert "no face predicted" in caplog.text


def test_every_frame_of_an_animated_image_is_predicted(tmp_path):
    from PIL import Image

    frames = [Image.new("L", (48, 48), v) for v in (10, 120, 240)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    out = [f for f in iter_frames(list_media(tmp_path / "anim.gif"), every_s=0)]
    assert [f.frame for f in out] == [0, 1, 2]
    assert [int(f.rgb.mean()) for f in out] == [10, 120, 240]
    table, _, _ = predict_media(_serving(_trained()), list_media(tmp_path / "anim.gif"),
                                InferenceConfig(device="cpu"))
    assert table["frame"].tolist() == [0, 1, 2]


def test_video_frames_are_sampled_by_time_and_bad_videos_are_rejects(tmp_path):
    video = _video(tmp_path / "clip.avi", frames=20, fps=10.0)
    sampled = list(video_frames(str(video), every_s=0.5))
    assert [i for i, _, _ in sampled] == [0, 5, 10, 15]
    assert [t for _, t, _ in sampled] == pytest.approx([0.0, 0.5, 1.0, 1.5])
    assert sampled[0][2].shape == (64, 64, 3) and sampled[0][2].dtype == np.uint8
    assert len(list(video_frames(str(video), every_s=0))) == 20
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    bad_image = tmp_path / "bad.png"
    bad_image.write_bytes(b"\x89PNG truncated")
    out = list(iter_frames(list_media([broken, bad_image, video]), every_s=1.0))
    assert [o["reason"] for o in out if isinstance(o, dict)] == ["unreadable_video",
                                                                 "unreadable_image"]
    assert [o.frame for o in out if not isinstance(o, dict)] == [0, 10]


@pytest.mark.parametrize("tta", ["none", "flip"])
def test_predictions_equal_the_evaluation_code_on_the_same_crops(tmp_path, tta):
    faces = make_face_sets(("src",), per_label=2, size=48)["src"]
    files = []
    for k, img in enumerate(faces.images):
        path = tmp_path / f"face{k:02d}.png"
        from PIL import Image

        Image.fromarray(img).save(path)
        files.append(path)
    serving = _serving(_trained(), tta)
    table, crops, rejects = predict_media(serving, list_media(tmp_path),
                                          InferenceConfig(device="cpu"))
    assert len(table) == len(faces.images) and rejects.empty
    assert np.array_equal(crops, faces.images)  # detector none, margin 0: the image itself
    model = FERNet(ModelConfig(**serving.trained.model_config))
    model.load_state_dict(serving.trained.state)
    logp, _, _ = predict(model, faces.images, "cpu", tta=tta)
    assert table["label_idx"].tolist() == logp.argmax(1).tolist()
    probs = table[[f"p_{c}" for c in CLASSES]].to_numpy()
    assert np.allclose(probs, np.exp(logp), atol=1e-6)
    assert np.allclose(probs.sum(1), 1.0, atol=1e-5)
    assert (table["run_id"] == "baseline/src/seed0").all()
    assert table["label"].tolist() == [CLASSES[i] for i in table["label_idx"]]


def test_adapt_bn_classifies_with_the_inputs_own_statistics(tmp_path):
    from PIL import Image

    from fer_da.training.adabn import adapt_batchnorm

    faces = make_face_sets(("src",), per_label=2, size=48)["src"]
    for k, img in enumerate(faces.images):
        Image.fromarray(img).save(tmp_path / f"face{k:02d}.png")
    serving = _serving(_trained())
    cfg = InferenceConfig.from_params({"adapt_bn": True, "device": "cpu"})
    table, _, _ = predict_media(serving, list_media(tmp_path), cfg)
    plain, _, _ = predict_media(serving, list_media(tmp_path), InferenceConfig(device="cpu"))
    model = FERNet(ModelConfig(**serving.trained.model_config))
    model.load_state_dict(serving.trained.state)
    logp, _, _ = predict(adapt_batchnorm(model, faces.images, 256, 0, "cpu"), faces.images,
                         "cpu")
    probs = [f"p_{c}" for c in CLASSES]
    assert np.allclose(table[probs].to_numpy(), np.exp(logp), atol=1e-6)
    assert not np.allclose(table[probs].to_numpy(), plain[probs].to_numpy(), atol=1e-3)
    assert set(table["bn_stats"]) == {"input"} and set(plain["bn_stats"]) == {"trained"}
    one = tmp_path / "one"
    one.mkdir()
    Image.fromarray(faces.images[0]).save(one / "face.png")
    with pytest.raises(ValueError, match="adapt_bn needs at least 2 faces"):
        predict_media(serving, list_media(one), cfg)
    with pytest.raises(ConfigError, match="inference.adapt_bn"):
        InferenceConfig.from_params({"adapt_bn": "sometimes"})


def test_serving_model_file_round_trips_without_pickle(tmp_path):
    serving = _serving(_trained())
    dataset = ServingModelDataset(str(tmp_path / "serving" / "baseline.safetensors"))
    dataset.save(serving)
    loaded = dataset.load()
    assert loaded.run_id == serving.run_id and loaded.classes == CLASSES
    assert loaded.preprocessing == serving.preprocessing and loaded.tta == "none"
    assert loaded.trained.provenance == {"faceset_version": "v1"}
    assert all(torch.equal(loaded.trained.state[k], v) for k, v in serving.trained.state.items())
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(DatasetError, match="not a fer-da serving model"):
        ServingModelDataset(str(foreign)).load()
    with pytest.raises(DatasetError, match="no serving model"):
        ServingModelDataset(str(tmp_path / "absent.safetensors")).load()


def test_choose_run_by_id_or_by_source_validation(tmp_path):
    faces = make_face_sets(("src",), per_label=4, size=32)
    models = {m.run_id: m for m in (_trained(0, "baseline/src/seed0"),
                                    _trained(1, "baseline/src/seed1"))}
    chosen, how = choose_run(models, faces, "baseline/src/seed1", "cpu")
    assert chosen.run_id == "baseline/src/seed1" and how == "run_id"
    with pytest.raises(KeyError, match="seed7"):
        choose_run(models, faces, "baseline/src/seed7", "cpu")
    chosen, how = choose_run(models, faces, None, "cpu")
    accuracies = {}
    for rid, m in models.items():
        net = FERNet(ModelConfig(**m.model_config))
        net.load_state_dict(m.state)
        val = faces["src"].split("val")
        logp, _, _ = predict(net, val.images, "cpu")
        accuracies[rid] = float((logp.argmax(1) == val.table["label_idx"].to_numpy()).mean())
    best = max(sorted(accuracies), key=lambda r: accuracies[r])
    assert chosen.run_id == best and how == f"source_val_accuracy={accuracies[best]:.4f}"


def test_inference_options_are_validated():
    with pytest.raises(ConfigError, match="inference.faces"):
        InferenceConfig.from_params({"faces": "some"})
    with pytest.raises(ConfigError, match=r"inference: unknown keys \['every_sec'\]"):
        InferenceConfig.from_params({"every_sec": 1})


def _infer(root: Path, params: dict) -> None:
    run_in_project(root, "tiny", "inference", {"inference": params})


def _latest(folder: Path) -> Path:
    """The file of the newest version of a versioned dataset ``folder``."""
    return next(sorted(folder.iterdir())[-1].iterdir())


@pytest.mark.slow
def test_inference_pipeline_predicts_as_the_evaluation_did(lab):
    photos = lab / "data" / "01_raw" / "synthetic" / "kdef"
    _infer(lab, {"input": str(photos), "setup": "baseline", "faces": "largest"})
    out = lab / "data" / "07_model_output" / "inference"
    table = pd.read_csv(_latest(out / "predictions.csv"))
    rejects = pd.read_csv(_latest(out / "rejects.csv"))
    assert _latest(out / "contact_sheet.png").stat().st_size > 1000
    assert (table["run_id"] == "baseline/kdef/seed0").all()
    assert set(table["label"]) <= set(CLASSES)
    # every image under the folder is a row or a reject: nothing silently dropped
    listed = {str(p) for p in photos.rglob("*") if p.is_file()
              and p.name != ".fer_da_synthetic.json"}
    assert set(table["file"]) | set(rejects["file"]) == listed
    # the evaluation's predictions on the same images (the photos' test split)
    evaluated = pd.read_parquet(lab / "data" / "07_model_output" / "baseline_predictions.parquet")
    evaluated = evaluated[evaluated["eval_domain"] == "kdef"]
    faces = sorted((lab / "data" / "05_model_input" / "face_sets").iterdir())[-1]
    paths = pd.read_parquet(next(faces.rglob("kdef.parquet"))).set_index("image_id")["path"]
    expected = {str(photos / paths[i]): int(p) for i, p in zip(evaluated["image_id"],
                                                                evaluated["pred_idx"],
                                                                strict=True)}
    got = dict(zip(table["file"], table["label_idx"], strict=True))
    assert len(expected) >= 8 and {f: got[f] for f in expected} == expected
    serving = ServingModelDataset(str(lab / "data" / "06_models" / "serving" /
                                      "baseline.safetensors")).load()
    assert serving.preprocessing["detector"]["backend"] == "mtcnn"  # as the training faces
    assert serving.preprocessing_domain == "kdef" and serving.classes == CLASSES


@pytest.mark.slow
def test_inference_on_a_video_and_a_list_with_rejects(lab):
    photo = next((lab / "data" / "01_raw" / "synthetic" / "kdef").rglob("*HAS.JPG"))
    import cv2

    frame = cv2.resize(cv2.imread(str(photo)), (160, 160))
    video = lab / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (160, 160))
    for _ in range(12):
        writer.write(frame)
    writer.release()
    listing = lab / "inputs.txt"
    listing.write_text(f"{video}\n{photo}\nmissing.jpg\n")
    _infer(lab, {"input": str(listing), "setup": "baseline", "every_s": 0.5})
    out = lab / "data" / "07_model_output" / "inference"
    table = pd.read_csv(_latest(out / "predictions.csv"))
    rejects = pd.read_csv(_latest(out / "rejects.csv"))
    from_video = table[table["file"] == str(video)]
    assert from_video["frame"].tolist() == [0, 5, 10]  # 12 frames at 10 fps, every 0.5 s
    assert from_video["time_s"].tolist() == pytest.approx([0.0, 0.5, 1.0])
    assert from_video["label"].nunique() == 1  # the same face in every frame
    assert (table["file"] == str(photo)).sum() >= 1
    assert rejects[["reason"]].to_dict("records") == [{"reason": "missing_file"}]


@pytest.mark.slow
def test_mlflow_model_of_the_run_predicts_from_the_local_store(lab):
    """``mlflow models predict`` on a folder, offline, from the run's registered model."""
    photos = lab / "data" / "01_raw" / "synthetic" / "kdef" / "KDEF"
    folder = sorted(p for p in photos.iterdir() if p.is_dir())[0]
    paths = lab / "paths.csv"
    pd.DataFrame({"path": [str(folder)]}).to_csv(paths, index=False)
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{lab / 'mlflow.db'}"}
    out = lab / "mlflow_predictions.json"
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    subprocess.run([str(mlflow_cli), "models", "predict", "-m",
                    "models:/fer_da.tiny.baseline/1",
                    "-i", str(paths), "-t", "csv", "--env-manager", "local", "-o", str(out)],
                   cwd=lab, env=env, check=True, capture_output=True, timeout=300)
    served = pd.DataFrame(json.loads(out.read_text())["predictions"])
    _infer(lab, {"input": str(folder), "setup": "baseline"})
    table = pd.read_csv(_latest(lab / "data" / "07_model_output" / "inference" /
                                "predictions.csv"))
    served = served[served["reason"].fillna("") == ""]
    assert len(served) == len(table) > 0
    assert served["file"].tolist() == table["file"].tolist()
    assert served["label"].tolist() == table["label"].tolist()
    assert np.allclose(served["probability"], table["probability"], atol=1e-6)


@pytest.mark.slow
def test_the_results_notebook_runs_on_the_trained_project(lab):
    """notebooks/fer_da_results.ipynb, executed in a fresh kernel against the project."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(PROJECT / "notebooks" / "fer_da_results.ipynb", as_version=4)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FER_DA_PROJECT", str(lab))
        mp.setenv("FER_DA_ENV", "tiny")
        mp.setenv("KEDRO_DISABLE_TELEMETRY", "1")
        NotebookClient(notebook, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(lab)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "setups with results: ['baseline']" in text
    assert "faces shown" in text and int(text.split(" faces shown")[0].split()[-1]) >= 4
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 3  # t-SNE, confusion matrices, faces
    tables = [o for o in outputs if "text/html" in o.get("data", {})]
    assert any("balanced_accuracy" in t["data"]["text/html"] for t in tables)


HEAVY = ("torch", "torchvision", "mlflow")
PROBE = """
import sys
from kedro.framework.cli import main
sys.argv = ["kedro", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    assert not exc.code, "kedro exited with " + str(exc.code)
print("HEAVY=" + ",".join(m for m in HEAVY if m in sys.modules))
"""


@pytest.mark.slow
@pytest.mark.parametrize("args", [["registry", "list"],
                                  ["run", "--pipelines=ingestion", "--env=tiny"]])
def test_commands_that_do_not_train_import_neither_torch_nor_mlflow(lab, args):
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}
    out = subprocess.run([sys.executable, "-c", f"HEAVY = {HEAVY!r}" + PROBE, *args], cwd=lab,
                         env=env, capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "HEAVY="


@pytest.mark.slow
def test_the_registered_model_carries_labels_preprocessing_and_provenance(lab):
    import mlflow

    uri = f"sqlite:///{lab / 'mlflow.db'}"
    client = mlflow.tracking.MlflowClient(uri, registry_uri=uri)
    version = client.get_model_version("fer_da.tiny.baseline", "1")
    run = client.get_run(version.run_id)
    assert run.data.tags["serving.baseline.run_id"] == "baseline/kdef/seed0"
    assert run.data.tags["serving.baseline.classes"] == ",".join(CLASSES)
    card = json.loads(Path(client.download_artifacts(version.run_id, "serving/baseline.json",
                                                     str(lab))).read_text())
    assert card["classes"] == CLASSES and card["preprocessing_domain"] == "kdef"
    assert card["preprocessing"]["detector"]["backend"] == "mtcnn"
    assert card["preprocessing"]["image_size"] == 48
    assert card["provenance"]["faceset_version"] and card["provenance"]["source_digest"]


def _served(seeds, trained=None):
    t = trained or _trained()
    plan = {**t.plan, "config": {"epochs": 3, "seeds": seeds, "resume": True}}
    return _serving(TrainedModel(t.run_id, plan, t.model_config, t.state, [], {}))


def test_the_hook_registers_a_served_model_by_its_registration_key(tmp_path):
    import mlflow

    from fer_da.hooks import TrainingTrackingHooks

    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        experiment = mlflow.tracking.MlflowClient().create_experiment("serving")
        keys, tags = [], []
        for seeds in ([0], [0, 1, 2]):
            hooks = TrainingTrackingHooks()
            with mlflow.start_run(experiment_id=experiment) as run:
                hooks._log_serving("baseline", _served(seeds))
            keys.append(hooks._serving["baseline"])
            tags.append(mlflow.get_run(run.info.run_id).data.tags)
    finally:
        mlflow.set_tracking_uri(before)
    assert keys[0] == keys[1] == tags[0]["serving.baseline.registration"]  # one version
    assert tags[0]["serving.baseline.digest"] != tags[1]["serving.baseline.digest"]


def test_a_served_models_registration_ignores_the_other_seeds_but_not_its_weights():
    from fer_da.datasets.models_dataset import registration_digest, serving_digest

    served = _served
    one, three = served([0]), served([0, 1, 2])
    assert serving_digest(one) != serving_digest(three)  # the file records its whole plan
    assert registration_digest(one) == registration_digest(three)  # same predictions
    other = served([0], _trained(seed=1))
    assert registration_digest(other) != registration_digest(one)  # other weights
    longer = _serving(TrainedModel(one.trained.run_id, {**one.trained.plan, "config": {
        "epochs": 4, "seeds": [0], "resume": True}}, one.trained.model_config,
        one.trained.state, [], {}))
    assert registration_digest(longer) != registration_digest(one)  # a plan change counts
