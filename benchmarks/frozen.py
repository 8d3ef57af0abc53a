"""Training-step throughput of ``dlib_resnet29``: every stage trained against frozen,
cached stages (``training.freeze``), at the same input size; and the one-off cost of the
cached rows.

    uv run python benchmarks/frozen.py                       # 2 CPU cores: all depths
    uv run python benchmarks/frozen.py --freeze none,level1 --steps 5 --device cuda

A step is what the training loop does per batch: forward, the loss, backward, an AdamW
step (DANN-sized heads, no domain game). Images are random grey 48-px faces, resized by the
model to its input (150 px). Prints images/s per setting and the speed-up over ``none``.
"""

from __future__ import annotations

import argparse
import logging
import math
import time

import torch
import torch.nn.functional as F

logger = logging.getLogger("benchmark")


def step_rate(freeze: str, batch: int, steps: int, device: torch.device,
              input_size: int) -> tuple[float, float]:
    """(training images/s, row-computation images/s or nan) for one setting."""
    from fer_da.models import FERNet, ModelConfig
    from fer_da.training.frozen import compute_rows, freeze_depth, freeze_stages

    torch.manual_seed(0)
    model = FERNet(ModelConfig(backbone="dlib_resnet29", n_domains=2,
                               input_size=input_size)).to(device)
    model.load_imagenet()
    faces = torch.randint(0, 256, (batch, 48, 48), dtype=torch.uint8)
    x, rate_rows = faces.unsqueeze(1).to(device), float("nan")
    depth = freeze_depth(model, freeze)
    if depth is not None:
        freeze_stages(model, depth)
        t0 = time.perf_counter()
        rows = compute_rows(model, faces.numpy(), depth, device, batch)
        rate_rows = batch / (time.perf_counter() - t0)
        model.cache_layout = model.layout
        x = torch.from_numpy(rows[:, 0]).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    y = torch.randint(0, 7, (batch,), device=device)
    model.train()

    def one() -> None:
        loss = F.nll_loss(model(x, with_domain=False).class_logp, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    one()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        one()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - t0), rate_rows


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--freeze", default="none,stem,level4,level3,level2,level1,level0,all")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--input-size", type=int, default=150)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    logger.info("dlib_resnet29, batch %d, input %d px, %s, %d threads", args.batch,
                args.input_size, device, torch.get_num_threads())
    base = None
    for freeze in args.freeze.split(","):
        rate, rows = step_rate(freeze, args.batch, args.steps, device, args.input_size)
        base = base or (rate if freeze == "none" else None)
        gain = f"{rate / base:6.1f}x" if base else "   —"
        logger.info("freeze %-7s training step %8.1f img/s  %s  (rows, once: %s img/s)",
                    freeze, rate, gain, "—" if math.isnan(rows) else f"{rows:.0f}")


if __name__ == "__main__":
    main()
