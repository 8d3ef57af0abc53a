"""Benchmark: the project's DANN trainer against a plain reference written the usual way.

    uv run python benchmarks/training.py                       # default: slim VGG, 48 px
    uv run python benchmarks/training.py --backbone vgg19 --image-size 224 --batch 40
    uv run python benchmarks/training.py --projection-only   # the paper grid's workload

Both train the same model on the same aggregated batches (``--batch`` per domain x 4
domains) for the same number of steps. The reference is an ImageFolder-style dataset that
decodes PNG files every epoch, a DataLoader with workers per domain, fp32, and ``.item()``
every step. Logs images/s of both and their ratio; on CUDA also achieved TFLOP/s, model
FLOPs utilisation against ``--peak-tflops`` and the peak memory of a DANN step. Then
projects the wall time of the grid that ``conf/<--grid-env>`` plans (the paper's 11 runs)
from this run's throughput (when model, image size and batch match the grid's) and from
FLOPs at the given MFUs.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import math
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from fer_da.devices import resolve_device
from fer_da.methods.domain_game import adversarial_loss
from fer_da.models import FERNet, training_flops_per_image
from fer_da.training.config import RunPlan, TrainConfig
from fer_da.training.data import DomainData
from fer_da.training.loop import train_run
from fer_da.training.schedules import clamp_limit, factor
from fer_da.training.workload import (
    format_duration,
    grid_images,
    seconds_at_mfu,
    seconds_at_throughput,
)

logger = logging.getLogger("benchmark")
ROOT = Path(__file__).resolve().parents[1]
DOMAINS = ("a", "b", "c", "d")
SETUPS = ("baseline", "joint", "finetune", "dann")
# The paper's training splits, inferred from its validation accuracies (Table II diagonal):
# 87.75% = 172/196 (KDEF), 98.92% = 92/93 (CK), 86.04% = 37/43 (JAFFE), 97.82% = 45/46
# (TFEID) validation images, i.e. 20% of 980, ~465, 213 and ~230 images.
PAPER_TRAIN_SIZES = "kdef=784,ckplus=372,jaffe=170,tfeid=184"


def make_data(n: int, size: int, seed: int = 0) -> list[DomainData]:
    rng = np.random.default_rng(seed)
    out = []
    for d, name in enumerate(DOMAINS):
        labels = rng.integers(0, 7, n)
        images = np.clip(rng.normal(60 + 20 * labels[:, None, None] + 5 * d, 25,
                                    (n, size, size)), 0, 255).astype(np.uint8)
        out.append(DomainData(name, images, labels.astype(np.int64) if d == 0 else None))
    return out


class FolderDataset(Dataset):
    """The usual way: one PNG per sample, decoded and normalised on every access."""

    def __init__(self, files: list[Path], labels: list[int]):
        self.files, self.labels = files, labels

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        img = np.asarray(Image.open(self.files[i]).convert("L"), dtype=np.float32)
        return torch.from_numpy(img)[None], self.labels[i]


def write_folders(data: list[DomainData], root: Path) -> list[FolderDataset]:
    sets = []
    for d in data:
        files = []
        for i, img in enumerate(d.images):
            path = root / d.name / f"{i:06d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(path)
            files.append(path)
        labels = d.labels.tolist() if d.labelled else [-1] * len(files)
        sets.append(FolderDataset(files, labels))
    return sets


def reference_run(plan: RunPlan, sets: list[FolderDataset], steps: int, workers: int,
                  device: torch.device) -> float:
    """images/s of the plain loop (first step excluded as warm-up)."""
    torch.manual_seed(0)
    model = FERNet(plan.config.model_config(7, len(DOMAINS))).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=plan.config.lr)
    loaders = [DataLoader(s, batch_size=plan.config.batch_size, shuffle=True,
                          num_workers=workers, drop_last=True,
                          persistent_workers=workers > 0) for s in sets]
    iters = [itertools.cycle(loader) for loader in loaders]
    seen, start = 0, None
    for step in range(steps + 1):
        if step == 1:
            if device.type == "cuda":
                torch.cuda.synchronize()
            start, seen = time.perf_counter(), 0
        batches = [next(it) for it in iters]
        x = torch.cat([b[0] for b in batches]).to(device)
        y = torch.cat([torch.as_tensor(b[1]) for b in batches]).to(device)
        dom = torch.cat([torch.full((len(b[1]),), k) for k, b in enumerate(batches)]).to(device)
        p = step / steps
        out = model(x, with_domain=False)
        game = adversarial_loss(model.domain_head, out.domain_in, dom,
                                clamp_limit(p, plan.clamp), "paper")
        loss = torch.nn.functional.nll_loss(out.class_logp, y, ignore_index=-1) + factor(
            p) * game.loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss.item()  # the usual per-step host sync for logging
        seen += len(x)
    return seen / (time.perf_counter() - start)


def load_grid(env: str) -> tuple[list[RunPlan], int]:
    """The four setups' runs as ``conf/<env>`` plans them, and its image size.

    ``paper``: the paper's 11 runs (baseline, 3 joint unions beyond it, 3 fine-tunes, 4 DANN
    clamps).
    """
    from fer_da.config_loader import LabConfigLoader
    from fer_da.training.plans import plan_runs

    params = LabConfigLoader(conf_source=str(ROOT / "conf"), base_env="base",
                               default_run_env=env)["parameters"]
    plans = [RunPlan.from_dict(d) for name in SETUPS
             for d in plan_runs(params[name]["setup"], params["domains"], params["training"])]
    return plans, int(params["preprocessing"]["image_size"])


def parse_sizes(text: str) -> dict[str, int]:
    """``'kdef=784,ckplus=372'`` -> ``{'kdef': 784, 'ckplus': 372}``."""
    try:
        return {k.strip(): int(v) for k, v in (item.split("=") for item in text.split(","))}
    except ValueError as err:
        raise SystemExit(f"--grid-train-sizes wants name=count,...; got {text!r}") from err


def log_projection(env: str, plans: list[RunPlan], size: int, sizes: dict[str, int],
                   measured: float | None, peak_tflops: float, mfus: list[float]) -> None:
    """Training images of the grid and its wall time at a throughput and at given MFUs."""
    images = grid_images(plans, sizes)
    total = sum(images.values())
    cfg = plans[0].config
    per_image = training_flops_per_image(cfg.model_config(7, len(plans[0].all_domains)), size)
    logger.info("grid of conf/%s: %d runs, %s at %dx%d, batch %d, %d epochs, train sizes %s",
                env, len(plans), cfg.backbone, size, size, cfg.batch_size, cfg.epochs, sizes)
    for name in SETUPS:
        n = sum(v for k, v in images.items() if k.startswith(f"{name}/"))
        logger.info("  %-9s %10d training images", name, n)
    logger.info("  %-9s %10d training images = %.1f PFLOP (%.1f GFLOP per image)", "total",
                total, total * per_image / 1e15, per_image / 1e9)
    if measured:
        logger.info("projected at this run's %.1f images/s: %s", measured,
                    format_duration(seconds_at_throughput(total, measured)))
    for mfu in mfus:
        logger.info("projected at %.0f%% MFU of %.0f TFLOP/s: %s", 100 * mfu, peak_tflops,
                    format_duration(seconds_at_mfu(total, per_image, peak_tflops, mfu)))


def main() -> None:
    warnings.filterwarnings("ignore", message="register_new_resolver", category=UserWarning)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--backbone", default="vgg11_slim_bn")
    ap.add_argument("--image-size", type=int, default=48)
    ap.add_argument("--batch", type=int, default=16, help="per domain")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--peak-tflops", type=float, default=989.0,
                    help="dense bf16 peak of the GPU (H100/H200 SXM: 989)")
    ap.add_argument("--grid-env", default="paper",
                    help="conf/<env> whose four setups make the grid to project")
    ap.add_argument("--grid-train-sizes", default=PAPER_TRAIN_SIZES,
                    help="training-split images per domain, name=count,...")
    ap.add_argument("--mfu", type=float, nargs="*", default=[0.4, 0.25],
                    help="model FLOPs utilisations to project the grid at")
    ap.add_argument("--projection-only", action="store_true",
                    help="skip the timing; print the grid's workload and projections")
    args = ap.parse_args()
    sizes = parse_sizes(args.grid_train_sizes)
    grid, grid_size = load_grid(args.grid_env)
    if args.projection_only:
        log_projection(args.grid_env, grid, grid_size, sizes, None, args.peak_tflops, args.mfu)
        return
    device = resolve_device(args.device)
    cfg = TrainConfig(epochs=2, batch_size=args.batch, backbone=args.backbone,
                      device=str(device), compile=args.compile, lr=1e-4)
    plan = RunPlan(setup="bench", run="dann", seed=0, mode="dann", train_domains=DOMAINS,
                   labelled_domains=DOMAINS[:1], all_domains=DOMAINS, clamp=3000.0,
                   config=cfg)
    data = make_data(args.steps * args.batch, args.image_size)
    logging.getLogger("fer_da").setLevel(logging.WARNING)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    ours = train_run(plan, data, 7).history[-1]["images_per_s"]  # epoch 2: warm
    peak_mem = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None
    with tempfile.TemporaryDirectory() as tmp:
        sets = write_folders(data, Path(tmp))
        ref = reference_run(plan, sets, args.steps, args.workers, device)
    batch = args.batch * len(DOMAINS)
    logger.info("device %s, %s at %dx%d, DANN step of %d x %d = %d images, %d steps",
                device, args.backbone, args.image_size, args.image_size, args.batch,
                len(DOMAINS), batch, args.steps)
    logger.info("fer-da trainer : %8.1f images/s", ours)
    logger.info("plain reference: %8.1f images/s", ref)
    logger.info("ratio          : %8.2fx", ours / ref)
    per_image = args.image_size ** 2
    logger.info("resident data  : %d bytes per image (uint8 grey); 10,000 images = %.2f GB",
                per_image, per_image * 1e4 / 1e9)
    if device.type == "cuda":
        flops = training_flops_per_image(cfg.model_config(7, len(DOMAINS)), args.image_size)
        tflops = flops * ours / 1e12
        logger.info("achieved       : %8.1f TFLOP/s (%.1f GFLOP per image), MFU %.1f%% of %.0f",
                    tflops, flops / 1e9, 100 * tflops / args.peak_tflops, args.peak_tflops)
        logger.info("peak memory    : %.2f GiB for the DANN run", peak_mem)
    same = (grid[0].config.backbone, grid_size) == (args.backbone, args.image_size)
    if not same:
        logger.info("(this run's model or image size differ from conf/%s: its throughput "
                    "is not used for the projection)", args.grid_env)
    elif grid[0].config.batch_size != args.batch:
        logger.info("(measured at %d per domain; conf/%s trains at %d: larger batches are "
                    "usually faster per image)", args.batch, args.grid_env,
                    grid[0].config.batch_size)
    log_projection(args.grid_env, grid, grid_size, sizes, ours if same else None,
                   args.peak_tflops, args.mfu)
    if math.isnan(ours):
        raise SystemExit("benchmark failed")


if __name__ == "__main__":
    main()
