"""The training loop of every objective (in the manner of Lightning Fabric's examples):
``train_run`` prepares the run, then ``fit`` (training/fit.py) calls ``train_epoch`` once
per epoch, whose steps are ``train_step``; ``epoch_record`` says what the epoch did.

The loop knows no method by name: what a method needs (subjects, an autoencoder, a domain
classifier to watch) comes from its ``MethodSpec`` (methods/registry.py) and what it
minimises from its objective (methods/). Losses are summed on the device and read once per
epoch (no host synchronisation per step).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from tqdm.auto import tqdm

from fer_da.devices import resolve_device
from fer_da.digest import state_digest
from fer_da.digest import training_data_digest as digest
from fer_da.methods.base import Objective, Step
from fer_da.methods.build import build_objective, model_config_for
from fer_da.methods.registry import method as method_spec
from fer_da.models import FERNet
from fer_da.models.autoencoder import neighbour_maker
from fer_da.training.augment import augment
from fer_da.training.batches import (  # noqa: F401 - steps_per_epoch: re-exported
    Batches,
    ImageStore,
    steps_per_epoch,
    subject_ids,
)
from fer_da.training.checkpoints import CheckpointStore
from fer_da.training.config import RunPlan
from fer_da.training.data import DomainData
from fer_da.training.diagnostics import collapse_reason, epoch_diagnostics
from fer_da.training.distributed import Ranks, all_reduce_gradients, current, global_batch_norm
from fer_da.training.fit import FiniteGuard, Fit, epoch_means, fit
from fer_da.training.frozen import (
    as_chosen,
    choose_view,
    freeze_depth,
    freeze_stages,
    frozen_view,
    rows_folder,
)
from fer_da.training.schedules import clamp_limit, factor, lr_factor
from fer_da.training.selection import keep_best, validator_scores
from fer_da.training.trained import TrainedModel, run_provenance
from fer_da.training.workload import format_duration

logger = logging.getLogger(__name__)
NAN = float("nan")


def build_model(plan: RunPlan, n_classes: int, init_state: dict | None = None,
                identities: int = 0) -> FERNet:
    torch.manual_seed(plan.seed)
    cfg = plan.config
    config = model_config_for(plan.method, cfg.model_config(n_classes, len(plan.all_domains)),
                              plan.method_options, identities)
    model = FERNet(config)
    if init_state is not None:
        model.load_state_dict(init_state)
    elif cfg.pretrained:
        model.load_imagenet(cfg.weights_file)
    return model


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


def check_labels(plan: RunPlan, data: list[DomainData]) -> None:
    """Only the plan's labelled domains carry labels; each mode has the labels it needs."""
    leaked = sorted(d.name for d in data if d.labelled and d.name not in plan.labelled_domains)
    if leaked:
        raise ValueError(f"{plan.run_id}: labels of {leaked} reached training, but only "
                         f"{list(plan.labelled_domains)} may be labelled in this run")
    if plan.mode == "supervised" and not all(d.labelled for d in data):
        raise ValueError(f"{plan.run_id}: supervised runs need labels for every domain")
    if plan.mode == "dann" and not any(d.labelled for d in data):
        raise ValueError(f"{plan.run_id}: a DANN run needs at least one labelled domain")


def objective_method(plan: RunPlan) -> str:
    """An adaptation method means nothing to a supervised run (plans made by hand may carry
    RunPlan's default "dann"): those train source-only."""
    adaptation = method_spec(plan.method).setup == "dann"
    return "erm" if plan.mode == "supervised" and adaptation else plan.method


@dataclass
class Run:
    """Everything one run's epochs share once it is prepared."""

    plan: RunPlan
    model: FERNet
    forward: Callable[..., Any]  # the model, compiled or not
    optimiser: torch.optim.Optimizer
    objective: Objective
    batches: Batches
    faces: ImageStore | None  # sna with frozen stages: its neighbours are made from these
    depth: int | None  # the last frozen stage (None: none)
    device: torch.device
    ranks: Ranks
    amp: bool
    channels_last: bool
    gen: torch.Generator  # augmentation (and sna's neighbours), seeded per epoch
    data: list[DomainData]  # what selection scores (the frozen view when frozen)


def _fingerprint(plan: RunPlan, model: FERNet, data: list[DomainData], init_state: Any,
                 autoencoder: Any, runtime: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """What a checkpoint must match to be reused, and the provenance of the run."""
    cfg, data_digest = plan.config, digest(data)
    init_digest = state_digest(init_state)
    if autoencoder is not None:  # the neighbours depend on the autoencoder's weights
        init_digest = f"{init_digest}+ae:{state_digest(autoencoder['state'])}"
    if cfg.pretrained and init_state is None:  # the weights' content, not their path
        init_digest = f"{init_digest}+weights:{state_digest(model.backbone.state_dict())}"
    provenance = run_provenance(plan, data, data_digest, runtime)
    if cfg.pretrained and init_state is None:
        provenance["pretrained_weights"] = init_digest.rsplit(":", 1)[-1]
    return plan.fingerprint(data_digest, init_digest, runtime), provenance


def _model(plan: RunPlan, data: list[DomainData], n_classes: int, init_state: Any,
           device: torch.device, ranks: Ranks) -> tuple[FERNet, list | None]:
    """The model on the device (global batch norm when data-parallel), and the subjects'
    identity indices when the method needs them."""
    subjects, identities = (subject_ids(data, device, plan.run_id)
                            if "subjects" in method_spec(plan.method).needs else (None, 0))
    model = build_model(plan, n_classes, init_state, identities).to(device)
    if ranks.parallel:
        if plan.config.batch_size < ranks.world:
            raise ValueError(f"training.batch_size ({plan.config.batch_size}) is smaller than "
                             f"the {ranks.world} ranks: every rank needs images of each batch")
        global_batch_norm(model)
    return model, subjects


def _images(run_id: str, data: list[DomainData], device: torch.device, cfg: Any,
            faces: list | None) -> tuple[ImageStore, ImageStore | None]:
    arrays = [d.images for d in data]
    where = ImageStore.placement(arrays, device, cfg.resident, cfg.resident_max_gb)
    logger.info("%s: %.1f MB of images kept in %s memory", run_id,
                sum(a.nbytes for a in arrays) / 1e6, where)
    return (ImageStore(arrays, device, where),
            ImageStore(faces, device, where) if faces is not None else None)


def prepare(plan: RunPlan, data: list[DomainData], n_classes: int, init_state: Any,
            autoencoder: Any) -> tuple[Run, str, dict[str, Any]]:
    """The run ready to train, its checkpoint fingerprint and its provenance."""
    cfg, device, ranks = plan.config, resolve_device(plan.config.device), current()
    model, subjects = _model(plan, data, n_classes, init_state, device, ranks)
    depth = frozen_depth(plan, model)
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
    fingerprint, provenance = _fingerprint(plan, model, data, init_state, autoencoder, runtime)
    # sna with frozen stages: its neighbours are made from the faces themselves
    faces = [d.images for d in data] if depth is not None and autoencoder is not None else None
    if depth is not None:  # frozen stages: their cached rows stand for the faces
        data = frozen_view(model, data, depth, device, cfg.eval_batch_size, rows_folder())
    images, faces_store = _images(plan.run_id, data, device, cfg, faces)
    gen = torch.Generator(device=device)
    neighbours = (neighbour_maker(autoencoder["state"], autoencoder["code_std"],
                                  plan.method_options.noise, device, gen)
                  if autoencoder is not None else None)
    method = objective_method(plan)
    objective = build_objective(method, cfg, plan.method_options, neighbours=neighbours)
    batches = Batches(plan, data, images, device, ranks, subjects,
                      method_spec(method).balanced_classes)
    if faces_store is not None and plan.mode == "supervised":
        faces_store = faces_store.pooled()
    run = Run(plan, model, torch.compile(model) if cfg.compile else model, optimiser,
              objective, batches, faces_store, depth, device, ranks, amp, channels_last, gen,
              data)
    return run, fingerprint, provenance


def _schedule(run: Run, progress: float, step: int, total: int) -> tuple[float, float | None]:
    """Set this step's learning rates; λ and the clamp limit of an adaptation step."""
    cfg, plan = run.plan.config, run.plan
    scale = lr_factor(step, total, cfg.schedule, cfg.warmup)
    for group in run.optimiser.param_groups:
        group["lr"] = group["base_lr"] * scale
    if plan.mode != "dann":
        return 0.0, 0.0
    limit = clamp_limit(progress, plan.clamp, cfg.alpha) if plan.clamp is not None else None
    return factor(progress, cfg.alpha), limit


def _view(run: Run, drawn: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The step's input as the model reads it: augmented faces, or the cached rows of the
    frozen stages (their mirror chosen); and the faces behind those rows (sna)."""
    aug = run.plan.config.augment_config
    if run.depth is None:
        x, chosen = augment(drawn.x, aug, run.gen), None
    else:
        x, mirror = choose_view(drawn.x, aug, run.gen)
        chosen = (as_chosen(run.faces.gather(0, drawn.index[0]), mirror)
                  if run.faces is not None else None)  # supervised (sna): one pooled store
    if run.channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, chosen


def train_step(run: Run, drawn: Any, lam: float, limit: float | None
               ) -> tuple[torch.Tensor, dict[str, torch.Tensor], int]:
    """One optimiser step on this rank's share of a global batch."""
    x, chosen = _view(run, drawn)
    with torch.autocast(run.device.type, dtype=torch.bfloat16, enabled=run.amp):
        out = run.forward(x, with_domain=False)  # the objective plays the domain game
        loss, terms = run.objective.step(run.model, out, Step(
            x, drawn.labels, drawn.domains, drawn.subjects, lam, limit, run.plan.clamp_mode,
            chosen))
    run.optimiser.zero_grad(set_to_none=True)
    if run.ranks.parallel:  # the gradient of the global batch's mean loss
        (loss * (x.shape[0] * run.ranks.world / drawn.n_global)).backward()
        all_reduce_gradients(list(run.model.parameters()), run.ranks)
    else:
        loss.backward()
    run.optimiser.step()
    return loss, terms, x.shape[0]


def epoch_record(run: Run, epoch: int, means: dict[str, Any], history: list[dict],
                 lam: float, limit: float | None, seen: int, seconds: float) -> dict[str, Any]:
    """What the epoch did: its losses, λ and clamp, the domain game's diagnostics and, for an
    adversarial method, whether its domain classifier has collapsed."""
    plan, dann = run.plan, run.plan.mode == "dann"
    record = {"epoch": epoch + 1, "clf_loss": means.pop("clf_loss"),
              "dmn_loss": means.pop("dmn_loss", NAN), "lambda": lam if dann else NAN,
              "clamp_limit": limit if dann and limit is not None else NAN,
              "dmn_acc": means.pop("dmn_acc", NAN),
              **epoch_diagnostics(means, plan.all_domains), **means,
              "images_per_s": seen / seconds, "seconds": seconds}
    if method_spec(plan.method).adversarial and dann:
        reason = collapse_reason([*history, record], len(plan.all_domains), plan.clamp_mode)
        record["collapsed"], record["collapse"] = float(bool(reason)), reason
        if reason:
            logger.warning("%s epoch %d: the domain classifier has collapsed (%s: majority "
                           "domain %.2f of the faces, domain accuracy %.3f, clamped %.2f); "
                           "these epochs are source-only training", plan.run_id, epoch + 1,
                           reason, record.get("dmn_majority", NAN), record["dmn_acc"],
                           record.get("clamped_frac", NAN))
    return record


def train_epoch(run: Run, epoch: int, history: list[dict]) -> dict[str, Any]:
    """Every step of one epoch; its record (the terms averaged with one host sync)."""
    cfg = run.plan.config
    steps = run.batches.steps()
    total = steps * cfg.epochs
    sums: dict[str, torch.Tensor] = {}  # logged terms x images, read once per epoch
    seen, guard, t0 = 0, FiniteGuard(run.device), time.perf_counter()
    lam, limit = 0.0, 0.0
    bar = tqdm(run.batches.epoch(epoch), desc=f"{run.plan.run_id} {epoch + 1}/{cfg.epochs}",
               unit="step", leave=False, disable=None)
    for s, whole in enumerate(bar):  # the global batch; this rank's share: drawn
        lam, limit = _schedule(run, (epoch * steps + s) / total, epoch * steps + s, total)
        loss, terms, n = train_step(run, run.batches.draw(whole), lam, limit)
        with torch.no_grad():
            seen += n
            for key, value in terms.items():
                sums[key] = sums.get(key, 0.0) + value.detach().float() * n
            guard.observe(loss, s)
    means, seen = epoch_means(sums, seen, run.device, run.ranks)
    guard.check(run.plan.run_id, epoch, steps, "lower the learning rate or clamp")
    record = epoch_record(run, epoch, means, history, lam, limit, seen,
                          time.perf_counter() - t0)
    if cfg.validators:  # the selection study: every validator's score at every epoch
        record.update(validator_scores(cfg.validators, run.model, run.data, run.device,
                                       cfg.eval_batch_size))
    bar.set_postfix(loss=f"{record['clf_loss']:.3f}", img_s=f"{record['images_per_s']:.0f}")
    bar.close()
    left = format_duration(record["seconds"] * (cfg.epochs - epoch - 1))
    logger.info("%s epoch %d/%d: %s (%.0f img/s; about %s left in this run)",
                run.plan.run_id, epoch + 1, cfg.epochs, epoch_line(record),
                record["images_per_s"], left)
    return record


def epoch_line(record: dict[str, Any]) -> str:
    """What the epoch's log line shows: the losses the run has (the domain game's only for
    an adversarial run, the adaptation term's for the others), λ where it weighs one."""
    parts = [f"clf {record['clf_loss']:.4f}"]
    if record.get("dmn_loss") == record.get("dmn_loss"):  # NaN: no domain game
        parts += [f"dmn {record['dmn_loss']:.4f}", f"dmn-acc {record['dmn_acc']:.3f}"]
    if "adapt_loss" in record:
        parts.append(f"adapt {record['adapt_loss']:.4f}")
    if len(parts) > 1 and record.get("lambda") == record.get("lambda"):
        parts.append(f"lambda {record['lambda']:.3f}")
    return " ".join(parts)


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
    check_labels(plan, data)
    run, fingerprint, provenance = prepare(plan, data, n_classes, init_state, autoencoder)
    cfg = plan.config
    progress = Fit(plan.run_id, plan.seed, cfg.epochs, cfg.select, fingerprint, provenance,
                   store, run.ranks, snapshots=bool(cfg.validators))

    def select(best: dict[str, Any], epoch: int) -> tuple[float, dict[str, Any]]:
        return keep_best(best, cfg.select, run.model, run.data, run.device,
                         cfg.eval_batch_size, epoch)

    fit(progress, run.model, {"optimiser": run.optimiser}, cfg.resume, run.gen,
        lambda epoch: train_epoch(run, epoch, progress.history), select, on_epoch_end)
    state, provenance = progress.kept(run.model)
    return TrainedModel(plan.run_id, plan.to_dict(), run.model.config.to_dict(), state,
                        progress.history, provenance)
