"""Memory of the training data path on a large face set (docs/scaling.md).

    uv run python benchmarks/memory.py                        # 300,000 faces at 48 px
    uv run python benchmarks/memory.py --images 300000 --size 96 --modes mmap

Writes one synthetic domain of ``--images`` uint8 faces (random pixels: memory does not
depend on content) as a face store (safetensors + parquet, rows grouped by split), streamed
to disk in chunks, then for each mode runs a fresh process that loads it
(``FaceSetsDataset``, read into RAM or memory-mapped), takes the train split
(``training_view``), builds the trainer's ``ImageStore`` and trains ``--steps`` steps of the
default model on batches gathered from it. Prints bytes per image, load time and the
process's peak resident memory, split into anonymous memory (what must fit in RAM) and
file-backed pages (the kernel's page cache of the mapped file, dropped under pressure).
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

logger = logging.getLogger("benchmark")


def write_store(folder: Path, n: int, size: int, chunk: int = 10_000) -> None:
    """``folder/big.safetensors`` (written in chunks) and ``folder/big.parquet``."""
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    header = json.dumps({"images": {"dtype": "U8", "shape": [n, size, size],
                                    "data_offsets": [0, n * size * size]}}).encode()
    header += b" " * (-len(header) % 8)
    rng = np.random.default_rng(0)
    with open(folder / "big.safetensors", "wb") as out:
        out.write(len(header).to_bytes(8, "little"))
        out.write(header)
        for start in range(0, n, chunk):
            out.write(rng.integers(0, 256, (min(chunk, n - start), size, size),
                                   dtype=np.uint8).tobytes())
    n_train, n_val = int(n * 0.8), int(n * 0.1)
    split = ["train"] * n_train + ["val"] * n_val + ["test"] * (n - n_train - n_val)
    labels = rng.integers(0, 7, n)
    pd.DataFrame({"image_id": [f"big/{i}" for i in range(n)], "domain": "big",
                  "role": "source", "subject": "", "label": labels.astype(str),
                  "label_idx": labels, "split": split}).to_parquet(folder / "big.parquet")


def _status() -> dict[str, int]:
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
            fields[key] = int(value.split()[0]) * 1024
    return fields


def child(store: Path, mode: str, steps: int, batch: int) -> dict:
    import torch

    from fer_da.datasets.facesets_dataset import FaceSetsDataset
    from fer_da.training.config import RunPlan, TrainConfig
    from fer_da.training.data import training_view
    from fer_da.training.loop import ImageStore, build_model

    torch.set_num_threads(2)
    t0 = time.perf_counter()
    faces = FaceSetsDataset(str(store), mmap=mode == "mmap").load()
    data = training_view(faces, ("big",), ("big",), 0, "x")
    cfg = TrainConfig.from_params({"device": "cpu"})
    where = ImageStore.placement([data[0].images], torch.device("cpu"), cfg.resident,
                                 cfg.resident_max_gb)
    images = ImageStore([data[0].images], torch.device("cpu"), where)
    load_s = time.perf_counter() - t0
    plan = RunPlan(setup="b", run="big", seed=0, mode="supervised", train_domains=("big",),
                   labelled_domains=("big",), all_domains=("big",), method="erm", config=cfg)
    model = build_model(plan, 7)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
    labels = torch.from_numpy(data[0].labels)
    rng = np.random.default_rng(0)
    n = len(data[0].images)
    t0 = time.perf_counter()
    for _ in range(steps):
        idx = rng.integers(0, n, batch)
        out = model(images.gather(0, idx))
        loss = torch.nn.functional.nll_loss(out.class_logp, labels[idx])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return {"mode": mode, "placement": where, "train_images": n, "load_s": load_s,
            "step_ms": (time.perf_counter() - t0) / max(steps, 1) * 1e3, **_status()}


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=300_000)
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--modes", default="ram,mmap")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        store, mode = args.child.split("::")
        sys.stdout.write(json.dumps(child(Path(store), mode, args.steps, args.batch)) + "\n")
        return
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "face_sets"
        t0 = time.perf_counter()
        write_store(store, args.images, args.size)
        gib = (store / "big.safetensors").stat().st_size / 2**30
        logger.info("%d faces at %d px: %d bytes per image, %.2f GiB on disk (written in "
                    "%.0f s)", args.images, args.size, args.size ** 2, gib,
                    time.perf_counter() - t0)
        for mode in args.modes.split(","):
            out = subprocess.run([sys.executable, __file__, "--child", f"{store}::{mode}",
                                  "--steps", str(args.steps), "--batch", str(args.batch)],
                                 capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            logger.info("%-4s (%s): load %.1f s, %d train images, %.0f ms/step, peak RSS "
                        "%.2f GiB; at the end anonymous %.2f GiB, file-backed %.2f GiB",
                        r["mode"], r["placement"], r["load_s"], r["train_images"],
                        r["step_ms"], r["VmHWM"] / 2**30, r["RssAnon"] / 2**30,
                        r["RssFile"] / 2**30)


if __name__ == "__main__":
    main()
