"""DCGAN: deep convolutional GAN (Radford, Metz & Chintala 2016, "Unsupervised Representation
Learning with Deep Convolutional Generative Adversarial Networks", arXiv:1511.06434).

Two layouts, picked by ``image_size``:

- 28: the MNIST DCGAN of the GAN course (Coursera GAN Specialization, course 1 week 2).
  Generator 1 -> 3 -> 6 -> 13 -> 28 with ConvTranspose2d; discriminator 28 -> 13 -> 5 -> 1.
  ``generator.main`` / ``discriminator.main`` hold the course's ``gen`` / ``disc`` layers key for key.
- 32, 64, 128: the classic DCGAN: project z to 4x4, then double the size and halve the width per
  stage. At 64 pixels ``generator.main`` / ``discriminator.main`` are pytorch/examples' dcgan
  ``netG.main`` / ``netD.main`` key for key (its final Sigmoid has no weights: we return logits).

``upsample="resize"`` swaps each stride-2 transposed conv for nearest upsampling + 3x3 conv, which
avoids checkerboard artifacts (Odena, Dumoulin & Olah 2016, "Deconvolution and Checkerboard Artifacts").

The generator and discriminator modules here are the shared layers of wgan.py, conditional.py,
acgan.py and infogan.py.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from studio.models.base import GenerativeModel, check_positive, check_shape

IMAGE_SIZES = (28, 32, 64, 128)
UPSAMPLES = ("transpose", "resize")
NORMS = ("batch", "layer", "none")


def check_architecture(family: str, image_size: int, upsample: str = "transpose", norm: str = "batch") -> None:
    """Raise ValueError for a layout the builders below cannot make."""
    if image_size not in IMAGE_SIZES:
        raise ValueError(f"{family}: image_size must be one of {IMAGE_SIZES}, got {image_size!r}")
    if upsample not in UPSAMPLES:
        raise ValueError(f"{family}: upsample must be one of {UPSAMPLES}, got {upsample!r}")
    if norm not in NORMS:
        raise ValueError(f"{family}: norm must be one of {NORMS}, got {norm!r}")


def check_extra_conv_at(family: str, image_size: int, extra_convs: int, extra_conv_at) -> None:
    """Raise ValueError unless ``extra_conv_at`` names distinct feature-map sizes of the generator
    (4, 8, ... up to half the image) and comes without ``extra_convs``."""
    if not extra_conv_at:
        return
    sizes = [4 * 2**k for k in range(int(math.log2(image_size)) - 2)] if image_size != 28 else []
    if (not isinstance(extra_conv_at, (list, tuple)) or len(set(extra_conv_at)) != len(extra_conv_at)
            or any(type(size) is not int or size not in sizes for size in extra_conv_at)):
        raise ValueError(f"{family}: extra_conv_at must list distinct feature-map sizes among {sizes} "
                         f"(at {image_size} pixels), got {extra_conv_at!r}")
    if extra_convs:
        raise ValueError(f"{family}: give extra_convs or extra_conv_at, not both")


def default_disc_width(image_size: int, width: int) -> int:
    """``disc_width=None`` means: 16 for the course's 28-pixel model, else the generator's width."""
    return 16 if image_size == 28 else width


def init_dcgan_weights(module: nn.Module) -> None:
    """Radford et al. 2016: all weights from N(0, 0.02); BatchNorm scales from N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def norm2d(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        # Layer norm over (C, H, W) with a per-channel scale and shift, as in the WGAN-GP
        # authors' code (tflib layernorm); unlike nn.LayerNorm it does not fix H and W.
        return nn.GroupNorm(1, channels)
    # Identity keeps the layer indices (and so the state-dict keys) the same for every norm.
    return nn.Identity()


# ---------------------------------------------------------------------------------------------
# Generator: z (B, latent_dim) [+ one-hot class] -> image (B, C, H, W) in [-1, 1]


def _course_generator(in_dim: int, channels: int, width: int, upsample: str) -> nn.Sequential:
    def block(c_in, c_out, kernel, stride):
        return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, kernel, stride), nn.BatchNorm2d(c_out), nn.ReLU(True))

    if upsample == "transpose":
        return nn.Sequential(
            block(in_dim, width * 4, 3, 2),  # (B, 4w, 3, 3)
            block(width * 4, width * 2, 4, 1),  # (B, 2w, 6, 6)
            block(width * 2, width, 3, 2),  # (B, w, 13, 13)
            nn.Sequential(nn.ConvTranspose2d(width, channels, 4, 2), nn.Tanh()),  # (B, C, 28, 28)
        )

    # 13 is not a doubling of 6, so the resize layout projects to 7x7 and doubles twice.
    def up(c_in, c_out):
        return nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(c_in, c_out, 3, 1, 1),
            nn.BatchNorm2d(c_out),
            nn.ReLU(True),
        )

    return nn.Sequential(
        block(in_dim, width * 4, 7, 1),  # (B, 4w, 7, 7)
        up(width * 4, width * 2),  # (B, 2w, 14, 14)
        up(width * 2, width),  # (B, w, 28, 28)
        nn.Sequential(nn.Conv2d(width, channels, 3, 1, 1), nn.Tanh()),  # (B, C, 28, 28)
    )


def _upsample2x(c_in: int, c_out: int, upsample: str) -> nn.Module:
    if upsample == "transpose":
        return nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False)
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False))


def _same_size_convs(c: int, count: int) -> list[nn.Module]:
    """``count`` 3x3 convolutions, each with BatchNorm and ReLU, that keep (B, c, H, W)."""
    return [layer for _ in range(count) for layer in (nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(True))]


def _classic_generator(in_dim: int, image_size: int, channels: int, width: int, upsample: str,
                       extra_convs: int = 0, extra_conv_at: tuple[int, ...] = ()) -> nn.Sequential:
    """``extra_convs`` same-size convolutions after each doubling but the last, or one at each
    feature-map size in ``extra_conv_at`` (4 is the first map, before any doubling)."""
    doublings = int(math.log2(image_size)) - 2  # 4x4 -> image_size: 3, 4 or 5 stages
    c = width * 2 ** (doublings - 1)  # ngf * 8 at 64 pixels
    layers: list[nn.Module] = [
        nn.ConvTranspose2d(in_dim, c, 4, 1, 0, bias=False),  # a 1x1 "image" to (B, c, 4, 4)
        nn.BatchNorm2d(c),
        nn.ReLU(True),
        *_same_size_convs(c, int(4 in extra_conv_at)),  # (B, c, 4, 4)
    ]
    size = 4
    for _ in range(doublings - 1):
        layers += [_upsample2x(c, c // 2, upsample), nn.BatchNorm2d(c // 2), nn.ReLU(True)]  # (B, c/2, 2H, 2W)
        c, size = c // 2, size * 2
        layers += _same_size_convs(c, extra_convs + int(size in extra_conv_at))  # (B, c, 2H, 2W)
    layers += [_upsample2x(c, channels, upsample), nn.Tanh()]  # (B, C, image_size, image_size)
    return nn.Sequential(*layers)


class DCGANGenerator(nn.Module):
    """z (B, latent_dim) and, when ``num_classes`` > 0, labels (B,) -> images (B, C, H, W) in [-1, 1]."""

    def __init__(self, latent_dim: int, image_size: int, channels: int, width: int, upsample: str = "transpose",
                 num_classes: int = 0, extra_convs: int = 0, extra_conv_at: tuple[int, ...] = ()):
        super().__init__()
        self.latent_dim, self.num_classes = latent_dim, num_classes
        in_dim = latent_dim + num_classes
        if image_size == 28:
            if extra_convs or extra_conv_at:
                raise ValueError("extra_convs: the course's 28-pixel generator has a fixed layout; use 32 pixels")
            self.main = _course_generator(in_dim, channels, width, upsample)
        else:
            self.main = _classic_generator(in_dim, image_size, channels, width, upsample, extra_convs, extra_conv_at)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        check_shape("generator latent z", z, (None, self.latent_dim))
        if self.num_classes:
            if labels is None:
                raise ValueError(f"this generator is class-conditional: pass labels (B,) in [0, {self.num_classes})")
            check_shape("generator labels", labels, (z.shape[0],))
            # Mirza & Osindero 2014: the class enters as a one-hot vector next to z.
            z = torch.cat([z, F.one_hot(labels.long(), self.num_classes).to(z.dtype)], dim=1)  # (B, latent + K)
        return self.main(z[:, :, None, None])  # (B, latent[+K], 1, 1) -> (B, C, H, W)


# ---------------------------------------------------------------------------------------------
# Discriminator: image (B, C, H, W) -> (B, out_features) raw logits (no sigmoid)


def _course_discriminator(channels: int, width: int, norm: str, out_features: int) -> nn.Sequential:
    def block(c_in, c_out):
        return nn.Sequential(nn.Conv2d(c_in, c_out, 4, 2), norm2d(norm, c_out), nn.LeakyReLU(0.2, True))

    return nn.Sequential(
        block(channels, width),  # (B, d, 13, 13)
        block(width, width * 2),  # (B, 2d, 5, 5)
        nn.Sequential(nn.Conv2d(width * 2, out_features, 4, 2)),  # (B, out, 1, 1)
    )


def _classic_discriminator(image_size: int, channels: int, width: int, norm: str, out_features: int) -> nn.Sequential:
    halvings = int(math.log2(image_size)) - 2  # image_size -> 4x4
    layers: list[nn.Module] = [
        nn.Conv2d(channels, width, 4, 2, 1, bias=False),  # (B, d, S/2, S/2)
        nn.LeakyReLU(0.2, True),
    ]
    c = width
    for _ in range(halvings - 1):
        # A bias before BatchNorm is cancelled by its mean; without a norm the layer needs one.
        layers += [nn.Conv2d(c, c * 2, 4, 2, 1, bias=norm == "none"), norm2d(norm, c * 2), nn.LeakyReLU(0.2, True)]
        c *= 2  # (B, 2c, H/2, W/2)
    layers += [nn.Conv2d(c, out_features, 4, 1, 0, bias=False)]  # (B, out, 1, 1)
    return nn.Sequential(*layers)


class DCGANDiscriminator(nn.Module):
    """Images (B, C, H, W) -> (B, out_features) raw scores; out_features > 1 puts extra heads side by side."""

    def __init__(self, image_size: int, channels: int, width: int, norm: str = "batch", out_features: int = 1):
        super().__init__()
        self.image_size, self.channels = image_size, channels
        if image_size == 28:
            self.main = _course_discriminator(channels, width, norm, out_features)
        else:
            self.main = _classic_discriminator(image_size, channels, width, norm, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_shape("discriminator input", x, (None, self.channels, self.image_size, self.image_size))
        return self.main(x).flatten(1)  # (B, out_features)


# ---------------------------------------------------------------------------------------------


class DCGAN(GenerativeModel):
    """Unconditional DCGAN. The defaults are the classic 64x64 RGB model of pytorch/examples.

    ``disc_norm``: the discriminator's normalization, "batch" (Radford et al.), or "layer" / "none"
    (per-sample: D then judges each image alone, as the WGAN-GP critic does).

    ``extra_convs``: 3x3 convolutions (each with BatchNorm and ReLU) after each doubling of the
    generator but the last, at the same size: depth where the strokes are shaped, for little
    compute (at 32 pixels, 8x8 and 16x16). 0 is the classic layout.

    ``extra_conv_at``: instead, one such convolution at each of these feature-map sizes, 4 being
    the first map (before any doubling). ``[4]`` at 32 pixels (mnist-dcgan's recipe) puts the depth
    where a digit's layout is decided, for less compute than the 8x8 and 16x16 pair.

    Objective (non-saturating, as in the reference implementation), with D returning logits:
    # D: maximize log D(x) + log(1 - D(G(z)))
    # G: maximize log D(G(z))
    """

    family = "dcgan"
    task = "unconditional"

    def __init__(
        self,
        *,
        latent_dim: int = 100,
        image_size: int = 64,
        channels: int = 3,
        width: int = 64,
        disc_width: int | None = None,
        upsample: str = "transpose",
        disc_norm: str = "batch",
        extra_convs: int = 0,
        extra_conv_at: list[int] | None = None,
    ):
        super().__init__()
        disc_width = default_disc_width(image_size, width) if disc_width is None else disc_width
        check_positive(self.family, latent_dim=latent_dim, channels=channels, width=width, disc_width=disc_width)
        check_architecture(self.family, image_size, upsample, disc_norm)
        if extra_convs < 0:
            raise ValueError(f"{self.family}: extra_convs must be 0 or more, got {extra_convs!r}")
        check_extra_conv_at(self.family, image_size, extra_convs, extra_conv_at)
        self.latent_dim, self.image_size, self.channels = latent_dim, image_size, channels
        self.generator = DCGANGenerator(latent_dim, image_size, channels, width, upsample, extra_convs=extra_convs,
                                        extra_conv_at=tuple(extra_conv_at or ()))
        self.discriminator = DCGANDiscriminator(image_size, channels, disc_width, norm=disc_norm)
        init_dcgan_weights(self)

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        check_shape("dcgan latent z", z, (None, self.latent_dim))
        self.check_labels(labels, z.shape[0])  # raises: DCGAN takes no labels
        return self.generator(z)  # (B, C, H, W)

    def discriminate(self, x: torch.Tensor, labels: torch.Tensor | None = None, return_aux: bool = False):
        if return_aux:
            raise ValueError("dcgan has no auxiliary head; return_aux is for acgan and infogan")
        self.check_labels(labels, x.shape[0])
        return self.discriminator(x)[:, 0]  # (B,)


class ForeignDCGAN(GenerativeModel):
    """A classic DCGAN generator at a size studio's DCGAN does not build; generator only, for sampling."""

    family = "foreign_dcgan"
    task = "unconditional"

    def __init__(self, *, latent_dim: int = 100, image_size: int = 256, channels: int = 3, width: int = 64):
        super().__init__()
        self.latent_dim, self.image_size, self.channels = latent_dim, image_size, channels
        self.generator = DCGANGenerator(latent_dim, image_size, channels, width)
        self.discriminator = None  # the foreign file holds no discriminator

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        check_shape("dcgan latent z", z, (None, self.latent_dim))
        self.check_labels(labels, z.shape[0])
        return self.generator(z)  # (B, C, H, W)
