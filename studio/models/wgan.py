"""WGAN-GP: Wasserstein GAN with gradient penalty (Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville
2017, "Improved Training of Wasserstein GANs", arXiv:1704.00028).

The generator is DCGAN's (dcgan.py). The critic is DCGAN's discriminator with two changes the paper
asks for: no sigmoid (it returns an unbounded score, not a probability) and no BatchNorm, because
the gradient penalty is taken per sample and batch norm couples the samples of a batch.
``critic_norm="layer"`` (the default, the paper's recommended drop-in) normalises each sample over
(C, H, W) with a per-channel scale and shift, as the authors' code does; ``"none"`` uses no norm.

Objective, with x~ = G(z) and x^ = e x + (1 - e) x~, e ~ U[0, 1]:
# critic: minimize D(x~) - D(x) + lambda * (||grad_x^ D(x^)||_2 - 1)^2     (lambda = 10)
# G:      minimize -D(G(z))
"""

from __future__ import annotations

import torch

from studio.models.base import GenerativeModel, check_positive, check_shape
from studio.models.dcgan import (
    DCGANDiscriminator,
    DCGANGenerator,
    check_architecture,
    default_disc_width,
    init_dcgan_weights,
)

CRITIC_NORMS = ("layer", "none")


class WGANGP(GenerativeModel):
    """Unconditional WGAN-GP on the DCGAN layouts (image_size 28, 32, 64 or 128).

    ``discriminator`` is the critic: ``discriminate`` returns its raw scores (B,).
    """

    family = "wgangp"
    task = "unconditional"

    def __init__(
        self,
        *,
        latent_dim: int = 64,
        image_size: int = 28,
        channels: int = 1,
        width: int = 64,
        disc_width: int | None = None,
        critic_norm: str = "layer",
        upsample: str = "transpose",
    ):
        super().__init__()
        disc_width = default_disc_width(image_size, width) if disc_width is None else disc_width
        check_positive(self.family, latent_dim=latent_dim, channels=channels, width=width, disc_width=disc_width)
        check_architecture(self.family, image_size, upsample)
        if critic_norm not in CRITIC_NORMS:
            # "batch" is refused on purpose: it breaks the per-sample gradient penalty.
            raise ValueError(f"wgangp: critic_norm must be one of {CRITIC_NORMS}, got {critic_norm!r}")
        self.latent_dim, self.image_size, self.channels = latent_dim, image_size, channels
        self.generator = DCGANGenerator(latent_dim, image_size, channels, width, upsample)
        self.discriminator = DCGANDiscriminator(image_size, channels, disc_width, norm=critic_norm)
        init_dcgan_weights(self)

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        check_shape("wgangp latent z", z, (None, self.latent_dim))
        self.check_labels(labels, z.shape[0])  # raises: WGAN-GP here is unconditional
        return self.generator(z)  # (B, C, H, W)

    def discriminate(self, x: torch.Tensor, labels: torch.Tensor | None = None, return_aux: bool = False):
        """Critic scores (B,): unbounded reals, higher means "more real"."""
        if return_aux:
            raise ValueError("wgangp has no auxiliary head; return_aux is for acgan and infogan")
        self.check_labels(labels, x.shape[0])
        return self.discriminator(x)[:, 0]  # (B,)
