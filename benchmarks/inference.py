"""Inference figures: classifier latency per image (PyTorch vs onnxruntime, CPU) and the
start-up time of ``kedro`` commands.

    uv run python benchmarks/inference.py                  # both
    uv run python benchmarks/inference.py --latency-only   # 48 px slim VGG, batch 1 and 64
    uv run python benchmarks/inference.py --startup-only --repeats 5

Latency: the default backbone at the default size with random weights (latency does not
depend on the weights), uint8 faces in, log-probabilities out, after warm-up; median of
``--repeats`` timed passes. Start-up: whole processes, ``kedro registry list`` and ``kedro
--help`` against ``python -c "import kedro.framework.cli.cli"``, median wall time.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
logger = logging.getLogger("benchmark")


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def latency(backbone: str, size: int, batches: list[int], repeats: int, threads: int) -> None:
    import numpy as np
    import torch

    from fer_da.inference.onnx_export import (
        ClassLogProbs,
        export_onnx,
        onnx_log_probs,
        onnx_session,
    )
    from fer_da.models import FERNet, ModelConfig

    torch.set_num_threads(threads)
    model = FERNet(ModelConfig(backbone=backbone, n_classes=7, n_domains=4)).eval()
    wrapper = ClassLogProbs(model)
    session = onnx_session(export_onnx(model, size), threads)
    rng = np.random.default_rng(0)
    logger.info("%s at %d px, %d CPU threads (torch %s)", backbone, size, threads,
                torch.__version__)
    for batch in batches:
        faces = rng.integers(0, 256, (batch, size, size), dtype=np.uint8)
        x = torch.from_numpy(faces[:, None])

        def run_torch(x=x):
            with torch.inference_mode():
                wrapper(x)

        def run_onnx(faces=faces):
            onnx_log_probs(session, faces)

        for fn in (run_torch, run_onnx):  # warm-up
            fn()
            fn()
        pt = _median_seconds(run_torch, repeats)
        ox = _median_seconds(run_onnx, repeats)
        logger.info("batch %3d: PyTorch %.2f ms/image, onnxruntime %.2f ms/image (x%.2f)",
                    batch, pt / batch * 1e3, ox / batch * 1e3, pt / ox)


def startup(repeats: int) -> None:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}
    bin_dir = Path(sys.executable).parent
    commands = {
        "python -c 'import kedro.framework.cli.cli'": [sys.executable, "-c",
                                                      "import kedro.framework.cli.cli"],
        "kedro registry list": [str(bin_dir / "kedro"), "registry", "list"],
        "kedro --help": [str(bin_dir / "kedro"), "--help"],
    }
    out = {}
    for name, cmd in commands.items():
        def run(cmd=cmd):
            subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True)

        run()  # warm the file cache
        out[name] = _median_seconds(run, repeats)
    base = out["python -c 'import kedro.framework.cli.cli'"]
    for name, seconds in out.items():
        logger.info("%-45s %.2f s  (x%.2f)", name, seconds, seconds / base)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="vgg11_slim_bn")
    parser.add_argument("--image-size", type=int, default=48)
    parser.add_argument("--batches", default="1,64")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--latency-only", action="store_true")
    parser.add_argument("--startup-only", action="store_true")
    args = parser.parse_args()
    if not args.startup_only:
        latency(args.backbone, args.image_size, [int(b) for b in args.batches.split(",")],
                args.repeats, args.threads)
    if not args.latency_only:
        startup(max(3, args.repeats // 4))


if __name__ == "__main__":
    main()
