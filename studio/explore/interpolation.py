"""Latent interpolation: candidate seeds to pick end points from, and walks through their latents.

Latent walks follow White, "Sampling Generative Networks" (2016, arXiv:1609.04468): in high
dimensions a Gaussian's mass sits on a shell of radius sqrt(d), and slerp keeps the path on that
shell where lerp cuts through the low-norm interior.

A StyleGAN can also be walked in W, the mapping network's output (Karras et al. 2019, section 4.2:
perceptual path length is measured along lerp in W): w is not Gaussian, so there the path is a
straight line between the seeds' w (``space="w"``), drawn with the model's constant noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from studio.explore import latent
from studio.explore.sampling import _generate, _labels, _to_images, seed_latents

METHODS = ("slerp", "lerp")
SPACES = ("z", "w")


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
    space: str = "z",
) -> Walk:
    """Images along a path through the seeds' latents (and, if conditional, their classes).

    ``space="w"`` (StyleGANs only): lerp between the seeds' w = mapping(z) instead; ``method``
    then applies to nothing but the |z| chart, and the note says so."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if space not in SPACES:
        raise ValueError(f"space must be one of {SPACES}, got {space!r}")
    if len(seeds) < 2:
        raise ValueError("a walk needs at least two seeds")
    points = seed_latents(model, seeds)  # (K, latent_dim)
    z = latent.path(points, frames, method)  # (F, latent_dim)
    norms = {m: latent.path(points, frames, m).norm(dim=1).tolist() for m in METHODS}
    if space == "w":
        return _walk_w(model, points, frames, norms)
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


def _walk_w(model, points: torch.Tensor, frames: int, norms: dict[str, list[float]]) -> Walk:
    """lerp in W between the key points' w; each key frame is exactly that seed's image."""
    from studio.explore.mixing import is_stylegan

    if not is_stylegan(model):
        raise ValueError(f"a walk in W needs a StyleGAN; the loaded model is a {getattr(model, 'family', '?')} model")
    ws = model.mapping(points.to(model.device))  # (K, num_ws, w_dim); every layer holds the same w
    path = latent.path(ws[:, 0], frames, "lerp")  # (F, w_dim)
    x = model.synthesis(path[:, None, :].repeat(1, model.num_ws, 1), noise_mode="const")  # (F, C, r, r)
    if x.shape[-1] != model.image_size:  # a model still growing draws at its stage, as generate() does
        x = torch.nn.functional.interpolate(x, size=model.image_size, mode="nearest")
    return Walk(_to_images(x), norms, "lerp in W (the mapping network's output), constant noise; "
                "the |z| chart shows the z path for comparison")
