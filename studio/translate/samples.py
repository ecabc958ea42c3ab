"""Ready-made inputs for a translation model (map tiles, horse and zebra silhouettes) and the
per-pixel map-class accuracy that scores a satellite -> map translation."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image

from studio import imaging
from studio.errors import DataError
from studio.translate.fitting import DIRECTIONS, _resize, dataset_kind


# 8 horses and 8 zebras from animal-mnist's test split (MIT; data/horse-zebra-samples/README.md).
VENDORED_SILHOUETTES = Path(__file__).resolve().parents[2] / "data" / "horse-zebra-samples" / "horse-zebra-test.npz"
VENDORED_COUNT = 8


class Sample(NamedTuple):
    name: str
    image: np.ndarray  # uint8 (H, W, C), the model's input
    truth: np.ndarray | None  # uint8 (H, W, C), the paired target; None for unpaired sets


def sample_inputs(meta: dict | None, direction: str = "a2b", count: int = 4) -> list[Sample]:
    """Ready-made inputs for a model: [(name, input uint8 (H, W, C), ground truth uint8 | None)].

    Map models get procedural satellite tiles with their map (held-out test tiles of
    studio.data.maps; "b2a" swaps them); horse/zebra models animal-mnist test silhouettes of
    horses ("a2b") or zebras ("b2a"), from the 8 vendored ones when the package is missing. A
    model of unknown data: map tiles for pix2pix, silhouettes for CycleGAN. Sized to the model's
    image_size.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    meta = meta or {}
    kind = dataset_kind(meta) or ("maps" if meta.get("family") == "pix2pix" else "horse2zebra")
    size = int(meta.get("image_size") or 256)
    channel_count = 1 if meta.get("channels") == 1 else 3
    samples = _samples(kind, size, channel_count, direction, count)
    return [Sample(name, image.copy(), None if truth is None else truth.copy()) for name, image, truth in samples]


@lru_cache(maxsize=8)
def _samples(kind: str, size: int, channel_count: int, direction: str, count: int) -> tuple:
    if kind == "maps":
        from studio.data.maps import MapsDataset

        tiles = MapsDataset(n=count, image_size=min(max(size, 64), 256), split="test", cache=False)
        samples = []
        for i in range(count):
            satellite, map_tile = tiles.pair(i)
            if satellite.shape[0] != size:  # maps_pair draws 64-256 pixels; maps keep their flat colours
                satellite = _resize(satellite, size, size)
                map_tile = np.asarray(Image.fromarray(map_tile).resize((size, size), Image.Resampling.NEAREST))
            pair = (satellite, map_tile) if direction == "a2b" else (map_tile, satellite)
            name = f"satellite tile {i + 1}" if direction == "a2b" else f"map tile {i + 1}"
            samples.append((name, _with_channels(pair[0], channel_count), pair[1]))
        return tuple(samples)
    animal = "horse" if direction == "a2b" else "zebra"
    images = imaging.to_uint8(_silhouettes(animal, size, count))
    return tuple((f"{animal} {i + 1}", _with_channels(image, channel_count), None) for i, image in enumerate(images))


def _silhouettes(animal: str, size: int, count: int) -> torch.Tensor:
    """``count`` animal-mnist test silhouettes (count, 1, size, size) in [-1, 1]; without the package
    (a Space installs requirements.txt only) the first ``VENDORED_COUNT`` of them, shipped in data/."""
    from studio.data.animals import animals
    from studio.data.mnist import uint8_to_tensor

    try:
        return animals((animal,), image_size=size, split="test").images[:count]
    except DataError as missing:
        if not VENDORED_SILHOUETTES.is_file():
            raise missing
        with np.load(VENDORED_SILHOUETTES, allow_pickle=False) as arrays:
            pixels = arrays[animal][:count]  # (count, 28, 28) uint8, the same picks as animals() makes
        return uint8_to_tensor(pixels, size)


def _with_channels(image: np.ndarray, channel_count: int) -> np.ndarray:
    if image.shape[2] == channel_count:
        return image
    if channel_count == 3:
        return np.repeat(image, 3, axis=2)
    return np.asarray(Image.fromarray(image).convert("L"))[:, :, None]


def per_pixel_map_accuracy(pred_map: np.ndarray, true_map: np.ndarray) -> float:
    """Share of pixels whose map class (nearest MAP_PALETTE colour) matches the true map's."""
    from studio.data.maps import map_classes

    pred_map, true_map = np.asarray(pred_map), np.asarray(true_map)
    if pred_map.shape[:2] != true_map.shape[:2]:
        raise ValueError(f"the maps differ in size: {pred_map.shape[:2]} vs {true_map.shape[:2]}")
    return float(np.mean(map_classes(pred_map) == map_classes(true_map)))
