"""A small CNN digit classifier (LeCun et al. 1998, "Gradient-Based Learning Applied to Document
Recognition", in the modern form: 3x3 convs with BatchNorm (Ioffe & Szegedy 2015), max pooling and
dropout (Srivastava et al. 2014)).

The studio uses it to score generated digits (which class, how confident), to guide latent edits by
its gradient, and as a small feature extractor (``embed``) for digit-specific metrics.

Layout (width w = 32 by default):
  [conv3x3 + BN + ReLU] x2, maxpool   (B, w, S/2, S/2)
  [conv3x3 + BN + ReLU] x2, maxpool   (B, 2w, S/4, S/4)
  flatten, dropout, linear 4w, ReLU   (B, 4w)          <- embed(x)
  dropout, linear K                   (B, K) logits
Loss: cross-entropy on the logits.
"""

from __future__ import annotations

import torch
from torch import nn

from studio.models.base import StudioModel, check_positive, check_shape


def _conv(c_in: int, c_out: int) -> list[nn.Module]:
    # No bias: the BatchNorm right after it subtracts the mean anyway.
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class DigitClassifier(StudioModel):
    """Images (B, C, S, S) in [-1, 1] -> class logits (B, K)."""

    family = "classifier"
    task = "classifier"

    def __init__(self, *, num_classes: int = 10, channels: int = 1, image_size: int = 28, width: int = 32):
        super().__init__()
        check_positive(self.family, num_classes=num_classes, channels=channels, image_size=image_size, width=width)
        if image_size % 4:
            raise ValueError(f"classifier: image_size must be a multiple of 4 (two 2x poolings), got {image_size}")
        if num_classes < 2:
            raise ValueError(f"classifier: num_classes must be at least 2, got {num_classes}")
        self.num_classes, self.channels, self.image_size = num_classes, channels, image_size
        w, s = width, image_size // 4
        self.features = nn.Sequential(
            *_conv(channels, w),
            *_conv(w, w),
            nn.MaxPool2d(2),  # (B, w, S/2, S/2)
            *_conv(w, 2 * w),
            *_conv(2 * w, 2 * w),
            nn.MaxPool2d(2),  # (B, 2w, S/4, S/4)
        )
        self.embedding = nn.Sequential(
            nn.Flatten(),  # (B, 2w * S/4 * S/4)
            nn.Dropout(0.25),
            nn.Linear(2 * w * s * s, 4 * w),
            nn.ReLU(inplace=True),  # (B, 4w)
        )
        self.head = nn.Sequential(nn.Dropout(0.5), nn.Linear(4 * w, num_classes))  # (B, K)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (B, 4 * width): a digit-aware embedding for metrics."""
        check_shape("classifier input", x, (None, self.channels, self.image_size, self.image_size))
        return self.embedding(self.features(x))  # (B, 4w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))  # (B, K)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Most likely class (B,) long. Call ``.eval()`` first (loaders return eval-mode models)."""
        return self(x).argmax(dim=1)
