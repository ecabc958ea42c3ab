"""The truncation trick: images from z truncated to |z_i| <= threshold, and the diversity they keep.

Truncation follows Brock et al., "Large Scale GAN Training for High Fidelity Natural Image
Synthesis" (BigGAN, 2018, arXiv:1809.11096): lower thresholds trade diversity for typicality.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from studio.explore import latent
from studio.explore.sampling import _generate, _labels, _to_images

# Thresholds of the side-by-side comparison; None is the untruncated N(0, I).
SWEEP_THRESHOLDS = (0.25, 0.5, 1.0, 1.5, 2.0, None)


@torch.no_grad()
def truncated(model, threshold: float | None, *, n: int = 16, seed: int = 0, label: int | None = None):
    """``n`` images from z truncated to |z_i| <= threshold (None: untruncated).  # (n, H, W, C) uint8"""
    return _to_images(_truncated_batch(model, threshold, n, seed, label)[0])


def _truncated_batch(model, threshold, n, seed, label):
    # Untruncated, this is the z of model.sample_latent(n, seed): entries inside the threshold
    # keep their values, so the columns of a sweep differ only where truncation acts.
    z = latent.truncated_normal(n, model.latent_dim, threshold, seed)
    labels = _labels(model, label, n, seed)
    return _generate(model, z, labels), labels


def mean_pairwise_distance(images: np.ndarray) -> float:
    """Diversity: mean RMS pixel distance over all pairs, pixels in [0, 1].  images (N, H, W, C)"""
    flat = torch.from_numpy(np.asarray(images, dtype=np.float32).reshape(len(images), -1) / 255.0)
    if len(flat) < 2:
        return 0.0
    distances = torch.cdist(flat, flat) / flat.shape[1] ** 0.5  # (N, N)
    return float(distances.sum() / (len(flat) * (len(flat) - 1)))


@dataclass(frozen=True)
class SweepColumn:
    threshold: float | None
    images: np.ndarray  # (n, H, W, C) uint8
    diversity: float  # mean pairwise pixel distance
    score: float  # mean discriminator logit / critic score: a rough realism proxy


@torch.no_grad()
def truncation_sweep(
    model,
    thresholds: Sequence[float | None] = SWEEP_THRESHOLDS,
    *,
    n: int = 16,
    seed: int = 0,
    label: int | None = None,
) -> list[SweepColumn]:
    """The same seed at each threshold: lower thresholds trade diversity for typicality."""
    columns = []
    for threshold in thresholds:
        images, labels = _truncated_batch(model, threshold, n, seed, label)
        score = model.discriminate(images, labels) if labels is not None else model.discriminate(images)
        uint8 = _to_images(images)
        columns.append(SweepColumn(threshold, uint8, mean_pairwise_distance(uint8), float(score.mean())))
    return columns
