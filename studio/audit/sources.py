"""Where the images for a metric come from: a generator (zoo name, checkpoint or run folder, or a
loaded model), a folder of image files, or a bundled dataset. Each is read as uint8 batches
(B, H, W, C), one batch in memory at a time, so features can be extracted as they stream by.

Generated images are quantised to 8 bits as a saved PNG would be (``imaging.to_uint8``), so a
generator and a folder of its saved samples give the same features.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from studio import imaging
from studio.errors import CheckpointError, DataError
from studio.explore import latent
from studio.models.base import evaluating

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff"}
GENERATOR_TASKS = ("unconditional", "conditional")
GENERATE_BATCH = 250
# Bundled datasets a reference can name: "mnist", "mnist-5k", "mnist-5k:train", "animals:test", ...
# Full MNIST is not bundled: "mnist" reads the 5,000 bundled digits, as the checkpoints were trained on.
REFERENCE_DATASETS = {"mnist": "mnist", "mnist-5k": "mnist", "animals": "animals", "faces": "faces",
                      "faces_fair": "faces_fair"}


@dataclass
class ImageSource:
    """A finite stream of uint8 images: ``batches(size)`` yields (B, H, W, C) arrays (or lists of
    (H, W, C) arrays when sizes differ), ``count`` images in all."""

    kind: str  # "model" | "folder" | "dataset"
    name: str
    count: int
    image_size: int | None  # None: a folder of mixed sizes
    channels: int
    batches: Callable[[int], Iterator]
    info: dict = field(default_factory=dict)  # plain data for the result


# ----------------------------------------------------------------------------- generators

def model_source(model, meta: dict | None, n: int, seed: int = 0, threshold: float | None = None) -> ImageSource:
    """``n`` images of a z-space generator: z = model.sample_latent(n, seed) (truncated to |z_i| <=
    threshold when given), classes model.sample_labels(n, seed + 1) if conditional."""
    meta = meta or {}
    task = getattr(model, "task", "")
    if task not in GENERATOR_TASKS or not hasattr(model, "latent_dim"):
        name = meta.get("source") or getattr(model, "family", "?")
        raise CheckpointError(f"{name} is a {task or '?'} model ({getattr(model, 'family', '?')}): sample metrics "
                              "need a generator of z such as mnist-wgangp; a translation model is judged "
                              "on its inputs' translations, not on samples of z")
    if n < 2:
        raise DataError(f"draw at least 2 samples, got n={n}")
    if threshold is None:
        z = model.sample_latent(n, seed)  # (n, latent_dim)
    else:
        z = latent.truncated_normal(n, model.latent_dim, threshold, seed)
    labels = model.sample_labels(n, seed + 1)

    def batches(size: int) -> Iterator[np.ndarray]:
        with evaluating(model), torch.inference_mode():
            for start in range(0, n, min(size, GENERATE_BATCH)):
                stop = min(start + min(size, GENERATE_BATCH), n)
                batch_labels = None if labels is None else labels[start:stop]
                images = model.generate(z[start:stop].to(model.device), batch_labels)  # (B, C, H, W) in [-1, 1]
                yield imaging.to_uint8(images)  # (B, H, W, C)

    info = {"kind": "model", "name": meta.get("source") or getattr(model, "family", "model"),
            "family": getattr(model, "family", ""), "n": n, "seed": seed, "truncation": threshold,
            "conditional": labels is not None}
    return ImageSource("model", info["name"], n, int(model.image_size), int(model.channels), batches, info)


def load_generator(source):
    """(model, meta) for a zoo name, checkpoint or run folder, hf:// id, or an already loaded model."""
    if isinstance(source, torch.nn.Module):
        return source, {"source": getattr(source, "family", "model")}
    if isinstance(source, tuple) and len(source) == 2 and isinstance(source[0], torch.nn.Module):
        return source
    from studio.checkpoints import load

    return load(str(source), device="cpu")


def is_image_folder(source) -> bool:
    """A directory that is neither a checkpoint nor a training run."""
    if isinstance(source, torch.nn.Module) or isinstance(source, tuple):
        return False
    path = Path(str(source)).expanduser()
    return path.is_dir() and not (path / "config.json").is_file() and not (path / "run.json").is_file() \
        and not (path / "checkpoints").is_dir()


# ----------------------------------------------------------------------------- folders

def _image_files(root: Path) -> list[Path]:
    files = []
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__MACOSX")
        files += [Path(folder) / f for f in sorted(filenames)
                  if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_SUFFIXES]
    return files


def _read(path: Path, mode: str) -> np.ndarray:
    """One file -> uint8 (S, S, C): EXIF rotation applied, center-cropped to a square."""
    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image).convert(mode)
        side = min(image.size)
        left, top = (image.width - side) // 2, (image.height - side) // 2
        array = np.asarray(image.crop((left, top, left + side, top + side)), dtype=np.uint8)
    return array[..., None] if array.ndim == 2 else array


def folder_source(path, n: int | None = None, seed: int = 0, channels: int = 3) -> ImageSource:
    """Image files under ``path`` (recursively; .png .jpg .bmp .webp .gif .tif), read as grey
    (channels=1) or RGB; with ``n`` smaller than the count, a seeded random choice of ``n`` files."""
    root = Path(str(path)).expanduser().resolve()
    if not root.is_dir():
        raise DataError(f"no such folder of images: {root}")
    files = _image_files(root)
    if not files:
        raise DataError(f"{root} holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))}): nothing to measure")
    total = len(files)
    if n is not None and n < total:
        keep = np.sort(np.random.default_rng(seed).choice(total, n, replace=False))
        files = [files[i] for i in keep]
    mode = "L" if channels == 1 else "RGB"
    try:
        first = _read(files[0], mode)
    except Exception as error:  # Pillow raises many types for damaged files
        raise DataError(f"cannot read {files[0]}: {error}") from error

    def batches(size: int) -> Iterator[list[np.ndarray]]:
        for start in range(0, len(files), size):
            chunk = []
            for file in files[start:start + size]:
                try:
                    chunk.append(_read(file, mode))
                except Exception as error:
                    raise DataError(f"cannot read {file}: {error}") from error
            yield chunk

    info = {"kind": "folder", "name": str(root), "n": len(files), "files_found": total,
            "seed": seed if n is not None and n < total else None}
    return ImageSource("folder", str(root), len(files), first.shape[0], channels, batches, info)


# ----------------------------------------------------------------------------- datasets

def dataset_source(name: str, image_size: int) -> ImageSource:
    """A bundled dataset (``mnist``, ``mnist-5k``, ``animals``, ``faces`` (the biased world),
    ``faces_fair``; optionally ``:train`` / ``:test``) at
    ``image_size`` pixels, resized by the dataset's own loader as training saw it."""
    from studio.data import get_dataset

    base, _, split = str(name).partition(":")
    if base not in REFERENCE_DATASETS:
        raise DataError(f"unknown reference dataset {name!r}: choose one of {', '.join(REFERENCE_DATASETS)} "
                        "(optionally with :train or :test), or give a folder of images")
    dataset = get_dataset(REFERENCE_DATASETS[base], split=split or "all", image_size=int(image_size))
    images = dataset.images  # (N, C, S, S) in [-1, 1]

    def batches(size: int) -> Iterator[np.ndarray]:
        for start in range(0, len(images), size):
            yield imaging.to_uint8(images[start:start + size])

    info = {"kind": "dataset", "name": dataset.name, "n": len(images), "image_size": int(image_size)}
    return ImageSource("dataset", dataset.name, len(images), int(image_size), dataset.channels, batches, info)


def training_data(meta: dict) -> str:
    """The reference dataset a checkpoint names as its training data, e.g. "mnist-5k"."""
    dataset = (meta or {}).get("dataset")
    if not dataset:
        raise DataError(f"{(meta or {}).get('source', 'this model')} does not name its training data: "
                        "give a REFERENCE (a dataset name such as mnist, or a folder of images)")
    return str(dataset)
