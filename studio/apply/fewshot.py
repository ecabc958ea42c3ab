"""What the few-label experiments share: K labelled digits per class, a small training loop,
held-out accuracy and an interval over seeds.

The labelled pool is the 4,000-digit train split of the bundled MNIST (the bundled
mnist-classifier trained on all of it); accuracy is always on the 1,000 test digits, which no
experiment trains on. Seed s picks the K digits of each class, the initial weights and the batch
order, so a (K, seed) pair is one reproducible experiment and seeds give the spread.

Interval: mean +- t_{0.975, n-1} * sd / sqrt(n) over the n seeds (a 95% Student-t interval of the
mean; 0 wide for one seed, which the charts then show as a point).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from studio.errors import DataError

MAX_K = 400  # the train split has 4,000 digits, about 400 per class


@lru_cache(maxsize=2)
def digits(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The bundled MNIST ``split`` at 28 px: images (N, 1, 28, 28) in [-1, 1], labels (N,)."""
    from studio.data import mnist

    data = mnist(split)
    return data.images, data.targets


def few_labels(k: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """K random train digits of each class (10 K images, (10 K, 1, 28, 28)) and their labels."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= MAX_K:
        raise DataError(f"K must be a whole number of labelled digits per class from 1 to {MAX_K}, got {k!r}")
    images, labels = digits("train")
    rng = np.random.default_rng(seed)
    chosen = []
    for c in range(10):
        members = np.flatnonzero(labels.numpy() == c)
        if len(members) < k:
            raise DataError(f"K = {k}: the train split has only {len(members)} digits of class {c}")
        chosen.append(rng.choice(members, size=k, replace=False))
    index = torch.from_numpy(np.concatenate(chosen))
    return images[index], labels[index]


def classic_augment(x: torch.Tensor, generator: torch.Generator, shift: float = 2.0, degrees: float = 15.0) -> torch.Tensor:
    """Random shifts (up to ``shift`` px) and rotations (up to ``degrees``) per image, (B, C, H, W) -> same."""
    b, _, h, w = x.shape
    angle = (torch.rand(b, generator=generator) * 2 - 1) * math.radians(degrees)
    offset = (torch.rand(b, 2, generator=generator) * 2 - 1) * shift * 2 / torch.tensor([w, h])
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos, -sin, offset[:, 0]], 1), torch.stack([sin, cos, offset[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    # background is -1 (black) in [-1, 1] images: shift to 0-padding space and back
    return F.grid_sample(x + 1, grid, padding_mode="zeros", align_corners=False) - 1


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, size, size), bilinear with antialiasing; unchanged when already that size."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def train_classifier(
    model: torch.nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    steps: int,
    seed: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    augment: bool = False,
    extra: tuple[torch.Tensor, torch.Tensor] | None = None,
    ratio: float = 0.0,
    params: list | None = None,
) -> torch.nn.Module:
    """Adam on cross-entropy for ``steps`` batches of the real (images, labels), drawn with replacement.

    ``augment``: each real image gets a random shift and rotation. ``extra`` (images, labels):
    a pool of other labelled images (e.g. cGAN samples); each batch then holds
    ``round(ratio * batch_size)`` of them beside the ``batch_size`` real ones. ``params``: what to
    train (default: all of the model's parameters).
    """
    if steps < 1 or batch_size < 1:
        raise DataError(f"steps and batch_size must be at least 1, got {steps} and {batch_size}")
    if not 0.0 <= ratio <= 10.0:
        raise DataError(f"ratio must be from 0 to 10 generated images per real one, got {ratio}")
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(params if params is not None else model.parameters(), lr=lr)
    n_extra = round(ratio * batch_size) if extra is not None else 0
    model.train()
    for _ in range(steps):
        pick = torch.randint(0, len(labels), (batch_size,), generator=generator)
        x, y = images[pick], labels[pick]
        if augment:
            x = classic_augment(x, generator)
        if n_extra:
            more = torch.randint(0, len(extra[1]), (n_extra,), generator=generator)
            x, y = torch.cat([x, extra[0][more]]), torch.cat([y, extra[1][more]])
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    model.eval()
    return model


@torch.no_grad()
def accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, batch: int = 500) -> float:
    """Share of ``images`` whose argmax class is the label (eval mode)."""
    model.eval()
    right = 0
    for start in range(0, len(labels), batch):
        right += int((model(images[start : start + batch]).argmax(1) == labels[start : start + batch]).sum())
    return right / max(1, len(labels))


def interval(values) -> tuple[float, float]:
    """(mean, half-width of the 95% Student-t interval of the mean); half-width 0 for one value."""
    values = np.asarray(list(values), dtype=np.float64)
    if values.size == 0:
        raise DataError("interval: no values")
    mean = float(values.mean())
    if values.size == 1:
        return mean, 0.0
    from scipy.stats import t

    return mean, float(t.ppf(0.975, values.size - 1) * values.std(ddof=1) / math.sqrt(values.size))


def summarise(rows: list[dict], key: str = "condition") -> list[dict]:
    """Rows {key, k, seed, accuracy} -> one row per (key, k): mean, half-width, n, the values."""
    groups: dict[tuple, list[float]] = {}
    for row in rows:
        groups.setdefault((row[key], row["k"]), []).append(row["accuracy"])
    out = []
    for (name, k), values in groups.items():
        mean, half = interval(values)
        out.append({key: name, "k": k, "mean": mean, "half_width": half, "n": len(values), "values": values})
    return out


ProgressFn = Callable[[float, str], None]


def no_progress(fraction: float, message: str) -> None:
    pass
