"""Endpoints for image-to-image translation (pix2pix, CycleGAN): uploads in, translated images out."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from studio import checkpoints, imaging, translate
from studio.api.common import DEFAULT_TRANSLATION_MODEL, load_model
from studio.errors import DataError


def translation_model(text: str | None) -> tuple[str, checkpoints.Loaded]:
    source, loaded = load_model(text, DEFAULT_TRANSLATION_MODEL)
    problem = translate.translation_problem(loaded.model)
    if problem:
        raise DataError(problem)
    return source, loaded


def read_upload(path: str | Path, channels: int) -> tuple[np.ndarray, list[str]]:
    """An uploaded image file -> (uint8 (H, W, channels), notes); DataError for a non-image or an oversize file."""
    path = Path(path)
    size = path.stat().st_size
    if size > translate.MAX_UPLOAD_BYTES:
        raise DataError(f"{path.name!r} is {size / 2**20:.1f} MB, over the limit of "
                        f"{translate.MAX_UPLOAD_BYTES // 2**20} MB")
    return translate.read_image(path.read_bytes(), channels=channels, name=path.name)


def translate_file(model: str | None = DEFAULT_TRANSLATION_MODEL, image: str | Path | None = None,
                   direction: str = "a2b") -> tuple[np.ndarray, np.ndarray, list[str]]:
    """/translate: (input as the model took it, output, notes). No image: the first ready sample."""
    _, loaded = translation_model(model)
    direction = direction or "a2b"
    options = translate.directions(*loaded)
    if direction not in options:
        raise DataError(f"this model translates {' and '.join(options)} only, not {direction!r}")
    if image is None:
        picture, notes = translate.sample_inputs(loaded.meta, direction, count=1)[0].image, []
    else:
        picture, notes = read_upload(image, translate.io_channels(loaded.model, direction)[0])
    output, more = translate.translate_image(loaded.model, picture, direction)
    return picture, output, notes + more


def sample_files(model: str | None = DEFAULT_TRANSLATION_MODEL, direction: str = "a2b", count: int = 4) -> list[Path]:
    """The model's ready samples written as PNG files (for examples a browser can pick)."""
    _, loaded = translation_model(model)
    folder = Path(tempfile.gettempdir()) / "gan-studio-samples" / f"{translate.dataset_kind(loaded.meta)}-{direction}"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for sample in translate.sample_inputs(loaded.meta, direction, count):
        path = folder / ("".join(c if c.isalnum() else "-" for c in sample.name) + ".png")
        if not path.exists():
            path.write_bytes(imaging.png_bytes(sample.image))
        paths.append(path)
    return paths
