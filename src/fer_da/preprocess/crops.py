"""``detector.backend: auto``: is a domain already face crops? A pure decision from the
images' sizes and, when they are not tiny, from where a detector finds the face on a sample.

A domain whose every image has a shorter side of at most ``auto_below`` pixels is crops (a
48 px FER2013 face is the face: MTCNN finds one in 88 % of them). Otherwise the detector
runs on ``auto_probe`` sampled images (seeded, cached like any detection): the images are
crops when it finds a face in at least :data:`MIN_FOUND` of them and the face's box covers
at least ``auto_cover`` of the image in at least :data:`CROP_SHARE` of those. A detector
run on tight crops misses many faces (SFEW 2.0's aligned faces: found in 52 %, each found
one covering 69 % of its image, median): those misses are evidence of crops, not of images
without faces. The decision and its numbers go to the protocol table (docs/preprocessing.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CROP_SHARE = 0.8  # of the probed images with a face, those whose box covers auto_cover
MIN_FOUND = 0.25  # of the probed images: fewer faces found than this is not a crop set


def coverage(box: Sequence[float], width: float, height: float) -> float:
    """The share of a ``width`` x ``height`` image the box covers (clipped to it)."""
    x0, y0 = max(0.0, float(box[0])), max(0.0, float(box[1]))
    x1, y1 = min(float(width), float(box[2])), min(float(height), float(box[3]))
    return max(0.0, x1 - x0) * max(0.0, y1 - y0) / float(width * height)


def tiny_images(widths: Sequence[int], heights: Sequence[int], below: int) -> bool:
    """Every image's shorter side is at most ``below`` pixels (and there is one)."""
    sides = np.minimum(np.asarray(widths, float), np.asarray(heights, float))
    return bool(len(sides)) and bool((sides <= below).all())


def probe_sample(n: int, probe: int, seed: int = 0) -> list[int]:
    """The rows probed: ``probe`` of ``n`` (all when fewer), seeded, in order."""
    if n <= probe:
        return list(range(n))
    return sorted(np.random.default_rng(seed).choice(n, probe, replace=False).tolist())


def decide(coverages: Sequence[float], cover: float) -> tuple[bool, str]:
    """(crops?, the reason) from the probed images' face coverages (0: no face found)."""
    found = [c for c in coverages if c > 0]
    hits = sum(c >= cover for c in found)
    n = len(coverages)
    crops = bool(n) and len(found) >= MIN_FOUND * n and hits >= CROP_SHARE * max(len(found), 1)
    median = float(np.median(found)) if found else 0.0
    return crops, (f"auto: a face in {len(found)}/{n} probed images, {hits} covering >= "
                   f"{cover:.0%} of the image (median {median:.0%}): "
                   + ("face crops, not detected" if crops else "detected"))


OUTSIZED = 2.0  # a domain of crops: an image this many times its median side is a photo


def outsized(widths: Sequence[int], heights: Sequence[int], below: int) -> np.ndarray:
    """Per image of a domain judged face crops: a photograph among them — a shorter side
    above ``below`` px and above :data:`OUTSIZED` times the domain's median — which is
    detected rather than taken whole."""
    sides = np.minimum(np.asarray(widths, float), np.asarray(heights, float))
    if not len(sides):
        return np.zeros(0, bool)
    return (sides > below) & (sides > OUTSIZED * float(np.median(sides)))
