"""Detectors: RetinaFace for real on a random-init weights file, MTCNN on synthetic faces."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

from fer_da.detect import DetectorUnavailable, build_detector
from fer_da.detect.base import Detection, NoDetector
from fer_da.detect.retinaface import (
    RetinaFaceDetector,
    build_network,
    decode,
    load_weights,
    prior_boxes,
)
from fer_da.preprocess.image import choose_face
from fer_da.synthetic.faces import blend, render, sample_identity
from fer_da.synthetic.generate import PRESETS


@pytest.fixture(scope="module")
def retinaface_file(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "retinaface_random.pth"
    torch.save(build_network().state_dict(), path)
    return path


def test_retinaface_loads_batches_decodes_and_suppresses(retinaface_file):
    det = RetinaFaceDetector(weights=str(retinaface_file), device="cpu", min_score=0.0,
                             nms_iou=0.3, max_size=64, batch_size=2)
    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)  # longest side = max_size
    big = np.kron(small, np.ones((2, 2, 1), dtype=np.uint8))  # the same picture, 2x larger
    other = rng.integers(0, 255, (30, 50, 3), dtype=np.uint8)
    out = det.detect([other, small, other])  # two batches; padded to a common size
    assert det._batch([other])[0].shape == (1, 3, 30, 50)  # smaller than max_size: kept
    assert det._batch([big])[0].shape == (1, 3, 48, 64)  # larger: shrunk to max_size
    assert len(out) == 3 and all(len(faces) > 0 for faces in out)
    for faces in out:
        boxes = torch.tensor([f.box for f in faces])
        scores = [f.score for f in faces]
        assert scores == sorted(scores, reverse=True)
        assert all(f.landmarks.shape == (5, 2) for f in faces)
        iou = box_iou(boxes, boxes) - torch.eye(len(boxes))
        assert float(iou.max()) <= 0.3 + 1e-6  # NMS removed overlapping boxes
    alone = det.detect([small])[0]
    np.testing.assert_allclose([f.box for f in out[1]], [f.box for f in alone], atol=1e-3)
    # the network sees the same 64-pixel input for small and big: boxes scale exactly by 2
    doubled = det.detect([big])[0]
    np.testing.assert_allclose([f.box for f in doubled], [2 * np.array(f.box) for f in alone],
                               rtol=1e-4, atol=1e-2)
    np.testing.assert_allclose([f.landmarks for f in doubled], [2 * f.landmarks for f in alone],
                               rtol=1e-4, atol=1e-2)


def test_retinaface_decode_matches_the_package():
    from retinaface.box_utils import decode as ref_decode
    from retinaface.box_utils import decode_landm as ref_landm
    from retinaface.prior_box import priorbox

    priors = prior_boxes(48, 80)
    ref_priors = priorbox(min_sizes=[[16, 32], [64, 128], [256, 512]], steps=[8, 16, 32],
                          clip=False, image_size=(48, 80))
    torch.testing.assert_close(priors, ref_priors)
    loc, landm = torch.randn(len(priors), 4), torch.randn(len(priors), 10)
    boxes, points = decode(loc, landm, priors)
    torch.testing.assert_close(boxes, ref_decode(loc, priors, [0.1, 0.2]))
    torch.testing.assert_close(points.reshape(-1, 10), ref_landm(landm, priors, [0.1, 0.2]))


def test_retinaface_weights_missing_falls_back_with_one_warning(tmp_path, caplog):
    with pytest.raises(DetectorUnavailable, match="does not exist"):
        load_weights(tmp_path / "nope.pth")
    with pytest.raises(DetectorUnavailable, match="download is off"):
        load_weights(None, download=False)
    with caplog.at_level(logging.WARNING):
        det = build_detector("retinaface", "none", weights=str(tmp_path / "nope.pth"))
    assert det.name == "none"
    assert sum("falling back" in r.message for r in caplog.records) == 1
    with pytest.raises(DetectorUnavailable):
        build_detector("retinaface", None, download=False)


class _Hostile:
    def __reduce__(self):
        import os

        return os.system, (f"touch {_Hostile.marker}",)


def test_refused_retinaface_weights_fall_back_as_missing_ones(tmp_path, caplog):
    """A hostile pickle, a truncated file: refused naming the file and the key, nothing
    unpickled, and the detector falls back with the warning (as for a missing file)."""
    import pickle

    _Hostile.marker = tmp_path / "ran"
    hostile = tmp_path / "retinaface.pth"
    hostile.write_bytes(pickle.dumps({"body.conv1.weight": _Hostile()}))
    cut = tmp_path / "cut.pth"
    torch.save({"w": torch.zeros(64)}, cut)
    cut.write_bytes(cut.read_bytes()[:40])
    for bad in (hostile, cut):
        with pytest.raises(DetectorUnavailable, match=rf"preprocessing.detector.weights: "
                                                      rf".*{bad.name} could not be read"):
            load_weights(bad)
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            det = build_detector("retinaface", "none", weights=str(bad))
        assert det.name == "none"
        assert sum("falling back" in r.message and bad.name in r.message
                   for r in caplog.records) == 1
    assert not _Hostile.marker.exists()


def _synthetic_face(seed: int):
    style = PRESETS["kdef"].style
    rng = np.random.default_rng(seed)
    who = sample_identity(rng, style)
    return render(who, blend("happiness", 1.0), style, rng)


def test_mtcnn_finds_synthetic_faces():
    det = build_detector("mtcnn", device="cpu", min_score=0.8)
    images, boxes = zip(*[_synthetic_face(s) for s in range(4)], strict=True)
    found = det.detect(list(images))
    assert all(len(f) >= 1 for f in found)
    for faces, truth in zip(found, boxes, strict=True):
        face = choose_face(faces)
        assert face.landmarks.shape == (5, 2) and face.score >= 0.8
        iou = box_iou(torch.tensor([face.box]), torch.tensor([truth]))
        assert float(iou) > 0.4
        # eyes above the mouth corners, left eye left of right eye
        (lx, ly), (rx, ry) = face.landmarks[:2]
        assert lx < rx and max(ly, ry) < face.landmarks[3:, 1].min()


def test_none_detector_and_choose_face():
    faces = NoDetector().detect([np.zeros((10, 20, 3), np.uint8)])[0]
    assert faces[0].box == (0.0, 0.0, 20.0, 10.0)
    small = Detection((0, 0, 5, 5), np.full((5, 2), np.nan), 0.99)
    large = Detection((0, 0, 10, 10), np.full((5, 2), np.nan), 0.9)
    assert choose_face([small, large]) is large
    assert choose_face([]) is None
