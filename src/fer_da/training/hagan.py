"""The HA-GAN training loop (paper 004): D and G updated one after the other on each batch
of labelled human faces. A GAN alternates two optimisers, so it has its own short loop; the
data, augmentation, seeding, checkpoints, model selection and provenance are the shared ones.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np
import torch

from fer_da.datasets.characters import CharacterSet
from fer_da.devices import resolve_device
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
from fer_da.training.data import DomainData, digest, state_digest
from fer_da.training.loop import TrainedModel, run_provenance
from fer_da.training.selection import keep_best

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


def train_hagan(plan: RunPlan, data: list[DomainData], n_classes: int,
                characters: CharacterSet, store: CheckpointStore | None = None
                ) -> TrainedModel:
    """Train G and D on the run's labelled faces. ``characters``: the character set (its
    first ``options.characters`` characters are G's identities)."""
    cfg, opts = plan.config, plan.method_options
    if not all(d.labelled for d in data):
        raise ValueError(f"{plan.run_id}: hagan trains on labelled faces only")
    characters.check(opts.characters, n_classes, plan.run_id)
    characters = characters.first(opts.characters)
    device = resolve_device(cfg.device)
    torch.manual_seed(plan.seed)
    model_cfg = HaganConfig(n_classes=n_classes, characters=opts.characters, d_norm="group",
                            eval_draws=EVAL_DRAWS)
    model = HaganClassifier(model_cfg).to(device)
    g, d = model.generator, model.discriminator
    opt_g = torch.optim.Adam(g.parameters(), lr=opts.gan_lr, betas=(opts.beta1, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=opts.gan_lr, betas=(opts.beta1, 0.999))
    runtime = {"device": device.type, "precision": "fp32", "channels_last": False}
    data_digest = digest(data)
    chars_digest = state_digest({k: torch.from_numpy(np.ascontiguousarray(v))
                                 for k, v in characters.to_dict().items() if k != "names"})
    fingerprint = plan.fingerprint(data_digest, chars_digest, runtime)
    provenance = run_provenance(plan, data, data_digest, runtime)
    images = torch.from_numpy(np.concatenate([d_.images for d_ in data])).unsqueeze(1).to(device)
    labels = torch.from_numpy(np.concatenate([d_.labels for d_ in data])).to(device)
    bank = CharacterBank(characters, opts.characters, n_classes, device)
    history: list[dict[str, float]] = []
    best: dict[str, Any] = {"epoch": 0, "score": -math.inf, "state": None}
    start = 0
    saved = store.load(plan.run_id, fingerprint) if store and cfg.resume else None
    if saved:
        model.load_state_dict(saved["model"])
        opt_g.load_state_dict(saved["opt_g"])
        opt_d.load_state_dict(saved["opt_d"])
        start, history = int(saved["epoch"]), list(saved["history"])
        best = dict(saved.get("best") or best)
    gen = torch.Generator(device=device)
    aug = cfg.augment_config
    model.train()
    for epoch in range(start, cfg.epochs):
        gen.manual_seed(plan.seed * 100_003 + epoch)
        rng = np.random.default_rng([plan.seed, epoch])
        sums: dict[str, torch.Tensor] = {}
        seen, t0 = 0, time.perf_counter()
        for idx in shuffled_epoch(len(images), cfg.batch_size, rng):
            i = torch.from_numpy(idx).to(device)
            human, y = to_unit(augment(images[i], aug, gen)), labels[i]
            who = torch.randint(0, opts.characters, (len(i),), generator=gen, device=device)
            z = torch.randn(len(i), model_cfg.noise, generator=gen, device=device)
            fake = g(human, who, z)
            # an option beyond the paper: D^e may read the expression from the human alone;
            # for a share of the pairs D sees no human, so the character must show it
            # (options.human_dropout, default 0 = the paper; measured in docs/training.md)
            keep = (torch.rand(len(i), 1, 1, 1, generator=gen, device=device)
                    >= opts.human_dropout).float()
            human_d = human * keep
            real = bank.real(who, y, gen)
            d_terms = discriminator_loss(d, human_d, real, fake.detach(), y)
            opt_d.zero_grad(set_to_none=True)
            d_terms["loss"].backward()
            opt_d.step()
            g_terms = generator_loss(d, human_d, fake, bank.neutral(who, gen), y,
                                     opts.l1_weight)
            opt_g.zero_grad(set_to_none=True)
            g_terms["loss"].backward()
            opt_g.step()
            seen += len(i)
            # the generator's output: does it vary with its input? (one character drawn for
            # every face = mode collapse, seen on real faces) vs the real characters' spread
            g_terms["g_diversity"] = fake.detach().float().std(0, correction=0).mean()
            g_terms["real_diversity"] = real.float().std(0, correction=0).mean()
            for key, value in {**d_terms, **g_terms}.items():
                if key != "loss":
                    sums[key] = sums.get(key, 0.0) + value.detach() * len(i)
        means = dict(zip(sums, (torch.stack(list(sums.values())) / seen).tolist(), strict=True))
        seconds = time.perf_counter() - t0
        record = {"epoch": epoch + 1, "clf_loss": means["d_expression"], **means,
                  "images_per_s": seen / seconds, "seconds": seconds}
        if not all(math.isfinite(v) for v in means.values()):
            raise FloatingPointError(f"{plan.run_id}: a GAN loss became NaN/Inf at epoch "
                                     f"{epoch + 1}; lower options.gan_lr")
        if cfg.select != "last":
            record["select_score"], best = keep_best(best, cfg.select, model, data, device,
                                                     cfg.eval_batch_size, epoch + 1)
        history.append(record)
        logger.info("%s epoch %d/%d: D real/fake %.3f, D^e %.3f (acc %.2f), G adv %.3f, "
                    "G expr %.3f, L1 %.3f (%.0f img/s)", plan.run_id, epoch + 1, cfg.epochs,
                    means["d_real_fake"], means["d_expression"], means["d_expression_acc"],
                    means["g_adversarial"], means["g_expression"], means["g_l1"],
                    record["images_per_s"])
        if store:
            store.save(plan.run_id, {"model": model.state_dict(), "opt_g": opt_g.state_dict(),
                                     "opt_d": opt_d.state_dict(), "epoch": epoch + 1,
                                     "history": history, "fingerprint": fingerprint,
                                     "provenance": provenance, "best": best})
    if cfg.select != "last" and best["state"] is not None:
        state, kept = best["state"], best["epoch"]
    else:
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        kept = cfg.epochs
    provenance = {**provenance, "selected_by": cfg.select, "selected_epoch": kept}
    return TrainedModel(plan.run_id, plan.to_dict(), model_cfg.to_dict(),
                        {k: v.contiguous() for k, v in state.items()}, history, provenance)
