"""What every latent page starts from: which models have a z to explore, one z per seed, the images
a batch of latents draws (through the fast display path), and how many threads a server uses.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch

from studio import imaging
from studio.accel import generate_fast

# Tasks whose generator maps a latent vector z (and maybe a class) to an image.
Z_SPACE_TASKS = ("unconditional", "conditional")


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


def _generate(model, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """Eval-mode generation through studio.accel.generate_fast (BatchNorm folded): display only."""
    return generate_fast(model, z.to(model.device), None if labels is None else labels.to(model.device))
