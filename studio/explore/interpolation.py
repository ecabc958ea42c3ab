"""Latent interpolation: candidate seeds to pick end points from, and walks through their latents.

Latent walks follow White, "Sampling Generative Networks" (2016, arXiv:1609.04468): in high
dimensions a Gaussian's mass sits on a shell of radius sqrt(d), and slerp keeps the path on that
shell where lerp cuts through the low-norm interior.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from studio.explore import latent
from studio.explore.sampling import _generate, _labels, _to_images, seed_latents

METHODS = ("slerp", "lerp")


@torch.no_grad()
def candidates(model, seeds: Sequence[int], label: int | None = None) -> np.ndarray:
    """One image per seed, to pick walk end points from (class ``label``, default 0, if conditional).

    Returns (N, H, W, C) uint8.
    """
    z = seed_latents(model, seeds)
    labels = _labels(model, 0 if label is None else label, len(seeds), 0)
    return _to_images(_generate(model, z, labels))


@dataclass(frozen=True)
class Walk:
    frames: np.ndarray  # (F, H, W, C) uint8
    norms: dict[str, list[float]]  # |z_t| along the path for "lerp" and "slerp", for the chart
    note: str | None = None  # what the user should know about how the walk was made


@torch.no_grad()
def walk(
    model,
    seeds: Sequence[int],
    *,
    frames: int,
    method: str = "slerp",
    classes: Sequence[int] | None = None,
) -> Walk:
    """Images along a path through the seeds' latents (and, if conditional, their classes)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if len(seeds) < 2:
        raise ValueError("a walk needs at least two seeds")
    points = seed_latents(model, seeds)  # (K, latent_dim)
    z = latent.path(points, frames, method)  # (F, latent_dim)
    norms = {m: latent.path(points, frames, m).norm(dim=1).tolist() for m in METHODS}
    if not model.num_classes:
        return Walk(_to_images(_generate(model, z, None)), norms)
    if classes is None or len(classes) != len(seeds):
        raise ValueError(f"a conditional model needs one class per seed ({len(seeds)}), got {classes}")
    soft = latent.interpolate_labels(classes, model.num_classes, frames).to(z)  # (F, num_classes)
    try:
        return Walk(_to_images(_generate(model, z, soft)), norms)
    except ValueError:
        # The family takes integer classes only (its label check refuses (F, K) floats): blend z
        # and switch the class halfway instead. A genuine input error raises again below.
        hard = soft.argmax(dim=1)  # (F,)
        note = (f"{model.family} takes whole classes only, so the class switches halfway between "
                "key points while z moves smoothly.")
        return Walk(_to_images(_generate(model, z, hard)), norms, note)
