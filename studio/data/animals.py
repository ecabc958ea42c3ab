"""Animal silhouettes in the MNIST format: the ``animal-mnist`` package (Sina Mohammadi, 2025,
"Animal silhouette extension to MNIST - benchmarking dataset", PyPI ``animal-mnist`` 0.4, MIT).

10,000 white-on-black 28x28 uint8 silhouettes, 1,000 per class. Install it without its
dependencies, since its metadata pulls in tensorflow that the studio never runs::

    pip install --no-deps "animal-mnist==0.4"

How the package ships its data, and why we read it ourselves: the wheel holds
``animal_mnist/data/Animal_MNIST/animal_data_version_3.gz`` and ``animal_label_version_3.gz``,
gzipped *pickles* (protocol 4) of one numpy array each: (10000, 28, 28) uint8 images and
(10000,) int64 labels 0-9. Its own loader imports tensorflow and calls ``pickle.load``,
which would run any callable a tampered file names. ``_read_array`` instead unpickles with a
whitelist of exactly the three numpy globals an ndarray pickle needs (``_reconstruct``,
``ndarray``, ``dtype``), the way ``torch.load(weights_only=True)`` does, then insists on a
numeric array. The labels carry no names; the package description lists the classes as
"Bear, Bird, Cat, Cow, Dog, Elephant, Giraffe, Horse, Sheep, Zebra", and labels 0-9 follow
that (alphabetical) order, which we checked by looking at the images.
"""

from __future__ import annotations

import gzip
import importlib.util
import pickle
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

try:
    from numpy._core.multiarray import _reconstruct
except ImportError:  # NumPy 1.x
    from numpy.core.multiarray import _reconstruct

from studio.data.mnist import ImageTensorDataset, check_image_size, stratified_split, uint8_to_tensor
from studio.errors import DataError

ANIMAL_CLASSES = ["bear", "bird", "cat", "cow", "dog", "elephant", "giraffe", "horse", "sheep", "zebra"]
PIP_COMMAND = 'pip install --no-deps "animal-mnist==0.4"'
_IMAGES_FILE = "animal_data_version_3.gz"
_LABELS_FILE = "animal_label_version_3.gz"

# The only globals a plain ndarray pickle refers to. NumPy 2 moved numpy.core to numpy._core;
# files written by NumPy 1 (like these) name the old path, which we map without importing it.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _ArrayUnpickler(pickle.Unpickler):
    """Rebuilds numpy arrays and refuses every other global, so a tampered file cannot run code."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            message = f"refusing to load {module}.{name}: only plain numpy arrays are allowed"
            raise pickle.UnpicklingError(message) from None


def _read_array(path: Path) -> np.ndarray:
    try:
        with gzip.open(path, "rb") as stream:
            array = _ArrayUnpickler(stream).load()
    except (OSError, EOFError, pickle.UnpicklingError, ValueError) as error:
        raise DataError(f"cannot read animal-mnist file {path}: {error}") from error
    # kind "O" (objects) would mean the array itself smuggles pickled objects: refuse
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "biu":
        raise DataError(f"{path} does not hold a plain integer array")
    return array


def _data_dir() -> Path:
    # find_spec locates the package without executing it (its modules import tensorflow)
    spec = importlib.util.find_spec("animal_mnist")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"the animal silhouettes come from the animal-mnist package: {PIP_COMMAND}")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "Animal_MNIST"


@lru_cache(maxsize=1)
def _animal_arrays() -> tuple[np.ndarray, np.ndarray]:
    """All 10,000 silhouettes: read-only (10000, 28, 28) uint8 and (10000,) int64."""
    folder = _data_dir()
    pixels, labels = _read_array(folder / _IMAGES_FILE), _read_array(folder / _LABELS_FILE)
    if pixels.ndim != 3 or pixels.shape[1:] != (28, 28) or labels.shape != (pixels.shape[0],):
        raise DataError(f"unexpected animal-mnist arrays {pixels.shape} / {labels.shape} in {folder}")
    if labels.min() < 0 or labels.max() >= len(ANIMAL_CLASSES):
        raise DataError(f"animal-mnist labels outside 0-{len(ANIMAL_CLASSES) - 1} in {folder}")
    pixels, labels = pixels.astype(np.uint8), labels.astype(np.int64)
    pixels.flags.writeable = False
    labels.flags.writeable = False
    return pixels, labels


def _resolve_classes(classes: Sequence[str] | str | None) -> list[str]:
    if classes is None:
        return list(ANIMAL_CLASSES)
    if isinstance(classes, str):  # animals(classes="zebra") means one class, not five letters
        classes = [classes]
    wanted = [str(name).strip().lower() for name in classes]
    unknown = [name for name in wanted if name not in ANIMAL_CLASSES]
    if unknown:
        shown = ", ".join(map(repr, unknown))
        raise DataError(f"unknown animal class {shown}: choose from {', '.join(ANIMAL_CLASSES)}")
    if not wanted or len(set(wanted)) != len(wanted):
        raise DataError(f"classes must name at least one animal, each once; got {list(classes)}")
    return wanted


def animals(
    classes: Sequence[str] | str | None = None,
    image_size: int = 28,
    split: str = "all",
    *,
    seed: int = 0,
    test_fraction: float = 0.2,
) -> ImageTensorDataset:
    """Animal silhouettes (1, image_size, image_size) in [-1, 1].

    ``classes`` picks animals by name (case-insensitive; None = all ten) and sets the label
    order: ``animals(("horse", "zebra"))`` labels horses 0 and zebras 1, and ``.classes`` is
    ``["horse", "zebra"]``. Split "train" / "test" is stratified 800 / 200 per class by ``seed``.
    """
    check_image_size(image_size)
    names = _resolve_classes(classes)
    pixels, labels = _animal_arrays()
    chosen = np.flatnonzero(np.isin(labels, [ANIMAL_CLASSES.index(name) for name in names]))
    keep = chosen[stratified_split(labels[chosen], split, seed=seed, test_fraction=test_fraction)]
    # relabel to positions in `names`, so a 2-class conditional model sees labels 0 and 1
    relabel = np.full(len(ANIMAL_CLASSES), -1, dtype=np.int64)
    relabel[[ANIMAL_CLASSES.index(name) for name in names]] = np.arange(len(names))
    targets = torch.from_numpy(relabel[labels[keep]])
    images = uint8_to_tensor(pixels[keep], image_size)  # (N, 1, image_size, image_size)
    name = "animals" + ("" if classes is None else ":" + ",".join(names)) + ("" if split == "all" else f":{split}")
    return ImageTensorDataset(images, targets, names, name)
