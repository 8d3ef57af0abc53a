"""Preprocessing on a tiny raw tree: corrupt, faceless and two-face images; the cache."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fer_da.detect import build_detector
from fer_da.ingest import RawTree
from fer_da.pipelines.ingestion.nodes import ingest_domains
from fer_da.pipelines.preprocessing.nodes import contact_sheet, detect_faces, normalise_faces
from fer_da.synthetic.faces import blend, render, sample_identity
from fer_da.synthetic.generate import PRESETS

PARAMS = {"detector": {"backend": "mtcnn", "fallback": None, "device": "cpu",
                       "min_score": 0.8, "batch_size": 4},
          "no_face": "reject", "margin": 0.1, "align": False, "image_size": 24,
          "split": {"mode": "random", "val_fraction": 0.5, "test_fraction": 0.0, "seed": 0}}
TRAINING = {"seeds": [0]}
DOMAINS = {"lab": {"layout": "folder", "role": "source",
                   "options": {"subject_regex": r"^(?P<subject>p\d)_"}}}


def _face(seed: int, label: str = "happiness") -> np.ndarray:
    style = PRESETS["kdef"].style
    rng = np.random.default_rng(seed)
    return render(sample_identity(rng, style), blend(label, 1.0), style, rng)[0]


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> RawTree:
    root = tmp_path_factory.mktemp("raw")
    for i, label in enumerate(["happiness", "sadness", "surprise", "anger"]):
        (root / label).mkdir()
        Image.fromarray(_face(i, label)).save(root / label / f"p{i}_{label}.png")
    Image.new("RGB", (141, 190), (120, 130, 150)).save(root / "anger/p5_blank.png")
    small = np.asarray(Image.fromarray(_face(7)).resize((90, 120)))
    two = np.full((190, 141 + 90, 3), 120, np.uint8)
    two[:, :141] = _face(6)
    two[35:155, 141:] = small
    Image.fromarray(two).save(root / "happiness/p6_two.png")
    (root / "sadness/p7_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    return RawTree(root)


class CountingDetector:
    def __init__(self, inner):
        self.inner, self.name, self.calls = inner, inner.name, 0

    def detect(self, images):
        self.calls += len(images)
        return self.inner.detect(images)


def test_preprocessing_routes_every_bad_case_and_caches_detection(tree):
    manifests, rejects, summary, _ = ingest_domains({"lab": tree}, DOMAINS, {})
    assert rejects[["path", "reason"]].values.tolist() == [
        ["sadness/p7_broken.png", "unreadable_image"]]
    assert summary["seen"].tolist() == [7] and summary["accepted"].tolist() == [6]

    made = []

    def factory(backend, fallback=None, **kw):
        made.append(CountingDetector(build_detector(backend, fallback, **kw)))
        return made[-1]

    import pandas as pd

    detections, new = detect_faces(manifests, {"lab": tree}, pd.DataFrame(), PARAMS, DOMAINS,
                                   factory)
    assert made[0].calls == 6 and len(new) == 6
    again, new_again = detect_faces(manifests, {"lab": tree}, new, PARAMS, DOMAINS, factory)
    assert made[1].calls == 0 and new_again.empty  # cached: no detection the second time
    assert again["faces"].tolist() == detections["faces"].tolist()

    faces, prep_rejects, split_summary, protocol = normalise_faces(
        manifests, {"lab": tree}, detections, PARAMS, DOMAINS, {}, TRAINING)
    assert prep_rejects[["path", "reason"]].values.tolist() == [["anger/p5_blank.png",
                                                                 "no_face"]]
    fs = faces["lab"]
    assert fs.images.shape == (5, 24, 24) and fs.images.dtype == np.uint8
    assert set(fs.table["detector"]) == {"mtcnn"}
    two = fs.table[fs.table["image_id"].str.contains("p6_two")].iloc[0]
    assert two["flag"] == "multiple_faces" and two["n_faces"] >= 2
    x0, y0, x1, y1 = two["box"]
    assert (x0 + x1) / 2 < 141  # the larger face (left) was kept
    assert split_summary["n"].sum() == 5
    assert set(fs.table["split"]) == {"train", "val"}

    assert protocol[["domain", "layout", "detector", "split_mode", "n_train", "n_val",
                     "n_test"]].values.tolist() == [
        ["lab", "folder", "mtcnn", "random", (fs.table["split"] == "train").sum(),
         (fs.table["split"] == "val").sum(), 0]]
    centred, none_rejects, _, _ = normalise_faces(manifests, {"lab": tree}, detections,
                                                  {**PARAMS, "no_face": "centre_crop"},
                                                  DOMAINS, {}, TRAINING)
    assert none_rejects.empty
    blank = centred["lab"].table[centred["lab"].table["image_id"].str.contains("blank")]
    assert blank["flag"].tolist() == ["centre_crop"]

    # a new margin re-crops from the cached boxes: detection is not needed again
    wider, _, _, _ = normalise_faces(manifests, {"lab": tree}, again,
                                     {**PARAMS, "margin": 0.5}, DOMAINS, {}, TRAINING)
    assert not np.array_equal(wider["lab"].images, fs.images)
    sheet = contact_sheet(faces)
    assert sheet.axes
    shown = [t.get_text() for t in sheet.axes[0].get_xticklabels()]
    from fer_da.labels import CANONICAL_LABELS
    assert shown == [c for c in CANONICAL_LABELS if c in shown]  # the models' class order
    named = contact_sheet(faces, {"names": {"lab": "Lab webcam"}})
    assert [t.get_text() for t in named.axes[0].get_yticklabels()] == ["Lab webcam"]


class _Killed(BaseException):
    """Stands for a kill -9 mid-detection (the process ends in the middle of a batch)."""


class KilledAfter:
    """Detects ``batches`` batches with the real detector, then the run is 'killed'."""

    def __init__(self, inner, batches: int):
        self.inner, self.name, self.left, self.calls = inner, inner.name, batches, 0

    def detect(self, images):
        if self.left == 0:
            raise _Killed
        self.left -= 1
        self.calls += len(images)
        return self.inner.detect(images)


def test_a_killed_detection_run_resumes_from_what_it_flushed(tree, tmp_path):
    """Detections are flushed to the cache every 2 images; a run killed after its first
    batch of 4 leaves those 4 in the cache, and the next run detects only the other 2."""
    import pandas as pd

    from fer_da.datasets import CacheShardsDataset, TableCacheDataset

    manifests, _, _, _ = ingest_domains({"lab": tree}, DOMAINS, {})
    cache = TableCacheDataset(str(tmp_path / "cache"))
    shards = CacheShardsDataset(str(tmp_path / "cache"), every=2, seconds=3600)
    made = []

    def killed_factory(backend, fallback=None, **kw):
        made.append(KilledAfter(build_detector(backend, fallback, **kw), batches=1))
        return made[-1]

    with pytest.raises(_Killed):
        detect_faces(manifests, {"lab": tree}, cache.load(), PARAMS, DOMAINS, killed_factory,
                     shards=shards.load())
    kept = cache.load()
    assert len(kept) == 4  # the first batch (batch_size 4), flushed before the kill

    def factory(backend, fallback=None, **kw):
        made.append(CountingDetector(build_detector(backend, fallback, **kw)))
        return made[-1]

    writer = shards.load()
    detections, rest = detect_faces(manifests, {"lab": tree}, kept, PARAMS, DOMAINS, factory,
                                    shards=writer)
    assert made[-1].calls == 2  # resumed: only the two images the killed run never reached
    assert writer.written == 2 and rest.empty  # flushed as they came, nothing left over
    whole, fresh = detect_faces(manifests, {"lab": tree}, pd.DataFrame(), PARAMS, DOMAINS,
                                factory)
    assert detections["faces"].tolist() == whole["faces"].tolist()  # same as one whole run
    assert len(fresh) == 6 and len(cache.load()) == 6


def _capped_table(role: str, labels: list[str]):
    import pandas as pd

    return pd.DataFrame({"image_id": [f"i{i}" for i in range(len(labels))],
                         "domain": "d", "role": role,
                         "subject": [f"s{i % 9}" for i in range(len(labels))],
                         "source_split": ["test" if i % 5 == 0 else "train"
                                          for i in range(len(labels))],
                         "label": labels})


def test_max_train_never_reads_a_target_domains_labels():
    """A target's training split is its unlabelled adaptation pool: split.max_train picks
    it without its labels (permuted labels, same images kept, exactly max_train of them);
    a source's cap stays stratified by label."""
    from fer_da.preprocess.config import preprocess_config
    from fer_da.preprocess.normalise import split_columns as _split_columns

    # the layout's own train/test (mode source, nothing carved): only the cap chooses
    cfg = preprocess_config({"split": {"mode": "source", "val_fraction": 0.0,
                                       "max_train": 20}})
    labels = ["anger"] * 50 + ["happiness"] * 10 + ["fear"] * 20
    permuted = list(np.random.default_rng(3).permutation(labels))
    a = _split_columns(_capped_table("target", labels), cfg, "d", [0])["split"]
    b = _split_columns(_capped_table("target", permuted), cfg, "d", [0])["split"]
    assert a.equals(b)  # the labels played no part
    assert (a == "train").sum() == 20
    assert (a == "unused").sum() == (a.isin(["train", "unused"])).sum() - 20
    src = _capped_table("source", labels)
    split = _split_columns(src, cfg, "d", [0])["split"]
    # stratified: each label keeps the same share of its training images (rounded)
    kept = src["label"][split == "train"].value_counts()
    pool = src["label"][split.isin(["train", "unused"])].value_counts()
    share = 20 / pool.sum()
    assert all(abs(kept.get(k, 0) - round(n * share)) == 0 for k, n in pool.items())
    src_permuted = _split_columns(_capped_table("source", permuted), cfg, "d", [0])["split"]
    assert not split.equals(src_permuted)  # the source's cap does read its labels
