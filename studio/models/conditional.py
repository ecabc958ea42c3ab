"""Conditional GAN (Mirza & Osindero 2014, "Conditional Generative Adversarial Nets", arXiv:1411.1784),
on the DCGAN layers of dcgan.py, as in the GAN course (course 1 week 4).

The class y reaches both networks:
- generator: its one-hot vector is concatenated to z, (B, latent_dim + K);
- discriminator: it becomes K constant image planes (all ones for the true class, zeros elsewhere)
  stacked on the image's channels, (B, C + K, H, W), so D judges "a real image *of class y*".

Objective, with D returning logits:
# D: maximize log D(x | y) + log(1 - D(G(z | y) | y))
# G: maximize log D(G(z | y) | y)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from studio.models.base import GenerativeModel, check_positive, check_shape
from studio.models.dcgan import (
    DCGANDiscriminator,
    DCGANGenerator,
    check_architecture,
    default_disc_width,
    init_dcgan_weights,
)


def check_num_classes(family: str, num_classes: int) -> None:
    check_positive(family, num_classes=num_classes)
    if num_classes < 2:
        raise ValueError(f"{family}: num_classes must be at least 2, got {num_classes}")


class LabelMapDiscriminator(DCGANDiscriminator):
    """DCGAN discriminator that reads images (B, C, H, W) plus labels (B,) as K extra one-hot planes."""

    def __init__(self, image_size: int, channels: int, num_classes: int, width: int):
        super().__init__(image_size, channels + num_classes, width)
        self.image_channels, self.num_classes = channels, num_classes

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        size = self.image_size
        check_shape("discriminator input", x, (None, self.image_channels, size, size))
        check_shape("discriminator labels", labels, (x.shape[0],))
        one_hot = F.one_hot(labels.long(), self.num_classes).to(x.dtype)  # (B, K)
        planes = one_hot[:, :, None, None].expand(-1, -1, size, size)  # (B, K, H, W)
        return super().forward(torch.cat([x, planes], dim=1))  # (B, C + K, H, W) -> (B, 1)


class ConditionalGAN(GenerativeModel):
    """Class-conditional DCGAN: ``generate(z, labels)`` draws an image of each requested class."""

    family = "cgan"
    task = "conditional"

    def __init__(
        self,
        *,
        latent_dim: int = 64,
        image_size: int = 28,
        channels: int = 1,
        num_classes: int = 10,
        width: int = 64,
        disc_width: int | None = None,
        upsample: str = "transpose",
    ):
        super().__init__()
        disc_width = default_disc_width(image_size, width) if disc_width is None else disc_width
        check_positive(self.family, latent_dim=latent_dim, channels=channels, width=width, disc_width=disc_width)
        check_num_classes(self.family, num_classes)
        check_architecture(self.family, image_size, upsample)
        self.latent_dim, self.image_size, self.channels = latent_dim, image_size, channels
        self.num_classes = num_classes
        self.generator = DCGANGenerator(latent_dim, image_size, channels, width, upsample, num_classes=num_classes)
        self.discriminator = LabelMapDiscriminator(image_size, channels, num_classes, disc_width)
        init_dcgan_weights(self)

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        check_shape("cgan latent z", z, (None, self.latent_dim))
        labels = self.check_labels(labels, z.shape[0])
        return self.generator(z, labels)  # (B, C, H, W)

    def discriminate(self, x: torch.Tensor, labels: torch.Tensor | None = None, return_aux: bool = False):
        """Logits (B,) that x is a real image of class ``labels``."""
        if return_aux:
            raise ValueError("cgan has no auxiliary head; return_aux is for acgan and infogan")
        labels = self.check_labels(labels, x.shape[0])
        return self.discriminator(x, labels)[:, 0]  # (B,)
