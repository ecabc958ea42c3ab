"""What the latent pages compute: candidate seeds, latent walks and the truncation trade-off.

Both UIs call these functions and show the numpy images and numbers they return.
Latent walks follow White, "Sampling Generative Networks" (2016, arXiv:1609.04468):
in high dimensions a Gaussian's mass sits on a shell of radius sqrt(d), and slerp keeps
the path on that shell where lerp cuts through the low-norm interior. Truncation follows
Brock et al., "Large Scale GAN Training for High Fidelity Natural Image Synthesis"
(BigGAN, 2018, arXiv:1809.11096).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from studio import imaging, latent

# Tasks whose generator maps a latent vector z (and maybe a class) to an image.
Z_SPACE_TASKS = ("unconditional", "conditional")
METHODS = ("slerp", "lerp")
# Thresholds of the side-by-side comparison; None is the untruncated N(0, I).
SWEEP_THRESHOLDS = (0.25, 0.5, 1.0, 1.5, 2.0, None)


def set_interactive_threads(threads: int | None = None) -> int:
    """Give torch ``threads`` intra-op threads (default: $GAN_STUDIO_THREADS, else 1); returns the count.

    For app servers. On a busy machine, where other processes want the same cores, two OpenMP
    threads wait on each other at every layer: a 16-image DCGAN-64 batch took a median 280 ms
    with 2 threads against 40 ms with 1 on our 2-core machines (load average 4). A server also
    answers several sessions at once, so one thread per request is the better default.
    """
    count = threads or int(os.environ.get("GAN_STUDIO_THREADS", "1"))
    if count < 1:
        raise ValueError(f"threads must be at least 1, got {count}")
    torch.set_num_threads(count)
    return count


def latent_page_problem(model) -> str | None:
    """None when ``model`` can drive a z-space page, else a sentence saying why it cannot."""
    if model is None:
        return "No model is loaded."
    task = getattr(model, "task", "")
    if task not in Z_SPACE_TASKS or not hasattr(model, "latent_dim"):
        return (
            f"The loaded model is a {getattr(model, 'family', '?')} model (task: {task or '?'}): "
            "it has no latent vector z to walk or truncate. Load a GAN such as mnist-dcgan."
        )
    return None


def class_names(model, meta: dict | None = None) -> list[str]:
    """Names of a conditional model's classes (from its checkpoint card, else "0", "1", ...)."""
    count = getattr(model, "num_classes", 0) or 0
    names = list((meta or {}).get("class_names") or [])
    return [str(n) for n in names] if len(names) == count else [str(i) for i in range(count)]


def _to_images(batch: torch.Tensor) -> np.ndarray:
    return imaging.to_uint8(batch)  # (B, H, W, C) uint8


@torch.no_grad()
def samples(model, n: int = 16, seed: int = 0) -> np.ndarray:
    """The images of ``model.sample(n, seed)`` (random classes for conditional models).  # (n, H, W, C)"""
    return _to_images(_generate(model, model.sample_latent(n, seed), model.sample_labels(n, seed + 1)))


def seed_latents(model, seeds: Sequence[int]) -> torch.Tensor:
    """One z per seed, the same z that ``model.sample(1, seed)`` starts from.  # (K, latent_dim)"""
    if not seeds:
        raise ValueError("pick at least one seed")
    return torch.cat([model.sample_latent(1, int(s)) for s in seeds])


def _labels(model, label: int | None, n: int, seed: int) -> torch.Tensor | None:
    if not model.num_classes:
        return None
    if label is None:
        return model.sample_labels(n, seed + 1)  # random classes, the same for every threshold
    if not 0 <= label < model.num_classes:
        raise ValueError(f"class must lie in [0, {model.num_classes}), got {label}")
    return torch.full((n,), int(label), dtype=torch.long, device=model.device)


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


def _generate(model, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """Eval-mode generation through latent.generate_fast (BatchNorm folded): display only."""
    return latent.generate_fast(model, z.to(model.device), None if labels is None else labels.to(model.device))


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
