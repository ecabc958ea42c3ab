"""The original GAN with fully connected networks (Goodfellow et al. 2014, "Generative Adversarial
Nets", NeurIPS, arXiv:1406.2661), in the layout of the GAN course (course 1 week 1).

Generator: four blocks Linear + BatchNorm1d + ReLU (hidden, 2x, 4x, 8x hidden), then Linear + Tanh
reshaped to an image. The course ends with a Sigmoid for [0, 1] pixels; studio images live in
[-1, 1], hence Tanh. Discriminator: three blocks Linear + LeakyReLU(0.2) (4x, 2x, 1x hidden), then a
Linear logit. ``generator.main`` / ``discriminator.main`` hold the course's ``gen`` / ``disc`` keys.

Objective, with D returning logits:
# min_G max_D  E[log D(x)] + E[log(1 - D(G(z)))]
# (G in practice maximizes log D(G(z)), the non-saturating form of the paper)
"""

from __future__ import annotations

import math

import torch
from torch import nn

from studio.models.base import GenerativeModel, check_positive, check_shape


class MLPGenerator(nn.Module):
    """z (B, latent_dim) -> images (B, C, H, W) in [-1, 1]."""

    def __init__(self, latent_dim: int, image_shape: tuple[int, int, int], hidden_dim: int):
        super().__init__()
        self.latent_dim, self.image_shape = latent_dim, image_shape

        def block(d_in, d_out):
            return nn.Sequential(nn.Linear(d_in, d_out), nn.BatchNorm1d(d_out), nn.ReLU(True))

        h = hidden_dim
        self.main = nn.Sequential(
            block(latent_dim, h),  # (B, h)
            block(h, h * 2),  # (B, 2h)
            block(h * 2, h * 4),  # (B, 4h)
            block(h * 4, h * 8),  # (B, 8h)
            nn.Linear(h * 8, math.prod(image_shape)),  # (B, C*H*W)
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        check_shape("generator latent z", z, (None, self.latent_dim))
        return self.main(z).reshape(-1, *self.image_shape)  # (B, C, H, W)


class MLPDiscriminator(nn.Module):
    """Images (B, C, H, W) -> (B, 1) logits."""

    def __init__(self, image_shape: tuple[int, int, int], hidden_dim: int):
        super().__init__()
        self.image_shape = image_shape

        def block(d_in, d_out):
            return nn.Sequential(nn.Linear(d_in, d_out), nn.LeakyReLU(0.2, True))

        h = hidden_dim
        self.main = nn.Sequential(
            block(math.prod(image_shape), h * 4),  # (B, 4h)
            block(h * 4, h * 2),  # (B, 2h)
            block(h * 2, h),  # (B, h)
            nn.Linear(h, 1),  # (B, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_shape("discriminator input", x, (None, *self.image_shape))
        return self.main(x.flatten(1))  # (B, C*H*W) -> (B, 1)


class MLPGAN(GenerativeModel):
    """Fully connected GAN; the course trains it on 28x28 MNIST with latent_dim 64."""

    family = "mlp"
    task = "unconditional"

    def __init__(self, *, latent_dim: int = 64, image_size: int = 28, channels: int = 1, hidden_dim: int = 128):
        super().__init__()
        check_positive(
            self.family, latent_dim=latent_dim, image_size=image_size, channels=channels, hidden_dim=hidden_dim
        )
        self.latent_dim, self.image_size, self.channels = latent_dim, image_size, channels
        image_shape = (channels, image_size, image_size)
        self.generator = MLPGenerator(latent_dim, image_shape, hidden_dim)
        self.discriminator = MLPDiscriminator(image_shape, hidden_dim)

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        check_shape("mlp latent z", z, (None, self.latent_dim))
        self.check_labels(labels, z.shape[0])  # raises: the MLP GAN takes no labels
        return self.generator(z)  # (B, C, H, W)

    def discriminate(self, x: torch.Tensor, labels: torch.Tensor | None = None, return_aux: bool = False):
        if return_aux:
            raise ValueError("mlp has no auxiliary head; return_aux is for acgan and infogan")
        self.check_labels(labels, x.shape[0])
        return self.discriminator(x)[:, 0]  # (B,)
