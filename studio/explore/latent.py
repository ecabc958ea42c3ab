"""Latent-space maths: interpolation paths and truncated sampling.

Interpolation follows White, "Sampling Generative Networks" (2016, arXiv:1609.04468): a
d-dimensional Gaussian's mass lies near the sphere of radius sqrt(d), and spherical
interpolation (Shoemake 1985) stays near it where a straight line dips toward the origin.

Truncation trades diversity for fidelity in two ways:
- BigGAN (Brock, Donahue & Simonyan 2019, "Large Scale GAN Training for High Fidelity Natural
  Image Synthesis", arXiv:1809.11096): draw z ~ N(0, I) and redraw entries with |z_i| > threshold.
- StyleGAN (Karras, Laine & Aila 2019, "A Style-Based Generator Architecture for Generative
  Adversarial Networks", arXiv:1812.04948): w' = w_mean + psi * (w - w_mean) in the mapped space.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence

import torch
from torch import nn


def _as_weight(t, like: torch.Tensor) -> torch.Tensor:
    """t as a tensor that broadcasts against like[..., :1]: a 1-D t of N values gives N results."""
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    return t.unsqueeze(-1) if t.dim() > 0 and t.shape[-1] != 1 else t


def lerp(a: torch.Tensor, b: torch.Tensor, t) -> torch.Tensor:
    """Linear interpolation (1 - t) a + t b over the last axis; exact at t = 0 and t = 1.

    ``t`` is a float or a tensor of N weights: a, b (D,) with t (N,) give (N, D).
    """
    t = _as_weight(t, a)
    return (1 - t) * a + t * b


def slerp(a: torch.Tensor, b: torch.Tensor, t, eps: float = 1e-4) -> torch.Tensor:
    """Spherical interpolation over the last axis (batched like ``lerp``).

        cos(omega) = <a, b> / (|a| |b|)
        slerp(a, b; t) = sin((1 - t) omega) / sin(omega) * a + sin(t omega) / sin(omega) * b

    Unit vectors stay unit vectors; Gaussian latents keep a norm near sqrt(d). Where
    sin(omega) < eps (nearly parallel or opposite vectors, or a zero vector) the great circle is
    ill-defined and the result is ``lerp``.
    """
    t = _as_weight(t, a)
    a_norm, b_norm = a.norm(dim=-1, keepdim=True), b.norm(dim=-1, keepdim=True)  # (..., 1)
    cos_omega = (a * b).sum(-1, keepdim=True) / (a_norm * b_norm).clamp_min(1e-30)
    omega = torch.acos(cos_omega.clamp(-1.0, 1.0))  # (..., 1)
    sin_omega = torch.sin(omega)
    degenerate = (sin_omega < eps) | (a_norm * b_norm < 1e-12)
    safe = torch.where(degenerate, torch.ones_like(sin_omega), sin_omega)
    spherical = torch.sin((1 - t) * omega) / safe * a + torch.sin(t * omega) / safe * b
    return torch.where(degenerate, lerp(a, b, t), spherical)


METHODS: dict[str, Callable] = {"lerp": lerp, "slerp": slerp}


def path(points: torch.Tensor, frames: int, method: str = "lerp", loop: bool = False) -> torch.Tensor:
    """``frames`` vectors along a piecewise path through K >= 2 key points (K, D) -> (frames, D).

    Every key point is one of the frames, exactly; the frames in between are spread as evenly as
    the count allows over the K - 1 segments (K segments with ``loop=True``, whose path returns
    toward the first point and stops one step short of it, so the frames repeat seamlessly).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {tuple(METHODS)}, got {method!r}")
    if points.dim() != 2 or points.shape[0] < 2:
        raise ValueError(f"points must be (K, D) with K >= 2, got shape {tuple(points.shape)}")
    count = points.shape[0]
    if frames < count:
        raise ValueError(f"{frames} frames cannot pass through {count} key points")
    points = points if points.is_floating_point() else points.float()
    if loop:
        points = torch.cat([points, points[:1]])  # (K + 1, D)
        keys = [round(i * frames / count) for i in range(count + 1)]
    else:
        keys = [round(i * (frames - 1) / (count - 1)) for i in range(count)]
    segment, weight = [], []
    for frame in range(frames):
        i = min(bisect.bisect_right(keys, frame) - 1, len(keys) - 2)  # the segment that holds this frame
        segment.append(i)
        weight.append((frame - keys[i]) / (keys[i + 1] - keys[i]))
    index = torch.tensor(segment, device=points.device)
    t = torch.tensor(weight, dtype=points.dtype, device=points.device)[:, None]  # (frames, 1)
    return METHODS[method](points[index], points[index + 1], t)  # (frames, D)


def interpolate_labels(classes: Sequence[int], num_classes: int, frames: int, loop: bool = False) -> torch.Tensor:
    """Soft class vectors through the one-hots of ``classes`` -> (frames, num_classes).

    Always linear: a blend of one-hots stays a probability vector, the kind of input a
    conditional generator's one-hot slot was trained on.
    """
    for c in classes:
        if not 0 <= int(c) < num_classes:
            raise ValueError(f"class must lie in [0, {num_classes}), got {c}")
    one_hot = nn.functional.one_hot(torch.as_tensor([int(c) for c in classes]), num_classes).float()
    return path(one_hot, frames, "lerp", loop=loop)


def truncated_normal(n: int, dim: int, threshold: float | None, seed: int | None = None) -> torch.Tensor:
    """(n, dim) float32 draws of N(0, 1) with every |z_i| <= threshold (BigGAN's truncation trick).

    Entries outside are redrawn until inside, so entries already inside equal those of
    ``torch.randn(n, dim)`` from the same seed (the same z that ``model.sample_latent(n, seed)``
    draws). ``threshold`` None or inf gives that plain normal. Deterministic for a seed.
    """
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    z = torch.randn(n, dim, generator=generator)
    if threshold is None or math.isinf(threshold):
        return z
    if not threshold > 0:
        raise ValueError(f"threshold must be positive (or None for no truncation), got {threshold}")
    outside = z.abs() > threshold
    while outside.any():
        z[outside] = torch.randn(int(outside.sum()), generator=generator)
        outside = z.abs() > threshold
    return z


def truncate_toward_mean(w: torch.Tensor, w_mean: torch.Tensor, psi: float) -> torch.Tensor:
    """StyleGAN's truncation trick: w' = w_mean + psi (w - w_mean).

    psi = 1 leaves w unchanged, psi = 0 gives the average image, negative psi the "anti" image.
    """
    return w_mean + psi * (w - w_mean)
