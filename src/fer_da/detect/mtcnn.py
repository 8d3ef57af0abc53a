"""MTCNN from facenet-pytorch: its weights ship in the wheel, so it runs offline."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fer_da.detect.base import Detection
from fer_da.devices import resolve_device


def _as_float_array(value, shape: tuple[int, ...]) -> np.ndarray:
    """facenet-pytorch returns object arrays (or None) under numpy 2; make them float."""
    if value is None:
        return np.zeros((0, *shape), dtype=np.float64)
    return np.asarray(np.stack([np.asarray(v, dtype=np.float64) for v in value]), dtype=np.float64)


class MTCNNDetector:
    name = "mtcnn"

    def __init__(self, device: str = "auto", min_score: float = 0.9, min_face_size: int = 20,
                 **_: object):
        from facenet_pytorch import MTCNN

        self.device = resolve_device(device)
        self.min_score = float(min_score)
        self._net = MTCNN(keep_all=True, device=self.device, min_face_size=min_face_size,
                          post_process=False)

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        out: list[list[Detection]] = [[] for _ in images]
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, im in enumerate(images):
            by_shape.setdefault(im.shape, []).append(i)
        for idx in by_shape.values():  # MTCNN batches images of one size only
            batch = np.stack([images[i] for i in idx])
            boxes, probs, points = self._net.detect(batch, landmarks=True)
            for j, i in enumerate(idx):
                if boxes[j] is None:
                    continue
                b = _as_float_array(boxes[j], (4,))
                p = np.asarray(probs[j], dtype=np.float64).reshape(-1)
                lm = _as_float_array(points[j], (5, 2))
                out[i] = [Detection(tuple(b[k]), lm[k], float(p[k]))
                          for k in range(len(b)) if p[k] >= self.min_score]
        return out
