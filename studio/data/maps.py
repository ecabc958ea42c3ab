"""Procedural satellite/map tile pairs: a bundled stand-in for the pix2pix "maps" set.

Isola et al., "Image-to-Image Translation with Conditional Adversarial Networks" (CVPR 2017)
trained on aerial photos of New York paired with their Google Maps tiles. That set is not
bundled (250 MB), so this module draws the same kind of pair from a seed: one city layout
(street grid, major roads, blocks with buildings, parks, water, rail) rendered twice,
(a) as a web-map tile in the flat palette ``MAP_PALETTE`` and (b) as an aerial photo made of
the photographs bundled with scikit-image (grass, gravel, brick) with lit and shaded roof
faces, cast shadows, trees, cars and camera noise. The map is an exact function of the layout,
so ``map_classes`` turns any map tile (generated or translated) into per-pixel class ids.
The scene and its map are drawn in maps_scene.py, the photo in maps_photo.py. Everything is
vectorised numpy: about 30 ms per 256x256 pair on one CPU core, 3 ms at 64.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from studio.data.maps_photo import _render_photo
from studio.data.maps_scene import _PALETTE, MAP_CLASSES, MAP_PALETTE, _layout, _render_map
from studio.errors import DataError

__all__ = ["MAP_CLASSES", "MAP_PALETTE", "MapsDataset", "MapsSegmentation", "class_colours", "map_classes", "maps_pair"]


def maps_pair(seed: int, size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """One (satellite, map) pair, both uint8 (size, size, 3); the same seed gives the same pair.

    Sizes 64-256 show the same scene at different resolutions.
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 64 <= size <= 256:
        raise DataError(f"maps_pair: size must be an integer from 64 to 256, got {size!r}")
    rng = np.random.default_rng(seed)
    scene = _layout(rng, int(size))
    map_tile = _render_map(scene)
    return _render_photo(rng, scene), map_tile


def map_classes(map_tile: np.ndarray) -> np.ndarray:
    """(H, W) class ids (indices into MAP_CLASSES) of a map tile, uint8 HWC or float in [-1, 1] CHW.

    Each pixel takes the nearest palette colour, so exact palette pixels map exactly and a
    translated map (which never hits the palette exactly) can be scored per pixel.
    """
    tile = np.asarray(map_tile.detach().cpu() if isinstance(map_tile, torch.Tensor) else map_tile)
    if tile.ndim == 3 and tile.shape[0] == 3 and tile.shape[-1] != 3:
        tile = np.moveaxis(tile, 0, -1)  # (3, H, W) -> (H, W, 3)
    if tile.ndim != 3 or tile.shape[-1] != 3:
        raise ValueError(f"map_classes: expected an (H, W, 3) or (3, H, W) image, got shape {tile.shape}")
    if tile.dtype != np.uint8:
        tile = (tile.astype(np.float32) + 1) * 127.5  # [-1, 1] -> [0, 255]
    palette = _PALETTE.astype(np.float32)
    # |x - p|^2 = |x|^2 - 2 x.p + |p|^2; |x|^2 is the same for every p, so it drops out of argmin.
    score = tile.astype(np.float32) @ palette.T * -2 + (palette * palette).sum(1)  # (H, W, K)
    return score.argmin(-1).astype(np.int64)


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1).float().div_(127.5).sub_(1)  # (3, H, W) in [-1, 1]


class MapsDataset(Dataset):
    """`n` procedural (satellite, map) pairs as (3, image_size, image_size) tensors in [-1, 1].

    Tile i of a split uses seed ``seed * 2**21 + 2 * i`` (train) or ``... + 1`` (test), so the
    splits never share a tile. Tiles are drawn on first access and kept as uint8 when `cache`.
    """

    def __init__(self, n: int = 1000, image_size: int = 256, split: str = "train", seed: int = 0, *,
                 cache: bool = True):
        if split not in ("train", "test"):
            raise DataError(f"MapsDataset: split must be 'train' or 'test', got {split!r}")
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 2**20:
            raise DataError(f"MapsDataset: n must be an integer from 1 to {2**20}, got {n!r}")
        if isinstance(image_size, bool) or not isinstance(image_size, int) or not 64 <= image_size <= 256:
            raise DataError(f"MapsDataset: image_size must be an integer from 64 to 256, got {image_size!r}")
        self.n, self.image_size, self.split, self.seed, self.cache = n, image_size, split, int(seed), cache
        self.channels = 3
        self.name, self.domains = f"maps:{split}", ("satellite", "map")
        self._tiles: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return self.n

    def tile_seed(self, index: int) -> int:
        return self.seed * 2**21 + 2 * index + (self.split == "test")

    def pair(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(satellite, map) as uint8 (image_size, image_size, 3), for display."""
        if not -self.n <= index < self.n:
            raise IndexError(f"MapsDataset: index {index} out of range for {self.n} tiles")
        index %= self.n
        if index in self._tiles:
            return self._tiles[index]
        pair = maps_pair(self.tile_seed(index), self.image_size)
        if self.cache:
            self._tiles[index] = pair
        return pair

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        satellite, map_tile = self.pair(index)
        return _to_tensor(satellite), _to_tensor(map_tile)


def class_colours(classes: np.ndarray | torch.Tensor) -> np.ndarray:
    """(H, W) class ids -> the uint8 (H, W, 3) map tile that draws them in ``MAP_PALETTE``.

    Ids outside 0..len(MAP_CLASSES)-1 raise DataError."""
    ids = np.asarray(classes.detach().cpu() if isinstance(classes, torch.Tensor) else classes)
    if ids.size and (ids.min() < 0 or ids.max() >= len(MAP_CLASSES)):
        raise DataError(f"class_colours: class ids must be 0..{len(MAP_CLASSES) - 1}, got {ids.min()}..{ids.max()}")
    return _PALETTE[ids.astype(np.int64)]


class MapsSegmentation(MapsDataset):
    """The same tiles as ``MapsDataset`` for segmentation: (satellite (3, S, S) in [-1, 1], classes (S, S) int64).

    The classes are ``map_classes`` of the exact map tile, so the labels are exact: every pixel of
    the map is one palette colour. ``classes`` names the K = 8 map classes (a U-Net's output size).
    """

    def __init__(self, n: int = 1000, image_size: int = 256, split: str = "train", seed: int = 0, *,
                 cache: bool = True):
        super().__init__(n, image_size, split, seed, cache=cache)
        self.name, self.domains = f"maps-segmentation:{split}", ("satellite", "classes")
        self.classes = list(MAP_CLASSES)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        satellite, map_tile = self.pair(index)
        return _to_tensor(satellite), torch.from_numpy(map_classes(map_tile))
