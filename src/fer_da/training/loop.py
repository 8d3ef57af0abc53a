"""A minimal training loop (in the manner of Lightning Fabric's examples).

Design for speed: the uint8 training images live on the device for the whole run, batches
are gathered there by index, normalisation happens inside the model, losses are summed on
the device and read once per epoch (no host synchronisation per step).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from fer_da.devices import resolve_device
from fer_da.models import FERNet
from fer_da.models.autoencoder import neighbour_maker
from fer_da.provenance import code_provenance
from fer_da.training.augment import augment
from fer_da.training.batching import (
    balanced_epoch,
    balanced_steps,
    class_balanced_epoch,
    shuffled_epoch,
)
from fer_da.training.checkpoints import CheckpointStore
from fer_da.training.config import RunPlan
from fer_da.training.data import DomainData, digest, state_digest
from fer_da.training.diagnostics import collapse_reason, epoch_diagnostics
from fer_da.training.distributed import (
    all_reduce_gradients,
    all_reduce_sum,
    barrier,
    current,
    global_batch_norm,
    shard,
)
from fer_da.training.frozen import (
    as_chosen,
    choose_view,
    freeze_depth,
    freeze_stages,
    frozen_view,
    rows_folder,
)
from fer_da.training.methods import ADVERSARIAL, METHODS
from fer_da.training.objectives import Step, build_objective, model_config_for
from fer_da.training.schedules import clamp_limit, factor, lr_factor
from fer_da.training.selection import keep_best

logger = logging.getLogger(__name__)


@dataclass
class TrainedModel:
    run_id: str
    plan: dict[str, Any]
    model_config: dict[str, Any]
    state: dict[str, torch.Tensor]
    history: list[dict[str, float]]
    provenance: dict[str, Any] = field(default_factory=dict)
    classes: list[str] | None = None  # what its outputs mean, in order (None: saved before)


def run_provenance(plan: RunPlan, data: list[DomainData], data_digest: str,
                   runtime: dict[str, Any]) -> dict[str, Any]:
    """What a model's numbers trace back to: face-set version and digest of its training
    data, package source digest and git state, configuration hash, device and precision."""
    versions = sorted({d.faceset_version for d in data if d.faceset_version})
    contents = sorted({d.faceset_content for d in data if d.faceset_content})
    return {"faceset_version": "+".join(versions) or None, "faceset_digest": data_digest,
            "faceset_content": "+".join(contents) or None,
            **code_provenance(), "config_hash": plan.config_hash(), **runtime}


def build_model(plan: RunPlan, n_classes: int, init_state: dict | None = None,
                identities: int = 0) -> FERNet:
    torch.manual_seed(plan.seed)
    cfg = plan.config
    conditioning = "multilinear" if plan.method == "cdan_e" else "features"
    config = model_config_for(plan.method, cfg.model_config(
        n_classes, len(plan.all_domains), conditioning), plan.method_options, identities)
    model = FERNet(config)
    if init_state is not None:
        model.load_state_dict(init_state)
    elif cfg.pretrained:
        model.load_imagenet(cfg.weights_file)
    return model


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


def _labels(data: list[DomainData], device: torch.device) -> list[torch.Tensor]:
    return [torch.from_numpy(np.require(d.labels, requirements="W")).to(device) if d.labelled
            else torch.full((len(d.images),), -1, dtype=torch.long, device=device)
            for d in data]


def _epoch_plan(plan: RunPlan, sizes: list[int], epoch: int,
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


def frozen_depth(plan: RunPlan, model: FERNet) -> int | None:
    """``training.freeze``: the last frozen stage, its weights fixed (None: none frozen)."""
    depth = freeze_depth(model, plan.config.freeze)
    if depth is None:
        return None
    freeze_stages(model, depth)
    aug = plan.config.augment_config
    if aug.enabled and any(getattr(aug, k) for k in ("rotate", "translate", "scale",
                                                      "brightness", "contrast", "gamma",
                                                      "erase")):
        logger.info("%s: stages up to %s are frozen and cached: augmentation is the cached "
                    "mirror (flip) alone", plan.run_id, plan.config.freeze)
    return depth


def param_groups(model: FERNet, lr: float, domain_lr_mult: float = 1.0) -> list[dict]:
    """Two optimiser groups: the domain classifier at ``lr * domain_lr_mult``, the rest at
    ``lr`` (frozen parameters in neither); each keeps its ``base_lr`` for the schedule."""
    head = {id(p) for p in model.domain_head.parameters()}
    rest = [p for p in model.parameters() if id(p) not in head and p.requires_grad]
    return [{"params": rest, "lr": lr, "base_lr": lr},
            {"params": list(model.domain_head.parameters()), "lr": lr * domain_lr_mult,
             "base_lr": lr * domain_lr_mult}]


def _epoch_means(sums: dict[str, torch.Tensor], seen: int, device: torch.device,
                 ranks: Any) -> tuple[dict[str, Any], int]:
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


def steps_per_epoch(plan: RunPlan, sizes: list[int], labelled: list[bool] | None = None,
                    classes: np.ndarray | None = None) -> int:
    return len(_epoch_plan(plan, sizes, 0, labelled, classes))


def train_run(
    plan: RunPlan,
    data: list[DomainData],
    n_classes: int,
    store: CheckpointStore | None = None,
    init_state: dict[str, torch.Tensor] | None = None,
    on_epoch_end: Callable[[int], None] | None = None,
    autoencoder: dict[str, Any] | None = None,
) -> TrainedModel:
    """Train one run; resumes from ``store`` when a checkpoint of the same run exists.
    ``autoencoder``: ``{"state", "code_std"}`` of the sna method's neighbour maker."""
    cfg = plan.config
    device = resolve_device(cfg.device)
    leaked = sorted(d.name for d in data if d.labelled and d.name not in plan.labelled_domains)
    if leaked:
        raise ValueError(f"{plan.run_id}: labels of {leaked} reached training, but only "
                         f"{list(plan.labelled_domains)} may be labelled in this run")
    if plan.mode == "supervised" and not all(d.labelled for d in data):
        raise ValueError(f"{plan.run_id}: supervised runs need labels for every domain")
    if plan.mode == "dann" and not any(d.labelled for d in data):
        raise ValueError(f"{plan.run_id}: a DANN run needs at least one labelled domain")
    options = plan.method_options
    subjects, identities = (subject_ids(data, device, plan.run_id)
                            if plan.method in ("jm", "atf") else (None, 0))
    model = build_model(plan, n_classes, init_state, identities).to(device)
    depth = frozen_depth(plan, model)
    ranks = current()  # torchrun: each rank takes its share of every batch (distributed.py)
    if ranks.parallel:
        if cfg.batch_size < ranks.world:
            raise ValueError(f"training.batch_size ({cfg.batch_size}) is smaller than the "
                             f"{ranks.world} ranks: every rank needs images of each batch")
        global_batch_norm(model)
    amp, channels_last = cfg.use_bf16(device.type), cfg.use_channels_last(device.type)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    # fused AdamW: one kernel for all parameters (CPU: 4.4 -> 1.25 ms per step, measured);
    # decoupled weight decay (with weight_decay 0 it is Adam)
    optimiser = torch.optim.AdamW(param_groups(model, cfg.lr, cfg.domain_lr_mult),
                                  lr=cfg.lr, weight_decay=cfg.weight_decay,
                                  fused=device.type in ("cuda", "cpu"))
    runtime = {"device": device.type, "precision": "bf16" if amp else "fp32",
               "channels_last": channels_last}
    data_digest = digest(data)
    init_digest = state_digest(init_state)
    if autoencoder is not None:  # the neighbours depend on the autoencoder's weights
        init_digest = f"{init_digest}+ae:{state_digest(autoencoder['state'])}"
    if cfg.pretrained and init_state is None:  # the weights' content, not their path
        init_digest = f"{init_digest}+weights:{state_digest(model.backbone.state_dict())}"
    fingerprint = plan.fingerprint(data_digest, init_digest, runtime)
    provenance = run_provenance(plan, data, data_digest, runtime)
    if cfg.pretrained and init_state is None:
        provenance["pretrained_weights"] = init_digest.rsplit(":", 1)[-1]
    history: list[dict[str, float]] = []
    start_epoch = 0
    best: dict[str, Any] = {"epoch": 0, "score": -math.inf, "state": None}
    saved = store.load(plan.run_id, fingerprint) if store and cfg.resume else None
    if saved:
        model.load_state_dict(saved["model"])
        optimiser.load_state_dict(saved["optimiser"])
        start_epoch, history = int(saved["epoch"]), list(saved["history"])
        best = dict(saved.get("best") or best)
        logger.info("%s: resuming after epoch %d of %d", plan.run_id, start_epoch, cfg.epochs)
    forward = torch.compile(model) if cfg.compile else model

    # sna with frozen stages: its neighbours are made from the faces themselves
    faces = [d.images for d in data] if depth is not None and autoencoder is not None else None
    if depth is not None:  # frozen stages: their cached rows stand for the faces
        data = frozen_view(model, data, depth, device, cfg.eval_batch_size, rows_folder())
    arrays = [d.images for d in data]
    where = ImageStore.placement(arrays, device, cfg.resident, cfg.resident_max_gb)
    images, labels = ImageStore(arrays, device, where), _labels(data, device)
    faces = ImageStore(faces, device, where) if faces is not None else None
    logger.info("%s: %.1f MB of images kept in %s memory", plan.run_id,
                sum(a.nbytes for a in arrays) / 1e6, where)
    domain_ids = [plan.all_domains.index(d.name) for d in data]
    sizes = [len(d.images) for d in data]
    gen = torch.Generator(device=device)
    neighbours = (neighbour_maker(autoencoder["state"], autoencoder["code_std"], options.noise,
                                  device, gen) if autoencoder is not None else None)
    # an adaptation method means nothing to a supervised run (plans made by hand may carry
    # RunPlan's default "dann"): those train source-only
    method = "erm" if plan.mode == "supervised" and plan.method in METHODS else plan.method
    objective = build_objective(method, cfg, options, neighbours)
    classes = None
    if plan.mode == "supervised":  # one pooled, shuffled set
        images, labels = images.pooled(), [torch.cat(labels)]
        faces = faces.pooled() if faces is not None else None
        domain_ids_pooled = torch.cat([torch.full((n,), i, device=device)
                                       for n, i in zip(sizes, domain_ids, strict=True)])
        if subjects is not None:
            subjects = [torch.cat(subjects)]
        if objective.balanced_classes:
            classes = labels[0].cpu().numpy()
    flags = [d.labelled for d in data]
    steps = steps_per_epoch(plan, sizes, flags, classes)
    aug = cfg.augment_config
    dann_domains = torch.tensor(domain_ids, device=device).repeat_interleave(cfg.batch_size)
    total = steps * cfg.epochs
    model.train()
    for epoch in range(start_epoch, cfg.epochs):
        gen.manual_seed(plan.seed * 100_003 + epoch)  # augmentation: a function of (seed, epoch)
        # dropout draws from torch's global generators: a function of (seed, epoch) too, so
        # a run resumed after epoch k continues exactly as the uninterrupted run
        torch.manual_seed(plan.seed * 1_000_033 + epoch)
        sums: dict[str, torch.Tensor] = {}  # logged terms x images, read once per epoch
        seen = 0  # images, counted on the host (no sync)
        bad_step = torch.full((), -1, device=device)
        t0 = time.perf_counter()
        lam = limit = 0.0
        bar = tqdm(_epoch_plan(plan, sizes, epoch, flags, classes),
                   desc=f"{plan.run_id} {epoch + 1}/{cfg.epochs}", unit="step", leave=False,
                   disable=None)
        for s, whole in enumerate(bar):  # the global batch; this rank's share: batch
            progress = (epoch * steps + s) / total
            scale = lr_factor(epoch * steps + s, total, cfg.schedule, cfg.warmup)
            for group in optimiser.param_groups:
                group["lr"] = group["base_lr"] * scale
            subj = None
            if plan.mode == "dann":
                lam = factor(progress, cfg.alpha)
                limit = (clamp_limit(progress, plan.clamp, cfg.alpha) if plan.clamp is not None
                         else None)
                n_global = sum(len(i) for i in whole)
                # each domain's share split evenly between the ranks (all of it on one)
                batch = [shard(i, ranks) for i in whole]
                x = torch.cat([images.gather(k, i) for k, i in enumerate(batch)])
                y = torch.cat([lb[torch.from_numpy(i).to(device)]
                               for lb, i in zip(labels, batch, strict=True)])
                dom = (dann_domains if not ranks.parallel else torch.cat([
                    torch.full((len(i),), d, device=device)
                    for i, d in zip(batch, domain_ids, strict=True)]))
            else:
                n_global = len(whole[0])
                batch = [shard(whole[0], ranks)]
                x = images.gather(0, batch[0])
                i = torch.from_numpy(batch[0]).to(device)
                y, dom = labels[0][i], domain_ids_pooled[i]
                if subjects is not None:
                    subj = subjects[0][i]
            chosen = None
            if depth is None:
                x = augment(x, aug, gen)
            else:
                x, mirror = choose_view(x, aug, gen)
                if faces is not None:  # supervised (sna): one pooled store
                    chosen = as_chosen(faces.gather(0, batch[0]), mirror)
            if channels_last and x.dim() == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                out = forward(x, with_domain=False)  # the objective plays the domain game
                loss, terms = objective.step(model, out, Step(x, y, dom, subj, lam, limit,
                                                              plan.clamp_mode, chosen))
            optimiser.zero_grad(set_to_none=True)
            if ranks.parallel:  # the gradient of the global batch's mean loss
                (loss * (x.shape[0] * ranks.world / n_global)).backward()
                all_reduce_gradients(list(model.parameters()), ranks)
            else:
                loss.backward()
            optimiser.step()
            with torch.no_grad():
                n = x.shape[0]
                seen += n
                for key, value in terms.items():
                    sums[key] = sums.get(key, 0.0) + value.detach().float() * n
                bad_step = torch.where(torch.isfinite(loss.detach()) | (bad_step >= 0),
                                       bad_step, s)
        means, seen = _epoch_means(sums, seen, device, ranks)
        if int(bad_step) >= 0:
            step = int(bad_step)
            raise FloatingPointError(
                f"{plan.run_id}: the loss became NaN/Inf at epoch {epoch + 1}, step {step + 1} "
                f"(global step {epoch * steps + step + 1}); lower the learning rate or clamp")
        seconds = time.perf_counter() - t0
        dann = plan.mode == "dann"
        nan = float("nan")
        record = {"epoch": epoch + 1, "clf_loss": means.pop("clf_loss"),
                  "dmn_loss": means.pop("dmn_loss", nan),
                  "lambda": lam if dann else nan,
                  "clamp_limit": limit if dann and limit is not None else nan,
                  "dmn_acc": means.pop("dmn_acc", nan),
                  **epoch_diagnostics(means, plan.all_domains), **means,
                  "images_per_s": seen / seconds, "seconds": seconds}
        if plan.method in ADVERSARIAL and plan.mode == "dann":
            reason = collapse_reason([*history, record], len(plan.all_domains),
                                     plan.clamp_mode)
            record["collapsed"], record["collapse"] = float(bool(reason)), reason
            if reason:
                logger.warning("%s epoch %d: the domain classifier has collapsed (%s: majority "
                               "domain %.2f of the faces, domain accuracy %.3f, clamped %.2f)"
                               "; these epochs are source-only training", plan.run_id,
                               epoch + 1, reason, record.get("dmn_majority", nan),
                               record["dmn_acc"], record.get("clamped_frac", nan))
        if cfg.select != "last":
            record["select_score"], best = keep_best(best, cfg.select, model, data, device,
                                                     cfg.eval_batch_size, epoch + 1)
        bar.set_postfix(loss=f"{record['clf_loss']:.3f}", img_s=f"{record['images_per_s']:.0f}")
        bar.close()
        history.append(record)
        logger.info("%s epoch %d/%d: clf %.4f dmn %.4f lambda %.3f dmn-acc %.3f (%.0f img/s)",
                    plan.run_id, epoch + 1, cfg.epochs, record["clf_loss"], record["dmn_loss"],
                    lam, record["dmn_acc"], record["images_per_s"])
        if store and ranks.main:  # the ranks hold the same weights: one writes
            store.save(plan.run_id, {
                "model": model.state_dict(), "optimiser": optimiser.state_dict(),
                "epoch": epoch + 1, "history": history, "fingerprint": fingerprint,
                "provenance": provenance, "best": best})
        barrier(ranks)
        if on_epoch_end and ranks.main:
            on_epoch_end(epoch + 1)
    if cfg.select != "last" and best["state"] is not None:
        state = {k: v.contiguous() for k, v in best["state"].items()}
        kept = best["epoch"]
    else:
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        kept = cfg.epochs
    logger.info("%s: kept epoch %d (selected by %s)", plan.run_id, kept, cfg.select)
    provenance = {**provenance, "selected_by": cfg.select, "selected_epoch": kept}
    return TrainedModel(plan.run_id, plan.to_dict(), model.config.to_dict(), state, history,
                        provenance)
