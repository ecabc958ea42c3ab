"""pix2pix: "Image-to-Image Translation with Conditional Adversarial Networks" (Isola et al., CVPR 2017).

A U-Net generator with skip connections and a PatchGAN discriminator that judges N x N patches.

Weight-compatible with the reference implementation, junyanz/pytorch-CycleGAN-and-pix2pix
(models/networks.py: UnetGenerator, UnetSkipConnectionBlock, NLayerDiscriminator): with ngf 64 and
depth 8 the generator's state dict is key-for-key the published ``unet_256`` ``latest_net_G.pth``
(keys such as ``model.model.1.model.3.model.1.weight`` are positions in the nested Sequentials below,
so the layer order must not change).

A second generator layout, ``generator_arch="community_unet"``, is the Hugging Face community
``GeneratorUNet`` (huggan/pix2pix-maps, from eriklindernoren/PyTorch-GAN): the same idea with other
keys (down1..down8, up1..up7, final), so those checkpoints load too.

Objective (the loss code lives in training/; x input, y target):
    L_cGAN(G, D) = E[log D(x, y)] + E[log(1 - D(x, G(x)))]     (D sees input and output concatenated)
    L_L1(G)      = E[ ||y - G(x)||_1 ]
    G* = arg min_G max_D  L_cGAN(G, D) + lambda * L_L1(G),   lambda = 100
"""

from __future__ import annotations

import math

import torch
from torch import nn

from studio.models.base import StudioModel, check_positive, check_shape

NORMS = ("batch", "instance")


def norm_layer(kind: str, channels: int) -> nn.Module:
    """The reference's norm choices: BatchNorm, or InstanceNorm without affine or running stats."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    raise ValueError(f"norm must be one of {NORMS}, got {kind!r}")


def init_weights(module: nn.Module, gain: float = 0.02) -> None:
    """The reference 'normal' init: conv weights ~ N(0, 0.02), BatchNorm weights ~ N(1, 0.02), biases 0."""
    if any(p.is_meta for p in module.parameters()):
        return  # built on the meta device for its shapes only (studio.checkpoints.interop): nothing to draw
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)


class UnetSkipBlock(nn.Module):
    """One U-Net level: down -> inner levels -> up, then the block's input is concatenated (the skip).

    Index layout (as the reference; the state-dict keys depend on it):
      outermost: [downconv, submodule, relu, upconv, tanh]
      outermost feeding a head: [downconv, submodule, relu, upconv, upnorm, relu]
      innermost: [lrelu, downconv, relu, upconv, upnorm]
      middle:    [lrelu, downconv, downnorm, submodule, relu, upconv, upnorm, (dropout)]
    """

    def __init__(self, outer: int, inner: int, *, input_channels: int | None = None,
                 submodule: nn.Module | None = None, outermost: bool = False, innermost: bool = False,
                 norm: str = "batch", dropout: bool = False, head: bool = False):
        super().__init__()
        self.outermost = outermost
        use_bias = norm == "instance"  # a conv followed by BatchNorm needs no bias
        input_channels = outer if input_channels is None else input_channels
        downconv = nn.Conv2d(input_channels, inner, kernel_size=4, stride=2, padding=1, bias=use_bias)
        if outermost and head:  # the transposed conv makes features for the full-resolution head
            upconv = nn.ConvTranspose2d(inner * 2, outer, kernel_size=4, stride=2, padding=1, bias=use_bias)
            layers = [downconv, submodule, nn.ReLU(True), upconv, norm_layer(norm, outer), nn.ReLU(True)]
        elif outermost:
            upconv = nn.ConvTranspose2d(inner * 2, outer, kernel_size=4, stride=2, padding=1)
            layers = [downconv, submodule, nn.ReLU(True), upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner, outer, kernel_size=4, stride=2, padding=1, bias=use_bias)
            layers = [nn.LeakyReLU(0.2, True), downconv, nn.ReLU(True), upconv, norm_layer(norm, outer)]
        else:
            upconv = nn.ConvTranspose2d(inner * 2, outer, kernel_size=4, stride=2, padding=1, bias=use_bias)
            layers = [nn.LeakyReLU(0.2, True), downconv, norm_layer(norm, inner), submodule,
                      nn.ReLU(True), upconv, norm_layer(norm, outer)]
            if dropout:  # pix2pix's noise: dropout at train and test time in the paper, off in eval here
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)  # (B, outer + outer, H, W)


class UnetGenerator(nn.Module):
    """U-Net of ``depth`` levels: a (B, C, H, W) image goes down to (B, 8 ngf, H / 2^depth, W / 2^depth).

    In the reference (``head=0``) the finest level works at H/2: the first conv has stride 2 and
    the output comes from one transposed conv, so each output pixel is a linear function of a
    2x2 neighbourhood of half-resolution features. ``head=w`` adds a full-resolution head: that
    transposed conv makes ``w`` feature maps, the input image is concatenated to them (a skip at
    full resolution) and two 3x3 convs make the output, so the output can follow the input's
    1-pixel detail (the 1-pixel road outlines of a map tile). The price is arithmetic at full
    resolution: with ngf 32 and head 32 it takes a 128-px tile from 354 M to 655 M multiply-adds.
    """

    def __init__(self, in_channels: int, out_channels: int, depth: int = 8, ngf: int = 64,
                 norm: str = "batch", dropout: bool = True, head: int = 0):
        super().__init__()
        if depth < 5:
            raise ValueError(f"the U-Net generator needs depth >= 5 (ngf..8 ngf levels), got {depth}")
        if isinstance(head, bool) or not isinstance(head, int) or head < 0:
            raise ValueError(f"head must be 0 (none) or a positive width, got {head!r}")
        block = UnetSkipBlock(ngf * 8, ngf * 8, innermost=True, norm=norm)
        for _ in range(depth - 5):  # the 8 ngf levels nearest the bottleneck carry the dropout
            block = UnetSkipBlock(ngf * 8, ngf * 8, submodule=block, norm=norm, dropout=dropout)
        block = UnetSkipBlock(ngf * 4, ngf * 8, submodule=block, norm=norm)
        block = UnetSkipBlock(ngf * 2, ngf * 4, submodule=block, norm=norm)
        block = UnetSkipBlock(ngf, ngf * 2, submodule=block, norm=norm)
        self.model = UnetSkipBlock(head or out_channels, ngf, input_channels=in_channels, submodule=block,
                                   outermost=True, norm=norm, head=head > 0)
        self.head = None
        if head:
            use_bias = norm == "instance"
            self.head = nn.Sequential(
                nn.Conv2d(head + in_channels, head, kernel_size=3, padding=1, bias=use_bias),
                norm_layer(norm, head), nn.ReLU(True),
                nn.Conv2d(head, out_channels, kernel_size=3, padding=1), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.head is None:
            return self.model(x)  # (B, out_channels, H, W) in [-1, 1]
        return self.head(torch.cat([self.model(x), x], 1))  # (B, head + C, H, W) -> (B, out_channels, H, W)


class PatchDiscriminator(nn.Module):
    """PatchGAN: a fully convolutional classifier giving one logit per overlapping patch.

    n_layers 3 gives the paper's 70x70 patches (see ``receptive_field``). Keys match the
    reference NLayerDiscriminator (``model.0.weight`` ...).
    """

    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 3, norm: str = "batch"):
        super().__init__()
        use_bias = norm == "instance"
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            stride = 2 if n < n_layers else 1  # the last hidden conv keeps the resolution
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=stride, padding=1, bias=use_bias),
                       norm_layer(norm, ndf * mult), nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)
        self.n_layers = n_layers

    @property
    def receptive_field(self) -> int:
        """Side of the input patch that one output logit sees (70 for n_layers 3)."""
        size = 1
        for stride in reversed([2] * self.n_layers + [1, 1]):  # every conv has kernel 4
            size = (size - 1) * stride + 4
        return size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)  # (B, 1, h, w) raw patch logits


class _CommunityDown(nn.Module):
    def __init__(self, cin: int, cout: int, normalize: bool = True, dropout: bool = False):
        super().__init__()
        layers = [nn.Conv2d(cin, cout, 4, 2, 1, bias=False)]
        if normalize:
            layers.append(nn.InstanceNorm2d(cout))
        layers.append(nn.LeakyReLU(0.2))
        if dropout:
            layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class _CommunityUp(nn.Module):
    def __init__(self, cin: int, cout: int, dropout: bool = False):
        super().__init__()
        layers = [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.InstanceNorm2d(cout), nn.ReLU(True)]
        if dropout:
            layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.model(x), skip], 1)


class CommunityUnetGenerator(nn.Module):
    """The Hugging Face community pix2pix ``GeneratorUNet``: 8 downs, 7 ups, nearest upsample + conv out."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64):
        super().__init__()
        w = [ngf, ngf * 2, ngf * 4] + [ngf * 8] * 5
        self.down1 = _CommunityDown(in_channels, w[0], normalize=False)
        self.down2, self.down3 = _CommunityDown(w[0], w[1]), _CommunityDown(w[1], w[2])
        self.down4 = _CommunityDown(w[2], w[3], dropout=True)
        self.down5, self.down6 = _CommunityDown(w[3], w[4], dropout=True), _CommunityDown(w[4], w[5], dropout=True)
        self.down7 = _CommunityDown(w[5], w[6], dropout=True)
        self.down8 = _CommunityDown(w[6], w[7], normalize=False, dropout=True)  # 1x1: nothing to normalise
        self.up1 = _CommunityUp(w[7], w[6], dropout=True)
        self.up2, self.up3 = _CommunityUp(2 * w[6], w[5], dropout=True), _CommunityUp(2 * w[5], w[4], dropout=True)
        self.up4 = _CommunityUp(2 * w[4], w[3], dropout=True)
        self.up5, self.up6 = _CommunityUp(2 * w[3], w[2]), _CommunityUp(2 * w[2], w[1])
        self.up7 = _CommunityUp(2 * w[1], w[0])
        self.final = nn.Sequential(nn.Upsample(scale_factor=2), nn.ZeroPad2d((1, 0, 1, 0)),
                                   nn.Conv2d(2 * w[0], out_channels, 4, padding=1), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for down in (self.down1, self.down2, self.down3, self.down4, self.down5, self.down6, self.down7):
            x = down(x)
            skips.append(x)
        x = self.down8(x)  # (B, 8 ngf, H / 256, W / 256)
        for up, skip in zip((self.up1, self.up2, self.up3, self.up4, self.up5, self.up6, self.up7), reversed(skips)):
            x = up(x, skip)
        return self.final(x)  # (B, out_channels, H, W) in [-1, 1]


GENERATOR_ARCHS = ("unet", "community_unet")


class Pix2Pix(StudioModel):
    """Paired translation x -> y: ``translate(x)``; ``discriminate(x, y)`` gives patch logits."""

    family = "pix2pix"
    task = "translation"

    def __init__(self, *, in_channels: int = 3, out_channels: int = 3, image_size: int = 256,
                 ngf: int = 64, ndf: int = 64, depth: int | None = None, norm: str = "batch",
                 n_layers: int = 3, dropout: bool = True, generator_arch: str = "unet", head: int = 0):
        super().__init__()
        check_positive(self.family, in_channels=in_channels, out_channels=out_channels, image_size=image_size,
                       ngf=ngf, ndf=ndf, n_layers=n_layers)
        depth = int(math.log2(image_size)) if depth is None else depth  # 8 for 256: bottleneck 1x1
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        if image_size % 2 ** depth:
            raise ValueError(f"image_size {image_size} must be divisible by 2**depth = {2 ** depth}")
        if generator_arch == "unet":
            self.generator = UnetGenerator(in_channels, out_channels, depth, ngf, norm, dropout, head)
        elif generator_arch == "community_unet":
            if depth != 8 or norm != "instance" or head:
                raise ValueError("the community GeneratorUNet has depth 8, instance norm and no head")
            self.generator = CommunityUnetGenerator(in_channels, out_channels, ngf)
        else:
            raise ValueError(f"generator_arch must be one of {GENERATOR_ARCHS}, got {generator_arch!r}")
        # D judges (input, output) pairs: the condition is concatenated on the channels
        self.discriminator = PatchDiscriminator(in_channels + out_channels, ndf, n_layers, norm)
        init_weights(self)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.channels = in_channels  # what the UI converts uploads to and the model card shows
        self.image_size, self.depth = image_size, depth

    def _check_input(self, name: str, x: torch.Tensor, channels: int) -> None:
        check_shape(name, x, (None, channels, None, None))
        if x.shape[-1] % 2 ** self.depth or x.shape[-2] % 2 ** self.depth:
            raise ValueError(f"{name}: height and width must be multiples of {2 ** self.depth}, "
                             f"got {tuple(x.shape[-2:])}")

    def translate(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_channels, H, W) in [-1, 1] -> (B, out_channels, H, W) in [-1, 1]."""
        self._check_input("pix2pix input", x, self.in_channels)
        return self.generator(x)

    def discriminate(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Patch logits (B, 1, h, w) for the pair (x, y): is y the real translation of x?"""
        self._check_input("pix2pix input", x, self.in_channels)
        check_shape("pix2pix output", y, (x.shape[0], self.out_channels, x.shape[2], x.shape[3]))
        return self.discriminator(torch.cat([x, y], 1))  # (B, in + out, H, W) -> (B, 1, h, w)
