"""A multi-label attribute classifier: the digit classifier's CNN with one sigmoid output per attribute
(binary relevance, as CelebA attribute classifiers are usually trained; Liu et al. 2015, "Deep Learning
Face Attributes in the Wild").

It judges the faces GAN (which attributes each sample shows), guides feature edits by its gradient
(the course's classifier-guided editing, Course 1 week 4) and is the judge of the bias audit.

Layout: exactly ``DigitClassifier`` (two conv blocks, a 4w embedding), K logits, one per attribute.
Loss: binary cross-entropy on each logit,
    minimize  - sum_k [ y_k log sigmoid(l_k) + (1 - y_k) log(1 - sigmoid(l_k)) ]
"""

from __future__ import annotations

import torch

from studio.models.classifier import DigitClassifier


class AttributeClassifier(DigitClassifier):
    """Images (B, C, S, S) in [-1, 1] -> attribute logits (B, K); ``num_classes`` is K, the attributes."""

    family = "attributes"
    task = "classifier"
    multilabel = True

    def __init__(self, *, num_classes: int = 5, channels: int = 3, image_size: int = 32, width: int = 32):
        super().__init__(num_classes=num_classes, channels=channels, image_size=image_size, width=width)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Which attributes each image shows: (B, K) bool (probability above 1/2)."""
        return self(x) > 0
