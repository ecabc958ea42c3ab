"""U-Net: "Convolutional Networks for Biomedical Image Segmentation" (Ronneberger, Fischer, Brox, MICCAI 2015).

The segmentation network behind pix2pix's generator (course 3, week 2). A contracting path of
double 3x3 convolutions and 2x2 max-pools doubles the channels at each level; an expanding path of
2x2 up-convolutions halves them, concatenating the contracting path's features of the same size
(the skip connections) before each double conv; a 1x1 conv gives per-pixel class logits.

Differences from the paper, on purpose: the 3x3 convs are padded, so the mask has the input's size
(the paper crops 572 -> 388), and BatchNorm follows each conv by default (``norm="none"`` gives the
paper's plain conv-ReLU). Only the norm choice is shared with pix2pix.py: its U-Net blocks (4x4
stride-2 convs, LeakyReLU, tanh output) are a different network, not the same blocks.

Objective (the loss code lives in training/): per-pixel cross-entropy
    L = -1/(H W) sum_{h,w} log softmax(logits)[y_{h,w}]
(binary cross-entropy on the single logit when num_classes is 1).
"""

from __future__ import annotations

import torch
from torch import nn

from studio.models.base import StudioModel, check_positive, check_shape
from studio.models.pix2pix import norm_layer

NORMS = ("batch", "instance", "none")


class DoubleConv(nn.Module):
    """(conv3x3 -> norm -> ReLU) x 2, size preserving."""

    def __init__(self, cin: int, cout: int, norm: str = "batch"):
        super().__init__()
        layers: list[nn.Module] = []
        for c in (cin, cout):
            layers.append(nn.Conv2d(c, cout, 3, padding=1, bias=norm == "none"))
            if norm != "none":
                layers.append(norm_layer(norm, cout))
            layers.append(nn.ReLU(inplace=True))
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class Down(nn.Module):
    """2x2 max-pool then a double conv: (B, C, H, W) -> (B, 2C, H/2, W/2)."""

    def __init__(self, cin: int, cout: int, norm: str):
        super().__init__()
        self.pool = nn.MaxPool2d(2)
        self.conv = DoubleConv(cin, cout, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pool(x))


class Up(nn.Module):
    """2x2 up-conv, concatenate the skip, double conv: (B, C, H, W) + (B, C/2, 2H, 2W) -> (B, C/2, 2H, 2W)."""

    def __init__(self, cin: int, cout: int, norm: str):
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cout, 2, stride=2)
        self.conv = DoubleConv(2 * cout, cout, norm)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([skip, self.up(x)], 1))


class UNet(StudioModel):
    """Semantic segmentation: ``forward(x)`` gives (B, K, H, W) logits, ``segment(x)`` the (B, H, W) classes."""

    family = "unet"
    task = "segmentation"

    def __init__(self, *, in_channels: int = 3, num_classes: int = 2, width: int = 64, depth: int = 4,
                 image_size: int = 256, norm: str = "batch"):
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        check_positive(self.family, in_channels=in_channels, num_classes=num_classes, width=width, depth=depth,
                       image_size=image_size)
        if image_size % 2 ** depth:
            raise ValueError(f"image_size {image_size} must be divisible by 2**depth = {2 ** depth}")
        widths = [width * 2 ** i for i in range(depth + 1)]  # 64, 128, 256, 512, 1024 in the paper
        self.stem = DoubleConv(in_channels, widths[0], norm)
        self.downs = nn.ModuleList(Down(widths[i], widths[i + 1], norm) for i in range(depth))
        self.ups = nn.ModuleList(Up(widths[i + 1], widths[i], norm) for i in reversed(range(depth)))
        self.head = nn.Conv2d(widths[0], num_classes, 1)
        self.in_channels, self.num_classes, self.depth, self.image_size = in_channels, num_classes, depth, image_size
        self.channels = in_channels  # what the UI converts uploads to and the model card shows

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_shape("unet input", x, (None, self.in_channels, None, None))
        if x.shape[-1] % 2 ** self.depth or x.shape[-2] % 2 ** self.depth:
            raise ValueError(f"unet input: height and width must be multiples of {2 ** self.depth}, "
                             f"got {tuple(x.shape[-2:])}")
        x = self.stem(x)  # (B, width, H, W)
        skips = [x]
        for down in self.downs:
            x = down(x)
            skips.append(x)  # the last one is the bottleneck: (B, width 2^depth, H / 2^depth, W / 2^depth)
        for up, skip in zip(self.ups, reversed(skips[:-1])):
            x = up(x, skip)
        return self.head(x)  # (B, num_classes, H, W) logits

    @torch.no_grad()
    def segment(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) images in [-1, 1] -> (B, H, W) long class ids."""
        logits = self(x)
        if self.num_classes == 1:
            return (logits[:, 0] > 0).long()
        return logits.argmax(1)
