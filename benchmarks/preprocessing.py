"""Benchmark: detection throughput and a cached second preprocessing run against the first.

    uv run python benchmarks/preprocessing.py [--backend mtcnn] [--device auto]
    uv run python benchmarks/preprocessing.py --backend retinaface --weights FILE
    uv run python benchmarks/preprocessing.py --backend retinaface --random-weights

``--random-weights`` times RetinaFace's network, batching and decoding where the real
weights cannot be fetched: a randomly initialised network costs the same per image, but
its detections are meaningless (how many faces pass the score threshold differs).

Runs ingestion + detect_faces + normalise_faces on the synthetic default twice (empty
detection cache, then the cache from the first run) and logs images/s and the speed-up.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
import yaml

from fer_da.datasets import RawDomainsDataset
from fer_da.detect.retinaface import build_network
from fer_da.ingest import parse_domain_specs
from fer_da.ingest.domains import ingest_all
from fer_da.labels import vocabulary
from fer_da.preprocess.config import domain_configs
from fer_da.preprocess.detection import detect_all
from fer_da.preprocess.normalise import normalise_all

ROOT = Path(__file__).parents[1]
logger = logging.getLogger("benchmark")


def _preprocess(raw, manifests, cache, params, domains, labels):
    t0 = time.perf_counter()
    specs = parse_domain_specs(domains)
    configs = domain_configs(params, {s.name: s.preprocessing for s in specs})
    detections, new = detect_all(manifests, raw, cache, configs)
    t1 = time.perf_counter()
    normalise_all(manifests, raw, detections, configs, {s.name: s for s in specs},
                  list(vocabulary(labels)), [0])
    t2 = time.perf_counter()
    return new, t1 - t0, t2 - t1


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", default="mtcnn")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--weights", default=None)
    parser.add_argument("--random-weights", action="store_true",
                        help="retinaface: a random-init network (throughput only)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.random_weights:
            if args.backend != "retinaface":
                raise SystemExit("--random-weights is for --backend retinaface")
            args.weights = str(Path(tmp) / "retinaface_random.pth")
            torch.manual_seed(0)
            torch.save(build_network().state_dict(), args.weights)
        run(args)


def run(args: argparse.Namespace) -> None:
    base = ROOT / "conf" / "base"
    params = yaml.safe_load((base / "parameters.yml").read_text())
    prep = yaml.safe_load((base / "parameters_preprocessing.yml").read_text())["preprocessing"]
    prep["detector"].update(backend=args.backend, fallback=None, device=args.device,
                            weights=args.weights)
    catalog = yaml.safe_load((base / "catalog.yml").read_text())["raw_domains"]["domains"]
    with tempfile.TemporaryDirectory() as tmp:
        domains = {k: {**v, "path": str(Path(tmp) / k)} for k, v in catalog.items()}
        raw = RawDomainsDataset(domains).load()
        manifests, _, _, _ = ingest_all(raw, params["domains"], params["labels"])
        n = sum(len(m) for m in manifests.values())
        args_ = (params["domains"], params["labels"])
        new, det1, norm1 = _preprocess(raw, manifests, pd.DataFrame(), prep, *args_)
        _, det2, norm2 = _preprocess(raw, manifests, new, prep, *args_)
    first, second = det1 + norm1, det2 + norm2
    found = sum(bool(json.loads(f)) for f in new["faces"])
    logger.info("images: %d  backend: %s%s  with a face: %d", n, args.backend,
                " (random weights: throughput only)" if args.random_weights else "", found)
    logger.info("first run : detection %.2f s (%.1f images/s), normalisation %.2f s, total %.2f s",
                det1, n / det1, norm1, first)
    logger.info("cached run: detection step %.2f s (hashing only), normalisation %.2f s, "
                "total %.2f s", det2, norm2, second)
    logger.info("speed-up of the cached run: %.1fx", first / second)


if __name__ == "__main__":
    main()
