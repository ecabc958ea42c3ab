"""AC-GAN: auxiliary classifier GAN (Odena, Olah & Shlens 2017, "Conditional Image Synthesis with
Auxiliary Classifier GANs", ICML, arXiv:1610.09585), on the DCGAN layers of dcgan.py.

The generator takes z and a class c (one-hot, concatenated to z, as in the paper). The
discriminator sees only the image and has two heads on one shared trunk: P(S | x), real or fake,
and P(C | x), which class. Its last convolution has 1 + K outputs, which is exactly the two heads
side by side: output 0 is the adversarial logit, outputs 1..K the class logits.

Objective, with S the source (real/fake) and C the class:
# L_S = E[log P(S=real | x_real)] + E[log P(S=fake | x_fake)]
# L_C = E[log P(C=c | x_real)]    + E[log P(C=c | x_fake)]
# D: maximize L_S + L_C        G: maximize L_C - L_S
"""

from __future__ import annotations

import torch

from studio.models.base import GenerativeModel, check_positive, check_shape
from studio.models.conditional import check_num_classes
from studio.models.dcgan import (
    DCGANDiscriminator,
    DCGANGenerator,
    check_architecture,
    default_disc_width,
    init_dcgan_weights,
)


class ACGAN(GenerativeModel):
    """Class-conditional GAN whose discriminator also classifies.

    ``discriminate(x, return_aux=True)`` returns ``(adv (B,), class_logits (B, K))``.
    """

    family = "acgan"
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
        self.discriminator = DCGANDiscriminator(image_size, channels, disc_width, out_features=1 + num_classes)
        init_dcgan_weights(self)

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        check_shape("acgan latent z", z, (None, self.latent_dim))
        labels = self.check_labels(labels, z.shape[0])
        return self.generator(z, labels)  # (B, C, H, W)

    def discriminate(self, x: torch.Tensor, labels: torch.Tensor | None = None, return_aux: bool = False):
        """Adversarial logits (B,), and with ``return_aux`` the class logits (B, K).

        ``labels`` may be given (they are checked) but D does not read them: in AC-GAN the class
        enters the loss, not the discriminator's input.
        """
        if labels is not None:
            self.check_labels(labels, x.shape[0])
        out = self.discriminator(x)  # (B, 1 + K)
        adv, class_logits = out[:, 0], out[:, 1:]  # (B,), (B, K)
        return (adv, class_logits) if return_aux else adv
