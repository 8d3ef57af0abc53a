"""The HA-GAN training loop (paper 004): D and G updated one after the other on each batch
of labelled human faces. A GAN alternates two optimisers, so it has its own epoch; the scaffold
(resume, seeding, NaN guard, selection, checkpoints, data-parallel ranks) is the shared one
of training/fit.py.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from fer_da.devices import resolve_device
from fer_da.digest import state_digest
from fer_da.digest import training_data_digest as digest
from fer_da.ingest.character_set import CharacterSet
from fer_da.models.hagan import (
    HaganClassifier,
    HaganConfig,
    discriminator_loss,
    generator_loss,
    to_unit,
)
from fer_da.training.augment import augment
from fer_da.training.batching import shuffled_epoch
from fer_da.training.checkpoints import CheckpointStore
from fer_da.training.config import RunPlan
from fer_da.training.data import DomainData
from fer_da.training.distributed import (
    Ranks,
    all_reduce_gradients,
    current,
    global_batch_norm,
    shard,
)
from fer_da.training.fit import FiniteGuard, Fit, epoch_means, fit
from fer_da.training.selection import keep_best, validator_scores
from fer_da.training.trained import TrainedModel, run_provenance

logger = logging.getLogger(__name__)
EVAL_DRAWS = 4  # z ~ N(0, 1) draws D^e is averaged over at evaluation


class CharacterBank:
    """The character images on the device, grouped by (character, class): ``real(who, y)``
    draws one image of each pair, ``neutral(who)`` one neutral face of each character."""

    def __init__(self, chars: CharacterSet, count: int, n_classes: int,
                 device: torch.device):
        cells = chars.character * n_classes + chars.expression
        self.images, self.start, self.count = self._grouped(chars.images, cells,
                                                            count * n_classes, device)
        self.neutrals, self.n_start, self.n_count = self._grouped(
            chars.neutral, chars.neutral_character, count, device)
        self.n_classes = n_classes

    @staticmethod
    def _grouped(images: np.ndarray, cells: np.ndarray, n_cells: int,
                 device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The images sorted by cell, in [-1, 1] on the device; each cell's start and size."""
        order = np.argsort(cells, kind="stable")
        counts = np.bincount(cells, minlength=n_cells)[:n_cells]
        start = np.concatenate([[0], np.cumsum(counts)[:-1]])
        return (to_unit(torch.from_numpy(images[order]).unsqueeze(1).to(device)),
                torch.from_numpy(start).to(device), torch.from_numpy(counts).to(device))

    @staticmethod
    def _pick(start, count, cell, gen):
        u = torch.rand(len(cell), generator=gen, device=cell.device)
        return start[cell] + (u * count[cell]).long().clamp(max=count[cell] - 1)

    def real(self, who: torch.Tensor, y: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        cell = who * self.n_classes + y
        return self.images[self._pick(self.start, self.count, cell, gen)]

    def neutral(self, who: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        return self.neutrals[self._pick(self.n_start, self.n_count, who, gen)]


@dataclass
class Gan:
    """One HA-GAN run ready to train."""

    model: HaganClassifier
    cfg: HaganConfig
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    images: torch.Tensor
    labels: torch.Tensor
    bank: CharacterBank
    gen: torch.Generator
    device: torch.device
    ranks: Ranks


def _prepare(plan: RunPlan, data: list[DomainData], n_classes: int,
             characters: CharacterSet) -> tuple[Gan, str, dict[str, Any]]:
    """G and D with their optimisers, the faces and characters on the device; the
    checkpoint fingerprint (the characters' content in it) and the provenance."""
    opts, device = plan.method_options, resolve_device(plan.config.device)
    torch.manual_seed(plan.seed)
    model_cfg = HaganConfig(n_classes=n_classes, characters=opts.characters, d_norm="group",
                            eval_draws=EVAL_DRAWS)
    model, ranks = HaganClassifier(model_cfg).to(device), current()
    if ranks.parallel:  # batch-norm statistics over the global batch (before the optimisers)
        if plan.config.batch_size < ranks.world:
            raise ValueError(f"training.batch_size ({plan.config.batch_size}) is smaller than "
                             f"the {ranks.world} ranks: every rank needs images of each batch")
        global_batch_norm(model)
    opt_g = torch.optim.Adam(model.generator.parameters(), lr=opts.gan_lr,
                             betas=(opts.beta1, 0.999))
    opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=opts.gan_lr,
                             betas=(opts.beta1, 0.999))
    runtime = {"device": device.type, "precision": "fp32", "channels_last": False}
    data_digest = digest(data)
    chars_digest = state_digest({k: torch.from_numpy(np.ascontiguousarray(v))
                                 for k, v in characters.to_dict().items() if k != "names"})
    gan = Gan(model, model_cfg, opt_g, opt_d,
              torch.from_numpy(np.concatenate([d.images for d in data])).unsqueeze(1).to(device),
              torch.from_numpy(np.concatenate([d.labels for d in data])).to(device),
              CharacterBank(characters, opts.characters, n_classes, device),
              torch.Generator(device=device), device, ranks)
    return (gan, plan.fingerprint(data_digest, chars_digest, runtime),
            run_provenance(plan, data, data_digest, runtime))


def _reduced_step(loss: torch.Tensor, params: list, optimiser: Any, ranks: Ranks,
                  share: float) -> None:
    """Backward and step; data-parallel: the gradient of the global batch's mean loss."""
    optimiser.zero_grad(set_to_none=True)
    (loss * share if ranks.parallel else loss).backward()
    all_reduce_gradients(params, ranks)
    optimiser.step()


def gan_step(gan: Gan, idx: np.ndarray, n_global: int, opts: Any, aug: Any
             ) -> dict[str, torch.Tensor]:
    """D, then G, on one batch of labelled faces (this rank's share ``idx``)."""
    g, d, gen, device = gan.model.generator, gan.model.discriminator, gan.gen, gan.device
    i = torch.from_numpy(idx).to(device)
    human, y = to_unit(augment(gan.images[i], aug, gen)), gan.labels[i]
    who = torch.randint(0, opts.characters, (len(i),), generator=gen, device=device)
    z = torch.randn(len(i), gan.cfg.noise, generator=gen, device=device)
    fake = g(human, who, z)
    # an option beyond the paper: D^e may read the expression from the human alone; for a
    # share of the pairs D sees no human, so the character must show it
    # (options.human_dropout, default 0 = the paper; measured in docs/training.md)
    keep = (torch.rand(len(i), 1, 1, 1, generator=gen, device=device)
            >= opts.human_dropout).float()
    human_d = human * keep
    real = gan.bank.real(who, y, gen)
    share = len(i) * gan.ranks.world / n_global
    d_terms = discriminator_loss(d, human_d, real, fake.detach(), y)
    _reduced_step(d_terms["loss"], list(d.parameters()), gan.opt_d, gan.ranks, share)
    g_terms = generator_loss(d, human_d, fake, gan.bank.neutral(who, gen), y, opts.l1_weight)
    _reduced_step(g_terms["loss"], list(g.parameters()), gan.opt_g, gan.ranks, share)
    # the generator's output: does it vary with its input? (one character drawn for every
    # face = mode collapse, seen on real faces) vs the real characters' spread
    g_terms["g_diversity"] = fake.detach().float().std(0, correction=0).mean()
    g_terms["real_diversity"] = real.float().std(0, correction=0).mean()
    return {"loss": d_terms["loss"].detach() + g_terms["loss"].detach(),
            **{k: v for k, v in {**d_terms, **g_terms}.items() if k != "loss"}}


def gan_epoch(gan: Gan, plan: RunPlan, epoch: int, data: list[DomainData]) -> dict[str, Any]:
    """Every batch of one epoch; its record."""
    cfg, opts = plan.config, plan.method_options
    rng = np.random.default_rng([plan.seed, epoch])
    plan_idx = shuffled_epoch(len(gan.images), cfg.batch_size, rng)
    sums: dict[str, torch.Tensor] = {}
    seen, guard, t0 = 0, FiniteGuard(gan.device), time.perf_counter()
    for s, whole in enumerate(plan_idx):
        idx = shard(whole, gan.ranks)
        terms = gan_step(gan, idx, len(whole), opts, cfg.augment_config)
        guard.observe(terms.pop("loss"), s)
        seen += len(idx)
        for key, value in terms.items():
            sums[key] = sums.get(key, 0.0) + value.detach().float() * len(idx)
    means, seen = epoch_means(sums, seen, gan.device, gan.ranks)
    guard.check(plan.run_id, epoch, len(plan_idx), "lower options.gan_lr")
    seconds = time.perf_counter() - t0
    logger.info("%s epoch %d/%d: D real/fake %.3f, D^e %.3f (acc %.2f), G adv %.3f, "
                "G expr %.3f, L1 %.3f (%.0f img/s)", plan.run_id, epoch + 1, cfg.epochs,
                means["d_real_fake"], means["d_expression"], means["d_expression_acc"],
                means["g_adversarial"], means["g_expression"], means["g_l1"], seen / seconds)
    record = {"epoch": epoch + 1, "clf_loss": means["d_expression"], **means,
              "images_per_s": seen / seconds, "seconds": seconds}
    if cfg.validators:  # the selection study (labelled faces only: source_val)
        record.update(validator_scores(cfg.validators, gan.model, data, gan.device,
                                       cfg.eval_batch_size))
    return record


def train_hagan(plan: RunPlan, data: list[DomainData], n_classes: int,
                characters: CharacterSet, store: CheckpointStore | None = None
                ) -> TrainedModel:
    """Train G and D on the run's labelled faces. ``characters``: the character set (its
    first ``options.characters`` characters are G's identities)."""
    cfg, opts = plan.config, plan.method_options
    if not all(d.labelled for d in data):
        raise ValueError(f"{plan.run_id}: hagan trains on labelled faces only")
    characters.check(opts.characters, n_classes, plan.run_id)
    gan, fingerprint, provenance = _prepare(plan, data, n_classes,
                                            characters.first(opts.characters))
    progress = Fit(plan.run_id, plan.seed, cfg.epochs, cfg.select, fingerprint, provenance,
                   store, gan.ranks, snapshots=bool(cfg.validators))

    def select(best: dict[str, Any], epoch: int) -> tuple[float, dict[str, Any]]:
        return keep_best(best, cfg.select, gan.model, data, gan.device,
                         cfg.eval_batch_size, epoch)

    fit(progress, gan.model, {"opt_g": gan.opt_g, "opt_d": gan.opt_d}, cfg.resume, gan.gen,
        lambda epoch: gan_epoch(gan, plan, epoch, data), select)
    state, provenance = progress.kept(gan.model)
    return TrainedModel(plan.run_id, plan.to_dict(), gan.cfg.to_dict(), state,
                        progress.history, provenance)
