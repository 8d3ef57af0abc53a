"""Benchmark: does a face detector find the face in images that are already face crops?

    uv run python benchmarks/crop_detection.py ../shared/realdata/fer2013/test \\
        ../shared/realdata/sfew/Val data/01_raw/synthetic/kdef --sample 300

Per folder (every image below it, a seeded sample of ``--sample``): the share of images
where MTCNN (offline, fer-da's settings: ``min_score`` 0.8, small images enlarged to 64 px)
finds a face, and how much of the image the best face's box covers (median, and the share
covering at least ``--cover``), with the images' sizes. It is what ``detector.backend:
auto`` decides from (docs/preprocessing.md).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np

from fer_da.detect import build_detector
from fer_da.preprocess.faces import detect_robustly
from fer_da.preprocess.image import to_rgb

logger = logging.getLogger("benchmarks.crop_detection")
SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"}


def coverage(box: tuple[float, float, float, float], width: int, height: int) -> float:
    """The share of the image the box covers (clipped to the image)."""
    x0, y0, x1, y1 = max(0.0, box[0]), max(0.0, box[1]), min(width, box[2]), min(height, box[3])
    return max(0.0, x1 - x0) * max(0.0, y1 - y0) / float(width * height)


def main() -> None:
    from PIL import Image

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+")
    ap.add_argument("--sample", type=int, default=300)
    ap.add_argument("--cover", type=float, default=0.35)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    detector = build_detector("mtcnn", None, device="cpu", min_score=0.8)
    logger.info("| folder | images | size (median w x h) | face found | median cover | "
                "cover >= %.2f | img/s |", args.cover)
    logger.info("|---|---|---|---|---|---|---|")
    for folder in args.folders:
        files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in SUFFIXES)
        rng = np.random.default_rng(args.seed)
        chosen = [files[i] for i in sorted(rng.choice(len(files), min(args.sample,
                                                                       len(files)),
                                                      replace=False))]
        images = [to_rgb(Image.open(p)) for p in chosen]
        start = time.perf_counter()
        found = []
        for b in range(0, len(images), 16):
            found += detect_robustly(detector, images[b: b + 16], 64)
        rate = len(images) / (time.perf_counter() - start)
        covers = [coverage(max(f, key=lambda d: d.score).box, im.shape[1], im.shape[0])
                  if not isinstance(f, Exception) and f else 0.0
                  for f, im in zip(found, images, strict=True)]
        hit = np.mean([c > 0 for c in covers])
        sizes = np.median([[im.shape[1], im.shape[0]] for im in images], axis=0)
        logger.info("| %s | %d | %d x %d | %.1f %% | %.2f | %.1f %% | %.0f |", folder,
                    len(images), sizes[0], sizes[1], 100 * hit, np.median(covers),
                    100 * np.mean([c >= args.cover for c in covers]), rate)


if __name__ == "__main__":
    main()
