"""The scaffold every training loop shares (in the manner of Lightning Fabric's examples):
resume from a checkpoint of the same fingerprint, seed each epoch, guard against NaN, keep
the best epoch, save a checkpoint after each epoch, wait for the other ranks. The loops
(training/loop.py for every objective, training/hagan.py for the GAN) supply one epoch.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from fer_da.training.checkpoints import CheckpointStore
from fer_da.training.distributed import Ranks, all_reduce_sum, barrier
from fer_da.training.events import publish_epoch, publish_start

logger = logging.getLogger(__name__)
Record = dict[str, Any]
Select = Callable[[dict[str, Any], int], tuple[float, dict[str, Any]]]


@dataclass
class Fit:
    """One run's progress: its history, best epoch and where it resumes."""

    run_id: str
    seed: int
    epochs: int
    select: str  # last | a selection criterion (training/selection.py)
    fingerprint: str
    provenance: dict[str, Any]
    store: CheckpointStore | None
    ranks: Ranks = field(default_factory=Ranks)
    history: list[Record] = field(default_factory=list)
    best: dict[str, Any] = field(default_factory=lambda: {"epoch": 0, "score": -math.inf,
                                                          "state": None})
    start: int = 0
    snapshots: bool = False  # keep each epoch's trainable weights (training.validators)

    def restore(self, model: torch.nn.Module, optimisers: Mapping[str, Any],
                resume: bool) -> None:
        """Continue after the last saved epoch of a checkpoint with this fingerprint."""
        saved = self.store.load(self.run_id, self.fingerprint) if self.store and resume else None
        if saved:
            model.load_state_dict(saved["model"])
            for name, optimiser in optimisers.items():
                optimiser.load_state_dict(saved[name])
            self.start, self.history = int(saved["epoch"]), list(saved["history"])
            self.best = dict(saved.get("best") or self.best)
            logger.info("%s: resuming after epoch %d of %d", self.run_id, self.start,
                        self.epochs)
        elif self.snapshots and self.store and self.ranks.main:
            self.store.start_epochs(self.run_id, snapshot_identity(self.provenance))
        if self.ranks.main:
            publish_start(self.run_id, self.start, self.epochs)

    def seed_epoch(self, epoch: int, gen: torch.Generator) -> None:
        """Augmentation (``gen``) and dropout (torch's global generators) as functions of
        (seed, epoch): a run resumed after epoch k continues exactly as the uninterrupted
        run."""
        gen.manual_seed(self.seed * 100_003 + epoch)
        torch.manual_seed(self.seed * 1_000_033 + epoch)

    def end_epoch(self, epoch: int, record: Record, model: torch.nn.Module,
                  optimisers: Mapping[str, Any], select: Select | None) -> None:
        """Score the epoch (when selecting), log it in the history, save a checkpoint
        (rank 0 alone: the ranks hold the same weights), wait for the other ranks."""
        if self.select != "last" and select is not None:
            record["select_score"], self.best = select(self.best, epoch + 1)
        self.history.append(record)
        if self.ranks.main:
            publish_epoch(self.run_id, record)
        if self.store and self.ranks.main:
            self.store.save(self.run_id, {
                "model": model.state_dict(), **{k: o.state_dict() for k, o in optimisers.items()},
                "epoch": epoch + 1, "history": self.history, "fingerprint": self.fingerprint,
                "provenance": self.provenance, "best": self.best})
            if self.snapshots:
                self.store.save_epoch(self.run_id, epoch + 1, trainable_state(model))
        barrier(self.ranks)

    def kept(self, model: torch.nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """The weights of the kept epoch (the best one, or the last) and the provenance
        that names it."""
        if self.select != "last" and self.best["state"] is not None:
            state, kept = self.best["state"], self.best["epoch"]
        else:
            state, kept = model.state_dict(), self.epochs
        logger.info("%s: kept epoch %d (selected by %s)", self.run_id, kept, self.select)
        return ({k: v.detach().cpu().contiguous() for k, v in state.items()},
                {**self.provenance, "selected_by": self.select, "selected_epoch": kept})


def fit(run: Fit, model: torch.nn.Module, optimisers: Mapping[str, Any], resume: bool,
        gen: torch.Generator, one_epoch: Callable[[int], Record],
        select: Select | None = None, on_epoch_end: Callable[[int], None] | None = None
        ) -> None:
    """Resume, then for each remaining epoch: seed it, train it, score, record and save."""
    run.restore(model, optimisers, resume)
    model.train()
    for epoch in range(run.start, run.epochs):
        run.seed_epoch(epoch, gen)
        record = one_epoch(epoch)
        run.end_epoch(epoch, record, model, optimisers, select)
        if on_epoch_end and run.ranks.main:
            on_epoch_end(epoch + 1)


class FiniteGuard:
    """The first step of an epoch whose loss was NaN/Inf, found without a host
    synchronisation per step (read once, at the epoch's end)."""

    def __init__(self, device: torch.device):
        self.bad = torch.full((), -1, device=device)

    def observe(self, loss: torch.Tensor, step: int) -> None:
        self.bad = torch.where(torch.isfinite(loss.detach()) | (self.bad >= 0), self.bad, step)

    def check(self, run_id: str, epoch: int, steps: int, hint: str) -> None:
        if int(self.bad) >= 0:
            step = int(self.bad)
            raise FloatingPointError(
                f"{run_id}: the loss became NaN/Inf at epoch {epoch + 1}, step {step + 1} "
                f"(global step {epoch * steps + step + 1}); {hint}")


def epoch_means(sums: dict[str, torch.Tensor], seen: int, device: torch.device,
                ranks: Ranks) -> tuple[dict[str, Any], int]:
    """The epoch's logged terms (scalars or per-domain vectors) averaged over its images,
    with one host synchronisation (summed over the ranks when data-parallel)."""
    flat = [v.reshape(-1) for v in sums.values()]
    totals = all_reduce_sum(torch.cat([*flat, torch.tensor([float(seen)], device=device)]),
                            ranks).tolist()  # the one sync of the epoch
    seen = round(totals[-1])
    means, i = {}, 0
    for key, v in zip(sums, flat, strict=True):
        part = [t / seen for t in totals[i: i + v.numel()]]
        means[key] = part if sums[key].dim() else part[0]
        i += v.numel()
    return means, seen


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The state a snapshot keeps: every tensor but the frozen parameters (those equal the
    final model's)."""
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    return {k: v for k, v in model.state_dict().items() if k not in frozen}


SNAPSHOT_KEYS = ("config_hash", "faceset_digest", "source_digest")


def snapshot_identity(provenance: Mapping[str, Any]) -> dict[str, Any]:
    """What a run's epoch snapshots belong to: its plan, training data and code."""
    return {k: provenance.get(k) for k in SNAPSHOT_KEYS}
