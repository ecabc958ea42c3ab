"""Procedural satellite/map pairs and the translation folder loaders, on real files in tmp_path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from studio.data.maps import MAP_CLASSES, MAP_PALETTE, MapsDataset, map_classes, maps_pair
from studio.data.translation import HorseZebra, PairedFolder, UnpairedFolders
from studio.errors import DataError

PALETTE = np.array(list(MAP_PALETTE.values()), dtype=np.uint8)


def local_std(image: np.ndarray, window: int = 5) -> np.ndarray:
    """Per pixel: the standard deviation of luminance in a window around it."""
    grey = image.astype(np.float64).mean(-1)
    mean = ndimage.uniform_filter(grey, window)
    square = ndimage.uniform_filter(grey * grey, window)
    return np.sqrt(np.clip(square - mean * mean, 0, None))


def test_same_seed_same_pair_and_seeds_differ():
    satellite, map_tile = maps_pair(7, 64)
    again = maps_pair(7, 64)
    assert np.array_equal(satellite, again[0]) and np.array_equal(map_tile, again[1])
    other = maps_pair(8, 64)
    assert not np.array_equal(satellite, other[0])
    assert not np.array_equal(map_tile, other[1])


@pytest.mark.parametrize("size", [64, 100, 128, 256])
def test_sizes_dtype_and_palette(size):
    satellite, map_tile = maps_pair(3, size)
    assert satellite.shape == map_tile.shape == (size, size, 3)
    assert satellite.dtype == map_tile.dtype == np.uint8
    colours = {tuple(c) for c in map_tile.reshape(-1, 3)}
    assert colours <= set(MAP_PALETTE.values())  # flat map: palette colours only
    classes = map_classes(map_tile)
    assert classes.shape == (size, size) and classes.min() >= 0 and classes.max() < len(MAP_CLASSES)
    assert np.array_equal(PALETTE[classes], map_tile)  # every pixel classified exactly
    assert satellite.std() > 20  # a full range photo, not a flat or blank image


def test_bad_sizes_are_refused():
    for size in (63, 257, 64.0, True):
        with pytest.raises(DataError, match="size"):
            maps_pair(0, size)


def test_maps_show_roads_buildings_and_background():
    counts = sum(np.bincount(map_classes(maps_pair(seed, 64)[1]).ravel(), minlength=len(MAP_CLASSES))
                 for seed in range(6))
    for name in ("background", "building", "road_minor", "road_outline"):
        assert counts[MAP_CLASSES.index(name)] > 0, name


def test_satellite_is_a_textured_photo_not_a_recoloured_map():
    satellite, map_tile = maps_pair(11, 256)
    # texture: inside areas where the map is one flat colour, the photo still varies
    flat = local_std(map_tile) == 0
    assert flat.mean() > 0.1
    assert local_std(satellite)[flat].mean() > 6
    assert local_std(satellite).mean() > 1.3 * local_std(map_tile).mean()
    # no per-class recolouring explains the photo: subtract each class's mean colour
    classes = map_classes(map_tile)
    residual = satellite.astype(np.float64).copy()
    for k in np.unique(classes):
        residual[classes == k] -= residual[classes == k].mean(0)
    assert np.sqrt((residual ** 2).mean()) > 15


def test_photo_matches_its_map():
    # the first seeds with both water and parks: water is dark blue-green, parks green
    found = 0
    for seed in range(40):
        satellite, map_tile = maps_pair(seed, 64)
        classes = map_classes(map_tile)
        water, park = classes == MAP_CLASSES.index("water"), classes == MAP_CLASSES.index("park")
        if water.sum() < 50 or park.sum() < 50:
            continue
        r, g, b = satellite[water].astype(float).mean(0)
        assert b > r and g > r
        r, g, b = satellite[park].astype(float).mean(0)
        assert g > r and g > b
        streets = classes == MAP_CLASSES.index("road_minor")
        assert satellite[streets].mean() < 150  # asphalt, where the map road is white
        found += 1
        if found == 2:
            break
    assert found == 2


def test_map_classes_accepts_tensors_and_noisy_maps():
    _, map_tile = maps_pair(5, 64)
    classes = map_classes(map_tile)
    tensor = torch.from_numpy(map_tile).permute(2, 0, 1).float() / 127.5 - 1  # (3, H, W) in [-1, 1]
    assert np.array_equal(map_classes(tensor), classes)
    noisy = np.clip(map_tile + np.random.default_rng(0).integers(-6, 7, map_tile.shape), 0, 255).astype(np.uint8)
    assert np.array_equal(map_classes(noisy), classes)
    with pytest.raises(ValueError):
        map_classes(np.zeros((8, 8)))


def test_maps_dataset_splits_ranges_and_determinism():
    train, test = MapsDataset(3, 64, "train", seed=1), MapsDataset(3, 64, "test", seed=1)
    assert len(train) == 3 and train.channels == 3 and train.image_size == 64
    satellite, map_tile = train[0]
    assert satellite.shape == map_tile.shape == (3, 64, 64)
    assert satellite.dtype == torch.float32
    assert satellite.min() >= -1 and satellite.max() <= 1 and map_tile.min() >= -1 and map_tile.max() <= 1
    assert {train.tile_seed(i) for i in range(3)}.isdisjoint(test.tile_seed(i) for i in range(3))
    assert not torch.equal(train[0][1], test[0][1])
    assert torch.equal(MapsDataset(3, 64, "train", seed=1, cache=False)[2][0], train[2][0])
    assert torch.equal(train[-1][1], train[2][1])
    assert np.array_equal(train.pair(1)[0], maps_pair(train.tile_seed(1), 64)[0])
    with pytest.raises(IndexError):
        train[3]
    with pytest.raises(DataError):
        MapsDataset(3, 64, "val")


def write_pairs(folder, n, width=64, height=32):
    """A|B files whose left half is a horizontal gradient and right half a solid colour per file."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        image = np.zeros((height, width, 3), np.uint8)
        image[:, : width // 2, 0] = np.linspace(0, 255, width // 2, dtype=np.uint8)  # A
        image[:, width // 2:] = (10 * i, 200, 30)  # B
        Image.fromarray(image).save(folder / f"{i:03d}.png")


def test_paired_folder_splits_a_left_b_right(tmp_path):
    write_pairs(tmp_path / "train", 3)
    data = PairedFolder(tmp_path / "train", image_size=32)
    assert len(data) == 3
    a, b = data[2]
    assert a.shape == b.shape == (3, 32, 32)
    assert torch.allclose(a[0, 5], torch.linspace(0, 255, 32).floor() / 127.5 - 1, atol=1e-6)  # gradient
    assert torch.all(a[1:] == -1)
    expected_b = torch.tensor([20, 200, 30]) / 127.5 - 1
    assert torch.allclose(b, expected_b[:, None, None].expand(3, 32, 32))
    b2, a2 = PairedFolder(tmp_path / "train", image_size=32, direction="BtoA")[2]
    assert torch.equal(a2, a) and torch.equal(b2, b)
    small = PairedFolder(tmp_path / "train", image_size=16, channels=1)[0]
    assert small[0].shape == small[1].shape == (1, 16, 16)


def test_paired_folder_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        PairedFolder(tmp_path / "empty", 32)
    with pytest.raises(DataError, match="not a folder"):
        PairedFolder(tmp_path / "missing", 32)
    write_pairs(tmp_path / "square", 1, width=40, height=40)
    with pytest.raises(DataError, match="twice as wide"):
        PairedFolder(tmp_path / "square", 32)
    write_pairs(tmp_path / "ok", 1)
    with pytest.raises(DataError, match="direction"):
        PairedFolder(tmp_path / "ok", 32, direction="sideways")
    (tmp_path / "ok" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="broken.png"):
        PairedFolder(tmp_path / "ok", 32)


def write_solid(folder, values):
    folder.mkdir(parents=True)
    for i, value in enumerate(values):
        Image.new("RGB", (20, 12), (value, value, value)).save(folder / f"{i}.jpg" if i % 2 else folder / f"{i}.png")


def test_unpaired_folders(tmp_path):
    write_solid(tmp_path / "trainA", [0, 10, 20])
    write_solid(tmp_path / "trainB", [100, 110, 120, 130, 140])
    write_solid(tmp_path / "testA", [0])
    write_solid(tmp_path / "testB", [255, 250])
    data = UnpairedFolders(tmp_path, image_size=16)
    assert len(data) == 5  # the larger domain
    levels = lambda t: round(float((t.mean() + 1) * 127.5))  # noqa: E731
    pairs = [tuple(levels(t) for t in data[i]) for i in range(5)]
    assert [a for a, _ in pairs] == [0, 10, 20, 0, 10]
    assert sorted(b for _, b in pairs) == [100, 110, 120, 130, 140]  # every B once per epoch
    assert pairs == [tuple(levels(t) for t in UnpairedFolders(tmp_path, 16)[i]) for i in range(5)]
    data.set_epoch(1)
    assert sorted(levels(data[i][1]) for i in range(5)) == [100, 110, 120, 130, 140]
    a, b = data[0]
    assert a.shape == b.shape == (3, 16, 16) and a.min() >= -1 and b.max() <= 1
    test = UnpairedFolders(tmp_path, 16, split="test", channels=1)
    assert len(test) == 2 and test[1][0].shape == (1, 16, 16)


def test_unpaired_folders_errors(tmp_path):
    write_solid(tmp_path / "trainA", [0])
    with pytest.raises(DataError, match="trainB"):
        UnpairedFolders(tmp_path, 16)
    (tmp_path / "trainB").mkdir()
    with pytest.raises(DataError, match="no images"):
        UnpairedFolders(tmp_path, 16)
    with pytest.raises(DataError, match="split"):
        UnpairedFolders(tmp_path, 16, split="val")
    with pytest.raises(DataError, match="not a folder"):
        UnpairedFolders(tmp_path / "nowhere", 16)


def test_horse_zebra_unpaired_silhouettes():
    from studio.data.animals import animals

    data = HorseZebra(image_size=32, split="train")
    assert len(data) == 800 and data.domains == ("horse", "zebra")
    horse, zebra = data[3]
    assert horse.shape == zebra.shape == (1, 32, 32)
    assert horse.min() >= -1 and horse.max() <= 1
    horses = animals("horse", image_size=32, split="train").images
    zebras = animals("zebra", image_size=32, split="train").images
    assert any(torch.equal(horse, h) for h in horses)
    assert any(torch.equal(zebra, z) for z in zebras)
    assert torch.equal(HorseZebra(32, "train")[3][1], zebra)  # the pairing is seeded
    rgb = HorseZebra(image_size=64, split="test", channels=3)
    assert len(rgb) == 200
    horse, zebra = rgb[0]
    assert horse.shape == (3, 64, 64) and torch.equal(horse[0], horse[2])


def test_registered_in_the_data_registry():
    from studio.data import DATASETS, get_dataset

    assert DATASETS["maps"] is MapsDataset and DATASETS["horse2zebra"] is HorseZebra
    assert DATASETS["paired_folder"] is PairedFolder and DATASETS["unpaired_folders"] is UnpairedFolders
    maps = get_dataset("maps", image_size=64, split="test", n=2)
    assert len(maps) == 2 and maps[1][0].shape == (3, 64, 64)
