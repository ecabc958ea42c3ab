"""CycleGAN: "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks"
(Zhu, Park, Isola, Efros, ICCV 2017).

Two generators G_ab: A -> B and G_ba: B -> A (ResNet encoder / residual blocks / decoder, Johnson et al.
2016) and two PatchGAN discriminators (shared with pix2pix).

Weight-compatible with the reference implementation, junyanz/pytorch-CycleGAN-and-pix2pix
(models/networks.py: ResnetGenerator, ResnetBlock): with ngf 64 and 9 blocks the generator's state dict
is key-for-key the published ``resnet_9blocks`` ``latest_net_G.pth`` (horse2zebra, ...).
A second layout, ``generator_arch="community_resnet"``, is the Hugging Face community
``GeneratorResNet`` (eriklindernoren/PyTorch-GAN): same parameter count, other keys, and an
upsample + conv decoder instead of transposed convs.

Objective (the loss code lives in training/; LSGAN, Mao et al. 2017, replaces the log loss):
    L_GAN(G_ab, D_b) = E[(D_b(b) - 1)^2] + E[D_b(G_ab(a))^2]          (D side; G minimises E[(D_b(G_ab(a)) - 1)^2])
    L_cyc            = E[ ||G_ba(G_ab(a)) - a||_1 ] + E[ ||G_ab(G_ba(b)) - b||_1 ]
    L_idt            = E[ ||G_ab(b) - b||_1 ] + E[ ||G_ba(a) - a||_1 ]
    L = L_GAN(G_ab, D_b) + L_GAN(G_ba, D_a) + lambda_cyc * L_cyc + lambda_idt * lambda_cyc * L_idt,
        lambda_cyc = 10, lambda_idt = 0.5
    D is updated on a history of 50 generated images (``ImagePool``), not only the latest ones,
    which damps oscillation (Shrivastava et al. 2017).
"""

from __future__ import annotations

import random

import torch
from torch import nn

from studio.models.base import StudioModel, check_positive, check_shape
from studio.models.pix2pix import NORMS, PatchDiscriminator, init_weights, norm_layer


class ResnetBlock(nn.Module):
    """x + F(x), F = pad-conv-norm-relu-(dropout)-pad-conv-norm; reflect padding avoids border artefacts.

    Without dropout the second conv sits at ``conv_block.5``, with it at ``conv_block.6`` (as the reference).
    """

    def __init__(self, dim: int, norm: str = "instance", dropout: bool = False):
        super().__init__()
        use_bias = norm == "instance"
        layers = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=use_bias), norm_layer(norm, dim), nn.ReLU(True)]
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=use_bias), norm_layer(norm, dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """c7s1-ngf, two stride-2 downsamplings, ``n_blocks`` residual blocks at 4 ngf, two upsamplings, c7s1-out."""

    def __init__(self, in_channels: int, out_channels: int, ngf: int = 64, n_blocks: int = 9,
                 norm: str = "instance", dropout: bool = False):
        super().__init__()
        use_bias = norm == "instance"
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7, bias=use_bias),
                                   norm_layer(norm, ngf), nn.ReLU(True)]
        for mult in (1, 2):
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=use_bias),
                       norm_layer(norm, ngf * mult * 2), nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4, norm, dropout) for _ in range(n_blocks)]  # (B, 4 ngf, H/4, W/4)
        for mult in (4, 2):
            layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1,
                                          bias=use_bias),
                       norm_layer(norm, ngf * mult // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)  # (B, out_channels, H, W) in [-1, 1]


class _CommunityResidualBlock(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.block = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim), nn.ReLU(True),
                                   nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class CommunityResnetGenerator(nn.Module):
    """The Hugging Face community CycleGAN ``GeneratorResNet``: nearest upsample + conv in the decoder."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64, n_blocks: int = 9):
        super().__init__()
        # The original pads by ReflectionPad2d(channels): 3 for the RGB models it was trained on, which
        # is what a 7x7 conv needs to keep the size; we pad by 3 for every channel count.
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7), nn.InstanceNorm2d(ngf),
                                   nn.ReLU(True)]
        for mult in (1, 2):
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1),
                       nn.InstanceNorm2d(ngf * mult * 2), nn.ReLU(True)]
        layers += [_CommunityResidualBlock(ngf * 4) for _ in range(n_blocks)]  # (B, 4 ngf, H/4, W/4)
        for mult in (4, 2):
            layers += [nn.Upsample(scale_factor=2), nn.Conv2d(ngf * mult, ngf * mult // 2, 3, padding=1),
                       nn.InstanceNorm2d(ngf * mult // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)  # (B, out_channels, H, W) in [-1, 1]


class ImagePool:
    """A history of generated images for the discriminator update (Shrivastava et al. 2017).

    Until the pool is full every image goes in and comes back out. After that each image, with
    probability 1/2, is swapped with a random stored one (the old one is returned); otherwise it is
    returned as is. ``size`` 0 disables the pool.
    """

    def __init__(self, size: int = 50, seed: int | None = None):
        if size < 0:
            raise ValueError(f"ImagePool size must be >= 0, got {size}")
        self.size = size
        self.images: list[torch.Tensor] = []
        self._rng = random.Random(seed)

    def __len__(self) -> int:
        return len(self.images)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) fresh fakes -> (B, C, H, W) a mix of fresh and historical fakes, detached."""
        images = images.detach()
        if self.size == 0:
            return images
        out = []
        for image in images:
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif self._rng.random() < 0.5:
                index = self._rng.randrange(self.size)
                out.append(self.images[index])
                self.images[index] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)


GENERATOR_ARCHS = ("resnet", "community_resnet")
DIRECTIONS = ("a2b", "b2a")


class CycleGAN(StudioModel):
    """Unpaired translation between domain A (``in_channels``) and domain B (``out_channels``)."""

    family = "cyclegan"
    task = "translation"

    def __init__(self, *, in_channels: int = 3, out_channels: int = 3, image_size: int = 256,
                 ngf: int = 64, ndf: int = 64, n_blocks: int = 9, norm: str = "instance",
                 n_layers: int = 3, dropout: bool = False, generator_arch: str = "resnet"):
        super().__init__()
        # the paper uses 6 residual blocks for 128 px images, 9 for 256 px
        check_positive(self.family, in_channels=in_channels, out_channels=out_channels, image_size=image_size,
                       ngf=ngf, ndf=ndf, n_blocks=n_blocks, n_layers=n_layers)
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        if image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4 (two stride-2 stages), got {image_size}")
        if generator_arch == "resnet":
            self.generator_ab = ResnetGenerator(in_channels, out_channels, ngf, n_blocks, norm, dropout)
            self.generator_ba = ResnetGenerator(out_channels, in_channels, ngf, n_blocks, norm, dropout)
        elif generator_arch == "community_resnet":
            if norm != "instance" or dropout:
                raise ValueError("the community GeneratorResNet has instance norm and no dropout")
            self.generator_ab = CommunityResnetGenerator(in_channels, out_channels, ngf, n_blocks)
            self.generator_ba = CommunityResnetGenerator(out_channels, in_channels, ngf, n_blocks)
        else:
            raise ValueError(f"generator_arch must be one of {GENERATOR_ARCHS}, got {generator_arch!r}")
        self.discriminator_a = PatchDiscriminator(in_channels, ndf, n_layers, norm)  # real A vs G_ba(b)
        self.discriminator_b = PatchDiscriminator(out_channels, ndf, n_layers, norm)  # real B vs G_ab(a)
        init_weights(self)
        self.in_channels, self.out_channels, self.image_size = in_channels, out_channels, image_size
        self.channels = in_channels  # domain A: what the UI converts uploads to and the model card shows

    def translate(self, x: torch.Tensor, direction: str = "a2b") -> torch.Tensor:
        """(B, C_a, H, W) -> (B, C_b, H, W) for "a2b" (the other way for "b2a"); images in [-1, 1]."""
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
        channels = self.in_channels if direction == "a2b" else self.out_channels
        check_shape(f"cyclegan {direction} input", x, (None, channels, None, None))
        if x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"cyclegan input: height and width must be multiples of 4, got {tuple(x.shape[-2:])}")
        generator = self.generator_ab if direction == "a2b" else self.generator_ba
        return generator(x)
