"""A small convolutional autoencoder whose latent code is perturbed to make a semantic
neighbour of a face (paper 002, Sec. III-B, sized for 48-64 px and the CPU). Kedro-free."""

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


def fit_autoencoder(images: np.ndarray, latent: int, epochs: int, seed: int,
                    device: torch.device, batch_size: int = 64,
                    lr: float = 2e-3) -> tuple[dict[str, torch.Tensor], float]:
    """Train on uint8 (N, S, S) faces (denoising: 10 % of the input pixels dropped), MSE.
    Returns the state dict and the std of the codes of the training faces (the unit of the
    latent perturbation). Deterministic for a seed on the CPU."""
    torch.manual_seed(seed)
    model = ConvAutoencoder(latent).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    data = torch.from_numpy(np.require(images, requirements="W")).unsqueeze(1).to(device)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    for epoch in range(epochs):
        order = torch.randperm(len(data), generator=gen)
        total = torch.zeros((), device=device)
        for i in range(0, len(data), batch_size):
            x = data[order[i: i + batch_size].to(device)].float()
            keep = (torch.rand(x.shape, generator=gen) > 0.1).to(device)
            loss = F.mse_loss(model(x * keep) / 255.0, x / 255.0)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += loss.detach() * len(x)
        logger.info("autoencoder epoch %d/%d: reconstruction MSE %.4f", epoch + 1, epochs,
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
    latent = state["encoder.7.weight"].shape[0]
    model = ConvAutoencoder(latent).to(device)
    model.load_state_dict(state)
    model.eval().requires_grad_(False)

    def make(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            z = model.encode(x)
            eps = torch.randn(z.shape, generator=gen, device=z.device)
            return model.decode(z + noise * code_std * eps, x.shape[-1])

    return make
