"""The run's training images on the device and what each step draws from them.

Design for speed: the uint8 images live on the device for the whole run (or in pinned host
memory when they do not fit), batches are gathered there by index; the epoch's index plan is
a pure function of (seed, epoch).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from fer_da.training.batching import (
    balanced_epoch,
    balanced_steps,
    class_balanced_epoch,
    shuffled_epoch,
)
from fer_da.training.config import RunPlan
from fer_da.training.data import DomainData
from fer_da.training.distributed import Ranks, shard


class ImageStore:
    """uint8 images of each domain, gathered by index into batches on the device.

    ``device``: the images live on the device for the whole run (the fast path).
    ``host``: they stay in host memory (pinned on CUDA) and each batch is gathered there and
    copied asynchronously: the streaming fallback for data that does not fit, same interface.
    """

    def __init__(self, arrays: list[np.ndarray], device: torch.device, where: str):
        self.device = device
        self.on_device = where == "device"
        tensors = [torch.from_numpy(np.require(a, requirements="W")).unsqueeze(1)
                   for a in arrays]
        if self.on_device:
            tensors = [t.to(device) for t in tensors]
        elif device.type == "cuda":
            tensors = [t.pin_memory() for t in tensors]
        self.tensors = tensors

    @staticmethod
    def placement(arrays: list[np.ndarray], device: torch.device, resident: str,
                  max_gb: float) -> str:
        if resident in ("device", "host"):
            return resident
        total = sum(a.nbytes for a in arrays) / 2**30
        return "device" if total <= max_gb else "host"

    def pooled(self) -> ImageStore:
        store = object.__new__(ImageStore)
        store.device, store.on_device = self.device, self.on_device
        # one domain: its tensor as it is (a memory map stays one)
        store.tensors = self.tensors if len(self.tensors) == 1 else [torch.cat(self.tensors)]
        return store

    def gather(self, domain: int, idx: np.ndarray) -> torch.Tensor:
        if self.on_device:
            return self.tensors[domain][torch.from_numpy(idx).to(self.device)]
        batch = self.tensors[domain][torch.from_numpy(idx)]
        return batch.to(self.device, non_blocking=True)


def subject_ids(data: list[DomainData], device: torch.device,
                run_id: str) -> tuple[list[torch.Tensor], int]:
    """Identity indices over the labelled domains' subjects (-1: unknown or unlabelled
    domain); an identity is (domain, subject), so two datasets' "S01" are two people."""
    names = sorted({f"{d.name}/{s}" for d in data if d.labelled and d.subjects is not None
                    for s in d.subjects if s})
    if not names:
        raise ValueError(f"{run_id}: identity methods (jm, atf) need subject ids in the "
                         f"labelled domains {[d.name for d in data if d.labelled]}, but the "
                         "manifests have none (declare a subject regex or use another method)")
    index = {n: i for i, n in enumerate(names)}
    out = []
    for d in data:
        ids = np.full(len(d.images), -1, dtype=np.int64)
        if d.labelled and d.subjects is not None:
            ids = np.array([index.get(f"{d.name}/{s}", -1) if s else -1 for s in d.subjects],
                           dtype=np.int64)
        out.append(torch.from_numpy(ids).to(device))
    return out, len(names)


def _labels(data: list[DomainData], device: torch.device) -> list[torch.Tensor]:
    return [torch.from_numpy(np.require(d.labels, requirements="W")).to(device) if d.labelled
            else torch.full((len(d.images),), -1, dtype=torch.long, device=device)
            for d in data]


def epoch_plan(plan: RunPlan, sizes: list[int], epoch: int,
               labelled: list[bool] | None = None,
               classes: np.ndarray | None = None) -> list[list[np.ndarray]]:
    """Index plan of one epoch, a pure function of (seed, epoch).

    DANN-mode epochs are as long as the longest domain needs (the paper), or, with
    ``length: source_epochs``, as long as the labelled domains need: then a DANN run sees
    exactly as many labelled images as a source-only run of the same number of epochs.
    """
    rng = np.random.default_rng([plan.seed, epoch])
    cfg = plan.config
    if plan.mode == "dann":
        steps = None
        if cfg.length == "source_epochs" and labelled is not None:
            steps = balanced_steps([n for n, ok in zip(sizes, labelled, strict=True) if ok],
                                   cfg.batch_size)
        return balanced_epoch(sizes, cfg.batch_size, rng, steps)
    if classes is not None:  # class-balanced batches (sna), as many steps as shuffled ones
        return [[b] for b in class_balanced_epoch(classes, cfg.batch_size, rng)]
    return [[b] for b in shuffled_epoch(sum(sizes), cfg.batch_size, rng)]


def steps_per_epoch(plan: RunPlan, sizes: list[int], labelled: list[bool] | None = None,
                    classes: np.ndarray | None = None) -> int:
    return len(epoch_plan(plan, sizes, 0, labelled, classes))


@dataclass
class Drawn:
    """One step's share of the global batch on this rank."""

    x: torch.Tensor
    labels: torch.Tensor
    domains: torch.Tensor
    subjects: torch.Tensor | None
    index: list[np.ndarray]  # this rank's indices per store domain
    n_global: int  # images in the global batch


class Batches:
    """The run's images, labels, domains (and subjects) on the device. Adaptation (DANN-mode)
    runs draw a balanced part of every domain per step; supervised runs draw from one
    pooled, shuffled set (class-balanced when the method asks for it)."""

    def __init__(self, plan: RunPlan, data: list[DomainData], images: ImageStore,
                 device: torch.device, ranks: Ranks, subjects: list[torch.Tensor] | None,
                 balanced_classes: bool):
        self.plan, self.device, self.ranks = plan, device, ranks
        self.sizes = [len(d.images) for d in data]
        self.flags = [d.labelled for d in data]
        self.domain_ids = [plan.all_domains.index(d.name) for d in data]
        self.images, self.labels, self.subjects = images, _labels(data, device), subjects
        self.classes, self._steps = None, None
        self.dann = plan.mode == "dann"
        self.dann_domains = torch.tensor(self.domain_ids, device=device).repeat_interleave(
            plan.config.batch_size)
        if not self.dann:  # one pooled, shuffled set
            self.images, self.labels = images.pooled(), [torch.cat(self.labels)]
            self.pooled_domains = torch.cat([torch.full((n,), i, device=device) for n, i in
                                             zip(self.sizes, self.domain_ids, strict=True)])
            if subjects is not None:
                self.subjects = [torch.cat(subjects)]
            if balanced_classes:
                self.classes = self.labels[0].cpu().numpy()

    def epoch(self, epoch: int) -> list[list[np.ndarray]]:
        return epoch_plan(self.plan, self.sizes, epoch, self.flags, self.classes)

    def steps(self) -> int:
        """Steps per epoch: the same for every epoch, counted once."""
        if self._steps is None:
            self._steps = steps_per_epoch(self.plan, self.sizes, self.flags, self.classes)
        return self._steps

    def draw(self, whole: list[np.ndarray]) -> Drawn:
        """This rank's share of the global batch ``whole`` (each domain's share split
        evenly between the ranks; all of it on one)."""
        if self.dann:
            batch = [shard(i, self.ranks) for i in whole]
            x = torch.cat([self.images.gather(k, i) for k, i in enumerate(batch)])
            y = torch.cat([lb[torch.from_numpy(i).to(self.device)]
                           for lb, i in zip(self.labels, batch, strict=True)])
            dom = (self.dann_domains if not self.ranks.parallel else torch.cat([
                torch.full((len(i),), d, device=self.device)
                for i, d in zip(batch, self.domain_ids, strict=True)]))
            return Drawn(x, y, dom, None, batch, sum(len(i) for i in whole))
        batch = [shard(whole[0], self.ranks)]
        i = torch.from_numpy(batch[0]).to(self.device)
        subj = self.subjects[0][i] if self.subjects is not None else None
        return Drawn(self.images.gather(0, batch[0]), self.labels[0][i],
                     self.pooled_domains[i], subj, batch, len(whole[0]))
