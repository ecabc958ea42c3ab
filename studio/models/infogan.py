"""InfoGAN (Chen, Duan, Houthooft, Schulman, Sutskever & Abbeel 2016, "InfoGAN: Interpretable
Representation Learning by Information Maximizing Generative Adversarial Nets", arXiv:1606.03657),
on the DCGAN layers of dcgan.py.

The generator's input is noise plus latent codes: a categorical code c1 with ``num_classes``
values (passed as ``labels``, one-hot next to z) and ``n_continuous`` codes uniform in [-1, 1]
(the last ``n_continuous`` entries of z). The paper's MNIST model: 62 noise + 10 categories + 2
continuous codes. No code is supervised: category k is whatever the model learns, not digit k.

Q(c | x) shares all of D's layers and adds one final output, as in the paper: D's last
convolution has 1 + K + n_continuous outputs: the adversarial logit, the category logits and the
means of the continuous codes (a Gaussian with fixed unit variance, so its log-likelihood is -MSE).

Objective, with I the mutual information and L_I its variational lower bound through Q:
# min_{G,Q} max_D  V(D, G) - lambda * L_I(G, Q)
# L_I = E[log Q(c1 | G(z, c))] (cross-entropy) + E[log Q(c2 | G(z, c))] (-squared error)
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


class InfoGAN(GenerativeModel):
    """InfoGAN with a categorical code (``labels``) and continuous codes (the tail of z).

    ``latent_dim = noise_dim + n_continuous``.
    ``discriminate(x, return_aux=True)`` returns ``(adv (B,), {"cat": (B, K) logits, "cont": (B, n_continuous)})``.
    """

    family = "infogan"
    task = "conditional"

    def __init__(
        self,
        *,
        noise_dim: int = 62,
        num_classes: int = 10,
        n_continuous: int = 2,
        image_size: int = 28,
        channels: int = 1,
        width: int = 64,
        disc_width: int | None = None,
        upsample: str = "transpose",
    ):
        super().__init__()
        disc_width = default_disc_width(image_size, width) if disc_width is None else disc_width
        check_positive(self.family, noise_dim=noise_dim, channels=channels, width=width, disc_width=disc_width)
        check_num_classes(self.family, num_classes)
        if isinstance(n_continuous, bool) or not isinstance(n_continuous, int) or n_continuous < 0:
            raise ValueError(f"infogan: n_continuous must be an integer >= 0, got {n_continuous!r}")
        check_architecture(self.family, image_size, upsample)
        self.noise_dim, self.n_continuous = noise_dim, n_continuous
        self.latent_dim = noise_dim + n_continuous
        self.image_size, self.channels, self.num_classes = image_size, channels, num_classes
        self.generator = DCGANGenerator(self.latent_dim, image_size, channels, width, upsample, num_classes=num_classes)
        self.discriminator = DCGANDiscriminator(
            image_size, channels, disc_width, out_features=1 + num_classes + n_continuous
        )
        init_dcgan_weights(self)

    def sample_latent(self, n: int, seed: int | None = None) -> torch.Tensor:
        """(n, latent_dim): N(0, 1) noise, then the continuous codes from U[-1, 1] (as in the paper)."""
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        noise = torch.randn(n, self.noise_dim, generator=generator)  # (n, noise_dim)
        codes = torch.rand(n, self.n_continuous, generator=generator) * 2 - 1  # (n, n_continuous)
        return torch.cat([noise, codes], dim=1).to(self.device)

    def continuous_codes(self, z: torch.Tensor) -> torch.Tensor:
        """The continuous codes inside z: (B, latent_dim) -> (B, n_continuous), what Q's "cont" estimates."""
        check_shape("infogan latent z", z, (None, self.latent_dim))
        return z[:, self.noise_dim :]

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images (B, C, H, W) for z (B, noise_dim + n_continuous) and categories ``labels`` (B,).

        Continuous codes outside [-1, 1] are allowed: the paper extrapolates to +-2 to show the factors.
        """
        check_shape("infogan latent z", z, (None, self.latent_dim))
        labels = self.check_labels(labels, z.shape[0])
        return self.generator(z, labels)  # (B, C, H, W)

    def discriminate(self, x: torch.Tensor, labels: torch.Tensor | None = None, return_aux: bool = False):
        """Adversarial logits (B,), and with ``return_aux`` Q's outputs {"cat": (B, K), "cont": (B, n_continuous)}.

        ``labels`` may be given (they are checked) but D does not read them: the codes enter L_I only.
        """
        if labels is not None:
            self.check_labels(labels, x.shape[0])
        out = self.discriminator(x)  # (B, 1 + K + n_continuous)
        k = self.num_classes
        adv = out[:, 0]  # (B,)
        if not return_aux:
            return adv
        return adv, {"cat": out[:, 1 : 1 + k], "cont": out[:, 1 + k :]}  # (B, K), (B, n_continuous)
