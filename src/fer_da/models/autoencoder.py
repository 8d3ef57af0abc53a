"""The autoencoders whose latent code is perturbed to make a semantic neighbour of a face
(paper 002, Sec. III-B), sized for 48 px and the CPU. Kedro-free.

``AsymmetricAutoencoder`` is the paper's (Table I): four 3x3 stride-2 convolutions with batch
norm, LeakyReLU and dropout (the last with tanh), an FC code; a decoder that mirrors it with
transposed convolutions each followed by two residual blocks. It is trained with eq. 4's
multi-scale loss: each decoder scale is matched to the encoder's features of that scale.
``ConvAutoencoder`` (three convolutions each way, pixel MSE) is the earlier, blurrier one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

logger = logging.getLogger(__name__)
SIDE = 48  # the autoencoder works at 48 x 48; other sizes are resized in and out


class ConvAutoencoder(nn.Module):
    """(B, 1, S, S) in 0..255 -> code (B, latent) -> (B, 1, S, S) in 0..255."""

    def __init__(self, latent: int = 32):
        super().__init__()
        self.latent = latent
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 16, 4, 2, 1), nn.LeakyReLU(0.1),
            nn.Conv2d(16, 32, 4, 2, 1), nn.LeakyReLU(0.1),
            nn.Conv2d(32, 64, 4, 2, 1), nn.LeakyReLU(0.1),
            nn.Flatten(), nn.Linear(64 * 6 * 6, latent))
        self.decoder = nn.Sequential(
            nn.Linear(latent, 64 * 6 * 6), nn.LeakyReLU(0.1), nn.Unflatten(1, (64, 6, 6)),
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.LeakyReLU(0.1),
            nn.ConvTranspose2d(32, 16, 4, 2, 1), nn.LeakyReLU(0.1),
            nn.ConvTranspose2d(16, 1, 4, 2, 1), nn.Sigmoid())

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float() / 255.0
        if x.shape[-1] != SIDE or x.shape[-2] != SIDE:
            x = F.interpolate(x, size=(SIDE, SIDE), mode="bilinear", align_corners=False)
        return self.encoder(x)

    def decode(self, z: torch.Tensor, side: int = SIDE) -> torch.Tensor:
        y = self.decoder(z)
        if side != SIDE:
            y = F.interpolate(y, size=(side, side), mode="bilinear", align_corners=False)
        return y * 255.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x), x.shape[-1])


class ResBlock(nn.Module):
    """conv-BN-ReLU-conv-BN plus the input, then ReLU (He et al. 2016)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False), nn.BatchNorm2d(channels),
            nn.ReLU(), nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
            nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))


ENCODER_WIDTHS = (16, 32, 64, 80)  # Table I: E-Conv-a..d


class AsymmetricAutoencoder(nn.Module):
    """Paper 002, Table I at 48 px: encoder [16, 32, 64, 80] channels (48 -> 3 px), FC code;
    decoder FC, then per scale a stride-2 transposed convolution and two ResBlocks
    ([64, 32, 16, 16] channels, 3 -> 48 px), a 3x3 output convolution. ``scales(x)``
    returns the encoder's and the decoder's features per scale for eq. 4."""

    def __init__(self, latent: int = 32, dropout: float = 0.1):
        super().__init__()
        self.latent = latent
        w = ENCODER_WIDTHS
        self.input_dropout = nn.Dropout(dropout)
        blocks, c_in = [], 1
        for i, c in enumerate(w):
            last = i == len(w) - 1
            blocks.append(nn.Sequential(
                nn.Conv2d(c_in, c, 3, 2, 1), nn.BatchNorm2d(c),
                *((nn.Tanh(),) if last else (nn.LeakyReLU(0.01), nn.Dropout(dropout)))))
            c_in = c
        self.down = nn.ModuleList(blocks)
        self.code = nn.Linear(w[-1] * 9, latent)
        self.expand = nn.Linear(latent, w[-1] * 9)
        outs = (*w[-2::-1], w[0])  # 64, 32, 16, 16
        ups, c_in = [], w[-1]
        for c in outs:
            ups.append(nn.Sequential(nn.ConvTranspose2d(c_in, c, 3, 2, 1, output_padding=1),
                                     nn.ReLU(), ResBlock(c), ResBlock(c)))
            c_in = c
        self.up = nn.ModuleList(ups)
        self.out = nn.Conv2d(w[0], 1, 3, 1, 1)

    @staticmethod
    def _unit(x: torch.Tensor) -> torch.Tensor:
        x = x.float() / 255.0
        if x.shape[-1] != SIDE or x.shape[-2] != SIDE:
            x = F.interpolate(x, size=(SIDE, SIDE), mode="bilinear", align_corners=False)
        return x

    def _encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h, feats = self.input_dropout(x), []
        for block in self.down:
            h = block(h)
            feats.append(h)
        return self.code(torch.flatten(h, 1)), feats

    def _decode(self, z: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h = self.expand(z).view(len(z), ENCODER_WIDTHS[-1], 3, 3)
        feats = [h]
        for block in self.up:
            h = block(h)
            feats.append(h)
        return torch.sigmoid(self.out(h)), feats

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self._encode(self._unit(x))[0]

    def decode(self, z: torch.Tensor, side: int = SIDE) -> torch.Tensor:
        y = self._decode(z)[0]
        if side != SIDE:
            y = F.interpolate(y, size=(side, side), mode="bilinear", align_corners=False)
        return y * 255.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x), x.shape[-1])

    def scales(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """(targets, reconstructions) per scale, finest first: the clean input and the
        encoder's features (48, 24, 12, 6, 3 px) against the decoder's output and its
        features at the same sizes."""
        clean = self._unit(x)
        z, enc = self._encode(clean)
        y, dec = self._decode(z)
        # the decoder's 48 px block has 16 channels, the output 1: the output is scale 0
        return [clean, *enc], [y, *dec[-2::-1]]


SCALE_WEIGHTS = (4.0, 1.0, 1.0, 1.0, 1.0)  # alpha_l of eq. 4 (the paper: 4 for the input)


def multiscale_loss(targets: list[torch.Tensor], recons: list[torch.Tensor],
                    weights: tuple[float, ...] = SCALE_WEIGHTS) -> torch.Tensor:
    """Eq. 4: sum_l alpha_l / |z^l| ||z^l - z_hat^l||^2. The encoder's features are targets
    (detached): the decoder learns to recover them; the encoder learns from scale 0."""
    total = weights[0] * F.mse_loss(recons[0], targets[0])
    for w, t, r in zip(weights[1:], targets[1:], recons[1:], strict=True):
        total = total + w * F.mse_loss(r, t.detach())
    return total


GENERATORS = ("asymmetric", "conv")


def build_autoencoder(kind: str, latent: int) -> nn.Module:
    if kind == "asymmetric":
        return AsymmetricAutoencoder(latent)
    if kind == "conv":
        return ConvAutoencoder(latent)
    raise ValueError(f"unknown autoencoder {kind!r}; choose one of {list(GENERATORS)}")


def _kind_of(state: dict[str, torch.Tensor]) -> tuple[str, int]:
    if "code.weight" in state:
        return "asymmetric", state["code.weight"].shape[0]
    return "conv", state["encoder.7.weight"].shape[0]


def fit_autoencoder(images: np.ndarray, latent: int, epochs: int, seed: int,
                    device: torch.device, batch_size: int = 64, lr: float = 2e-3,
                    kind: str = "conv") -> tuple[dict[str, torch.Tensor], float]:
    """Train on uint8 (N, S, S) faces, denoising. ``asymmetric``: Table I's autoencoder,
    input dropout 0.1, eq. 4's multi-scale loss; ``conv``: the small one, 10 % of the input
    pixels dropped, pixel MSE. Returns the state dict and the std of the codes of the
    training faces (the unit of the latent perturbation). Deterministic for a seed on the
    CPU."""
    torch.manual_seed(seed)
    model = build_autoencoder(kind, latent).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    data = torch.from_numpy(np.require(images, requirements="W")).unsqueeze(1).to(device)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    for epoch in range(epochs):
        order = torch.randperm(len(data), generator=gen)
        total = torch.zeros((), device=device)
        for i in range(0, len(data), batch_size):
            x = data[order[i: i + batch_size].to(device)].float()
            if kind == "asymmetric":
                loss = multiscale_loss(*model.scales(x))
            else:
                keep = (torch.rand(x.shape, generator=gen) > 0.1).to(device)
                loss = F.mse_loss(model(x * keep) / 255.0, x / 255.0)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += loss.detach() * len(x)
        logger.info("autoencoder (%s) epoch %d/%d: loss %.4f", kind, epoch + 1, epochs,
                    float(total) / len(data))
    model.eval()
    with torch.no_grad():
        codes = torch.cat([model.encode(data[i: i + 256]) for i in range(0, len(data), 256)])
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    return state, float(codes.std())


def neighbour_maker(state: dict[str, torch.Tensor], code_std: float, noise: float,
                    device: torch.device,
                    gen: torch.Generator) -> Callable[[torch.Tensor], torch.Tensor]:
    """x -> its semantic neighbour: decode(encode(x) + noise * code_std * N(0, 1)) (eq. 9).
    ``gen`` (on ``device``) makes the perturbations reproducible."""
    model = build_autoencoder(*_kind_of(state)).to(device)
    model.load_state_dict(state)
    model.eval().requires_grad_(False)

    def make(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            z = model.encode(x)
            eps = torch.randn(z.shape, generator=gen, device=z.device)
            return model.decode(z + noise * code_std * eps, x.shape[-1])

    return make
