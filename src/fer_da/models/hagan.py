"""HA-GAN (paper 004): translate a human face into an animated character showing the same
expression, and classify the expression of the (human, character) pair.

G: an encoder of the human face, its code joined with a one-hot character identity and a
noise vector, a decoder that draws the character (eq. 3). D: shared convolutional blocks on
the (human, character) pair, then two legs: D^R real/fake and D^e the expression (eq. 5).
Sized for 48-64 px faces and the CPU; other sizes are resized to 48 inside. Kedro-free.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fer_da.models.fer_net import ModelOutput

SIDE = 48


@dataclass(frozen=True)
class HaganConfig:
    n_classes: int = 7
    characters: int = 1  # animated identities (one-hot)
    code: int = 64  # expression code of the encoder
    noise: int = 16  # z
    width: int = 32  # channels of G's first block
    shared: int = 256  # D's shared vector (the paper: 1024)
    d_norm: str = "batch"  # D's normalisation: group (no batch statistics) | batch (before
    # the fix: D's batch statistics differ between its real, fake and evaluation batches)
    eval_draws: int = 1  # z drawn from N(0, 1) at evaluation, D^e averaged over them; a
    # model saved before the fix has 1 and is evaluated with z = 0 as it was
    kind: str = "hagan"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """0..255 (B, 1, S, S) -> [-1, 1] at 48 x 48."""
    x = x.float() / 127.5 - 1.0
    if x.shape[-1] != SIDE or x.shape[-2] != SIDE:
        x = F.interpolate(x, size=(SIDE, SIDE), mode="bilinear", align_corners=False)
    return x


def _down(cin: int, cout: int, norm: str | None = "batch") -> nn.Sequential:
    """Conv 4x4 stride 2 [-> norm] -> LeakyReLU. ``norm``: batch, group (8 groups: the same
    function of each image in training and evaluation), or None."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 4, 2, 1)]
    if norm == "batch":
        layers.append(nn.BatchNorm2d(cout))
    elif norm == "group":
        layers.append(nn.GroupNorm(min(8, cout), cout))
    elif norm is not None:
        raise ValueError(f"unknown normalisation {norm!r}; choose batch or group")
    layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


class Generator(nn.Module):
    """G(I_HE, Id_AN, z) -> the character image in [-1, 1], (B, 1, 48, 48)."""

    def __init__(self, cfg: HaganConfig):
        super().__init__()
        w = cfg.width
        self.cfg = cfg
        self.encoder = nn.Sequential(_down(1, w, norm=None), _down(w, 2 * w), _down(2 * w, 4 * w),
                                     nn.Flatten(), nn.Linear(4 * w * 36, cfg.code), nn.Tanh())
        self.project = nn.Sequential(
            nn.Linear(cfg.code + cfg.characters + cfg.noise, 4 * w * 36), nn.ReLU())
        self.decoder = nn.Sequential(
            nn.Unflatten(1, (4 * w, 6, 6)),
            nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1), nn.BatchNorm2d(2 * w), nn.ReLU(),
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1), nn.BatchNorm2d(w), nn.ReLU(),
            nn.ConvTranspose2d(w, 1, 4, 2, 1), nn.Tanh())

    def forward(self, human: torch.Tensor, identity: torch.Tensor,
                z: torch.Tensor) -> torch.Tensor:
        code = self.encoder(human)
        onehot = F.one_hot(identity, self.cfg.characters).to(code.dtype)
        return self.decoder(self.project(torch.cat([code, onehot, z], dim=1)))


class Discriminator(nn.Module):
    """Shared blocks (16, 32, 64, 128 channels, an FC layer) on the (human, character) pair,
    then D^R (real/fake logit) and D^e (expression logits)."""

    def __init__(self, cfg: HaganConfig):
        super().__init__()
        n = cfg.d_norm
        self.shared = nn.Sequential(_down(2, 16, norm=None), _down(16, 32, n),
                                    _down(32, 64, n), _down(64, 128, n), nn.Flatten(),
                                    nn.Linear(128 * 9, cfg.shared), nn.LeakyReLU(0.2))
        self.real = nn.Sequential(nn.Linear(cfg.shared, 64), nn.LeakyReLU(0.2),
                                  nn.Linear(64, 1))
        self.expression = nn.Sequential(nn.Linear(cfg.shared, 128), nn.LeakyReLU(0.2),
                                        nn.Linear(128, 64), nn.LeakyReLU(0.2),
                                        nn.Linear(64, cfg.n_classes))

    def forward(self, human: torch.Tensor,
                character: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.shared(torch.cat([human, character], dim=1))
        return self.real(h).squeeze(1), self.expression(h), h


class HaganClassifier(nn.Module):
    """The evaluation path: human -> G (character 0) -> D^e on the pair, averaged over
    ``eval_draws`` fixed draws of z ~ N(0, 1) (the noise G was trained with; the same draws
    for every face, so a face's prediction does not depend on its batch). Returns the
    project's ``ModelOutput`` (features = D's shared vector; no domain head: zeros)."""

    def __init__(self, cfg: HaganConfig):
        super().__init__()
        self.config = cfg
        self.generator = Generator(cfg)
        self.discriminator = Discriminator(cfg)
        draws = (torch.randn(cfg.eval_draws, cfg.noise, generator=torch.Generator().manual_seed(0))
                 if cfg.eval_draws > 1 else torch.zeros(1, cfg.noise))
        self.register_buffer("eval_noise", draws, persistent=False)

    def translate(self, x: torch.Tensor, identity: int = 0, draw: int = 0) -> torch.Tensor:
        """The character G draws for each face with the ``draw``-th fixed z."""
        human = to_unit(x)
        return self._draw(human, identity, self.eval_noise[draw])

    def _draw(self, human: torch.Tensor, identity: int, z: torch.Tensor) -> torch.Tensor:
        ids = torch.full((len(human),), identity, dtype=torch.long, device=human.device)
        return self.generator(human, ids, z.to(human.dtype).expand(len(human), -1))

    def forward(self, x: torch.Tensor) -> ModelOutput:
        human = to_unit(x)
        logps, feats = [], []
        for z in self.eval_noise:
            _, logits, h = self.discriminator(human, self._draw(human, 0, z))
            logps.append(F.log_softmax(logits.float(), 1))
            feats.append(h)
        # the mean of the draws' probabilities, as log-probabilities
        class_logp = torch.logsumexp(torch.stack(logps), 0) - math.log(len(logps))
        return ModelOutput(class_logp, torch.zeros(len(x), 1, device=x.device),
                           torch.stack(feats).mean(0), class_logp)


def discriminator_loss(d: Discriminator, human: torch.Tensor, real: torch.Tensor,
                       fake: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """D's objective, halved (the paper's optimisation choice): real pairs are real and show
    the labelled expression, generated pairs are fake. ``fake`` must be detached."""
    real_logit, real_e, _ = d(human, real)
    fake_logit, _, _ = d(human, fake)
    adv = (F.binary_cross_entropy_with_logits(real_logit, torch.ones_like(real_logit))
           + F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit)))
    expr = F.cross_entropy(real_e, labels)
    return {"loss": 0.5 * (adv + expr), "d_real_fake": adv, "d_expression": expr,
            "d_expression_acc": (real_e.argmax(1) == labels).float().mean()}


def generator_loss(d: Discriminator, human: torch.Tensor, fake: torch.Tensor,
                   neutral: torch.Tensor, labels: torch.Tensor,
                   l1_weight: float) -> dict[str, torch.Tensor]:
    """G maximises log D^R(h, G(.)) and log D^e_E(h, G(.)) (non-saturating, eq. 3) plus the
    L1 distance to the character's neutral face (eq. 4)."""
    fake_logit, fake_e, _ = d(human, fake)
    adv = F.binary_cross_entropy_with_logits(fake_logit, torch.ones_like(fake_logit))
    expr = F.cross_entropy(fake_e, labels)
    l1 = (fake - neutral).abs().mean()
    return {"loss": adv + expr + l1_weight * l1, "g_adversarial": adv, "g_expression": expr,
            "g_l1": l1}
