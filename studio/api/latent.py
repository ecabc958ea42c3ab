"""Endpoints over a generator's latent space: sample grids, interpolation videos, truncation."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from studio import explore, imaging
from studio.api.common import (
    DEFAULT_MODEL,
    MAX_FPS,
    MAX_FRAMES,
    MAX_SAMPLES,
    MAX_SEED,
    check_int,
    check_truncation,
    latent_model,
    parse_seeds,
)
from studio.errors import DataError


def grid_rows(n: int) -> int:
    return math.ceil(math.sqrt(n))


def generate(model: str | None = DEFAULT_MODEL, seed=0, n=16, truncation=0, label=None) -> np.ndarray:
    """/generate: ``n`` samples from ``seed`` (z truncated at ``truncation``, 0 = none) as one grid."""
    _, loaded = latent_model(model)
    seed = check_int("seed", seed, 0, MAX_SEED)
    n = check_int("n", n, 1, MAX_SAMPLES)
    threshold = check_truncation(truncation)
    label = _label(loaded.model, label)
    return imaging.grid(explore.truncated(loaded.model, threshold, n=n, seed=seed, label=label), nrow=grid_rows(n))


def _label(model, label) -> int | None:
    if label in (None, "", -1) or not model.num_classes:
        return None
    return check_int("class", label, 0, model.num_classes - 1)


@dataclass(frozen=True)
class Interpolation:
    strip: np.ndarray  # (H, W, C) uint8: the frames side by side
    frames: np.ndarray  # (F, H, W, C) uint8
    gif: bytes
    mp4: bytes
    note: str


def interpolate(model: str | None = DEFAULT_MODEL, seeds="0, 1, 2", frames=16, method="slerp", fps=8,
                space="z") -> Interpolation:
    """/interpolate: the walk through the seeds' latents, as a strip, a GIF and an MP4 (the page's three).
    ``space="w"`` (StyleGANs): lerp between the seeds' w instead of walking z."""
    _, loaded = latent_model(model)
    seeds = parse_seeds(seeds)
    frames = max(check_int("frames", frames, 2, MAX_FRAMES), len(seeds))
    fps = check_int("fps", fps, 1, MAX_FPS)
    if method not in explore.METHODS:
        raise DataError(f"method must be one of {', '.join(explore.METHODS)}, got {method!r}")
    if space not in explore.SPACES:
        raise DataError(f"space must be one of {', '.join(explore.SPACES)}, got {space!r}")
    if space == "w" and not explore.mixing.is_stylegan(loaded.model):
        raise DataError(f"space='w' needs a StyleGAN; {loaded.model.family} models walk in z only")
    classes = [i % loaded.model.num_classes for i in range(len(seeds))] if loaded.model.num_classes else None
    walk = explore.walk(loaded.model, seeds, frames=frames, method=method, classes=classes, space=space)
    strip = imaging.grid(walk.frames, nrow=min(frames, 16))
    movie = imaging.upscale(walk.frames, max(1, 256 // walk.frames.shape[2]))  # crisp pixels, as on the page
    how = "lerp in W" if space == "w" else method
    note = f"{frames} frames, {how}, seeds {', '.join(map(str, seeds))}" + (f". {walk.note}" if walk.note else "")
    return Interpolation(strip, walk.frames, imaging.gif_bytes(movie, fps=fps), imaging.mp4_bytes(movie, fps=fps), note)


@dataclass(frozen=True)
class Truncation:
    grid: np.ndarray  # 16 samples at the threshold
    diversity: float
    sweep: np.ndarray  # the same seed at explore.SWEEP_THRESHOLDS, grids side by side
    chart: object  # plotly figure: diversity and D score against the threshold


def truncate(model: str | None = DEFAULT_MODEL, seed=0, threshold=0.7, n=16) -> Truncation:
    """/truncate: samples at ``threshold``, their diversity, and the side-by-side sweep (the page's)."""
    from studio import charts

    _, loaded = latent_model(model)
    seed = check_int("seed", seed, 0, MAX_SEED)
    n = check_int("n", n, 2, MAX_SAMPLES)
    threshold = check_truncation(threshold)
    images = explore.truncated(loaded.model, threshold, n=n, seed=seed)
    sweep = explore.truncation_sweep(loaded.model, n=n, seed=seed)
    columns = [imaging.grid(c.images, nrow=grid_rows(n)) for c in sweep]
    chart = charts.truncation_chart([c.threshold for c in sweep], [c.diversity for c in sweep], [c.score for c in sweep])
    return Truncation(imaging.grid(images, nrow=grid_rows(n)), explore.mean_pairwise_distance(images),
                      imaging.grid(np.stack(columns), nrow=len(columns), padding=8, pad_value=255), chart)
