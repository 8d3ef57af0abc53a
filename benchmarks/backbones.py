"""Benchmark: training throughput of each registered backbone on this machine.

    uv run python benchmarks/backbones.py                      # 48 and 112 px, CPU or GPU
    uv run python benchmarks/backbones.py --sizes 112 224 --batch 64 --device cuda

Per backbone and input size: parameters, and images/s of a supervised training step
(forward, backward, Adam step) of FERNet on random grey faces at batch ``--batch`` (after
``--warmup`` steps, the median of ``--steps`` timed steps). ``ir50`` is timed at the size
given (its default input is 112: ``training.input_size: auto`` resizes to it).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time

import torch

from fer_da.devices import resolve_device
from fer_da.models import FERNet, ModelConfig

logger = logging.getLogger("benchmarks.backbones")
DEFAULT = ["vgg11_slim_bn", "resnet18_slim", "resnet18", "torchvision:resnet18",
           "torchvision:resnet50", "ir18", "ir50", "timm:resnet18",
           "timm:mobilenetv3_large_100", "timm:efficientnet_b0"]


def images_per_second(name: str, size: int, batch: int, steps: int, warmup: int,
                      device: torch.device) -> tuple[int, float]:
    torch.manual_seed(0)
    model = FERNet(ModelConfig(backbone=name, input_size=size)).to(device).train()
    opt = torch.optim.Adam(model.parameters(), 1e-4)
    x = torch.randint(0, 256, (batch, 1, size, size), dtype=torch.uint8, device=device)
    y = torch.randint(0, 7, (batch,), device=device)
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        loss = torch.nn.functional.nll_loss(model(x).class_logp, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    params = sum(p.numel() for p in model.parameters())
    return params, batch / statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbones", nargs="*", default=DEFAULT)
    ap.add_argument("--sizes", type=int, nargs="*", default=[48, 112])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    device = resolve_device(args.device)
    logger.info("device %s, %d threads, batch %d", device, torch.get_num_threads(),
                args.batch)
    logger.info("| backbone | parameters | " + " | ".join(f"{s} px img/s" for s in args.sizes)
                + " |")
    logger.info("|---|---|" + "---|" * len(args.sizes))
    for name in args.backbones:
        cells, params = [], 0
        for size in args.sizes:
            params, ips = images_per_second(name, size, args.batch, args.steps, args.warmup,
                                            device)
            cells.append(f"{ips:.0f}")
        logger.info("| `%s` | %.1f M | %s |", name, params / 1e6, " | ".join(cells))


if __name__ == "__main__":
    main()
