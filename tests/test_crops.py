"""``detector.backend: auto``: face crops are recognised without configuration (tiny images,
or a probe whose faces fill the image) and everything else is detected; the probe is cached
like any detection and the decision is in the protocol."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fer_da.detect.base import Detection, NoDetector
from fer_da.ingest import RawTree
from fer_da.pipelines.ingestion.nodes import ingest_domains
from fer_da.pipelines.preprocessing.nodes import detect_faces, normalise_faces
from fer_da.preprocess.crops import coverage, decide, probe_sample, tiny_images
from tests.conftest import write_image


def test_coverage_tiny_and_the_sample():
    assert coverage((0, 0, 50, 100), 100, 100) == 0.5
    assert coverage((-10, -10, 200, 200), 100, 100) == 1.0  # clipped to the image
    assert coverage((10, 10, 5, 5), 100, 100) == 0.0
    assert tiny_images([48, 48], [48, 64], 64) and not tiny_images([48, 65], [48, 65], 64)
    assert not tiny_images([], [], 64)
    assert probe_sample(5, 32) == [0, 1, 2, 3, 4]
    picked = probe_sample(100, 8, seed=3)
    assert len(set(picked)) == 8 and picked == sorted(picked) == probe_sample(100, 8, seed=3)


@pytest.mark.parametrize("covers, crops", [
    ([0.7] * 10, True),
    ([0.7] * 5 + [0.0] * 5, True),          # SFEW: the detector misses half of tight crops
    ([0.7] * 2 + [0.0] * 8, False),         # a face in under a quarter: not a crop set
    ([0.7] * 8 + [0.3] * 2, True),          # 80 % of the faces fill the image
    ([0.7] * 7 + [0.3] * 3, False),
    ([0.22] * 10, False),                   # portraits: the face is a fifth of the frame
    ([], False),
])
def test_the_decision(covers, crops):
    decided, reason = decide(covers, 0.5)
    assert decided is crops
    assert reason.startswith("auto: a face in ") and ("not detected" in reason) is crops


class BoxDetector:
    """A stand-in detector: one centred face covering 80 % of a 100 px wide image (an
    aligned crop) and 20 % of any other (a portrait)."""

    name = "mtcnn"

    def __init__(self, log: list):
        self.log = log

    def detect(self, images):
        self.log.append(len(images))
        out = []
        for im in images:
            side = np.sqrt(0.8 if im.shape[1] == 100 else 0.2)
            h, w = im.shape[:2]
            out.append([Detection((w * (1 - side) / 2, h * (1 - side) / 2,
                                   w * (1 + side) / 2, h * (1 + side) / 2),
                                  np.full((5, 2), np.nan), 0.99)])
        return out


DOMAINS = {"tiny": {"layout": "folder", "role": "source"},
           "aligned": {"layout": "folder", "role": "target"},
           "portraits": {"layout": "folder", "role": "target"}}


def _domains(root):
    raw = {}
    for name, size in (("tiny", (48, 48)), ("aligned", (100, 120)), ("portraits", (140, 190))):
        for label in ("happiness", "sadness"):
            for i in range(6):
                write_image(root / name / label / f"s{i}_{label}.png", size=size,
                            value=40 + 20 * i)
        raw[name] = RawTree(root / name)
    return raw


def test_auto_keeps_crops_whole_detects_the_rest_and_caches_the_probe(tmp_path):
    raw = _domains(tmp_path)
    manifests, _, _, _ = ingest_domains(raw, DOMAINS, {})
    log: list[int] = []
    built = []

    def factory(backend, fallback, **kwargs):
        if backend == "none":
            return NoDetector()
        built.append(backend)
        return BoxDetector(log)

    params = {"detector": {"backend": "auto", "auto_probe": 4}, "split": {"mode": "random"}}
    detections, cache = detect_faces(manifests, raw, pd.DataFrame(), params, DOMAINS, factory)
    by_domain = detections.groupby("domain")["detector"].agg(set).to_dict()
    assert by_domain == {"tiny": {"none"}, "aligned": {"none"}, "portraits": {"mtcnn"}}
    assert built == ["retinaface"]  # auto detects with retinaface (+fallback), built once
    assert log[:2] == [4, 4] and sum(log[2:]) == 12 - 4  # the probed four are not redone
    details = detections.groupby("domain")["detail"].first()
    assert "every image is at most 64 px" in details["tiny"]
    assert "a face in 4/4 probed images, 4 covering >= 50%" in details["aligned"]
    assert details["portraits"].endswith(": detected")
    faces, _, _, protocol = normalise_faces(manifests, raw, detections, params, DOMAINS,
                                            {}, {})
    protocol = protocol.set_index("domain")
    assert protocol.loc["aligned", "detector"] == "none"
    assert protocol.loc["aligned", "detector_backend"] == "auto"
    assert "not detected" in protocol.loc["aligned", "detector_choice"]
    assert protocol.loc["portraits", "detector"] == "mtcnn"

    redone: list[int] = []

    def counting(backend, *_, **__):
        return NoDetector() if backend == "none" else BoxDetector(redone)

    again, new = detect_faces(manifests, raw, cache, params, DOMAINS, counting)
    assert new.empty and redone == []  # the probe and the detections came from the cache
    assert again["detector"].tolist() == detections["detector"].tolist()
    assert again["detail"].tolist() == detections["detail"].tolist()


def test_a_probe_that_finds_only_crops_leaves_no_detector_behind(tmp_path):
    raw = {"aligned": _domains(tmp_path)["aligned"], "tiny": _domains(tmp_path)["tiny"]}
    domains = {"tiny": DOMAINS["tiny"], "aligned": DOMAINS["aligned"]}
    manifests, _, _, _ = ingest_domains(raw, domains, {})
    log: list[int] = []

    def factory(backend, *_, **__):
        return NoDetector() if backend == "none" else BoxDetector(log)

    params = {"detector": {"backend": "auto", "auto_probe": 4}}
    detections, _ = detect_faces(manifests, raw, pd.DataFrame(), params, domains, factory)
    assert set(detections["detector"]) == {"none"} and log == [4]  # the probe alone


def test_an_image_unreadable_since_ingestion_is_left_out_of_the_probe(tmp_path):
    raw = {"aligned": _domains(tmp_path)["aligned"], "tiny": _domains(tmp_path)["tiny"]}
    domains = {"tiny": DOMAINS["tiny"], "aligned": DOMAINS["aligned"]}
    manifests, _, _, _ = ingest_domains(raw, domains, {})
    (tmp_path / "aligned" / "happiness" / "s0_happiness.png").write_bytes(b"not a png")
    log: list[int] = []

    def factory(backend, *_, **__):
        return NoDetector() if backend == "none" else BoxDetector(log)

    params = {"detector": {"backend": "auto", "auto_probe": 12, "batch_size": 5}}
    detections, _ = detect_faces(manifests, raw, pd.DataFrame(), params, domains, factory)
    assert log == [5, 5, 1]  # 11 readable images probed, in batches of the batch size
    details = detections.loc[detections["domain"] == "aligned", "detail"]
    assert details.str.contains("a face in 11/11 probed images").sum() == 11
    assert details.str.startswith("decode:").sum() == 1  # a failed row, as without auto


def test_a_few_photographs_among_crops_are_detected_not_taken_whole(tmp_path, caplog):
    """``auto`` on a domain of crops plus a few larger portraits: the crops are taken whole,
    the portraits detected (a warning names them; the protocol shows both detectors)."""
    import logging

    from fer_da.preprocess.crops import outsized

    assert outsized([100] * 4 + [300], [120] * 4 + [400], 64).tolist() == [False] * 4 + [True]
    assert not outsized([300] * 3, [400] * 3, 64).any()  # all alike: none stands out
    assert not outsized([40, 150], [40, 150], 200).any()  # not above auto_below
    for label in ("happiness", "sadness"):
        for i in range(6):
            write_image(tmp_path / "mixed" / label / f"s{i}_{label}.png", size=(100, 120),
                        value=40 + 20 * i)
        write_image(tmp_path / "mixed" / label / f"photo_{label}.png", size=(300, 400),
                    value=90)
    raw, domains = {"mixed": RawTree(tmp_path / "mixed")}, {"mixed": DOMAINS["tiny"]}
    manifests, _, _, _ = ingest_domains(raw, domains, {})

    def factory(backend, *_, **__):
        return NoDetector() if backend == "none" else BoxDetector([])

    params = {"detector": {"backend": "auto", "auto_probe": 14}, "split": {"mode": "random"}}
    with caplog.at_level(logging.WARNING):
        detections, _ = detect_faces(manifests, raw, pd.DataFrame(), params, domains, factory)
    ids = manifests["mixed"].set_index("image_id")["path"]
    by_path = dict(zip(detections["image_id"].map(ids), detections["detector"], strict=True))
    photos = {p for p in by_path if "photo_" in p}
    assert len(photos) == 2 and {by_path[p] for p in photos} == {"mtcnn"}
    assert {d for p, d in by_path.items() if p not in photos} == {"none"}
    assert set(detections["detail"].str.endswith("; 2 larger images detected")) == {True}
    warned = [r.message for r in caplog.records if "taken whole" in r.message]
    assert len(warned) == 1 and all(p in warned[0] for p in photos)
    _, _, _, protocol = normalise_faces(manifests, raw, detections, params, domains, {}, {})
    assert protocol.loc[0, "detector"] == "mtcnn+none"
