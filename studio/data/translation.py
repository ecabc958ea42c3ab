"""Image-to-image translation data: pix2pix paired folders, CycleGAN unpaired folders, horse/zebra.

The folder layouts are those of the reference code for pix2pix (Isola et al., CVPR 2017) and
CycleGAN (Zhu et al., "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial
Networks", ICCV 2017), junyanz/pytorch-CycleGAN-and-pix2pix:
- aligned (pix2pix): every image holds A and B side by side, A on the left; the "maps" set has
  1200x600 files (satellite | map). ``PairedFolder(path/"train", 256)``.
- unaligned (CycleGAN): ``root/trainA``, ``root/trainB`` (and ``testA``, ``testB``) with unrelated
  images. ``UnpairedFolders(root, 256, split="train")``.
``HorseZebra`` draws the same kind of unpaired set from the horse and zebra silhouettes of
animal-mnist (``studio.data.animals``). Every sample is a pair of (C, H, W) tensors in [-1, 1].
Unpaired sets pair item i of A with a seeded random B, so a run is reproducible;
``set_epoch`` draws new pairs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from studio.data.animals import animals
from studio.errors import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
DIRECTIONS = ("AtoB", "BtoA")


def _check_size(image_size: int) -> int:
    if isinstance(image_size, bool) or not isinstance(image_size, int) or not 8 <= image_size <= 1024:
        raise DataError(f"image_size must be an int from 8 to 1024, got {image_size!r}")
    return image_size


def _image_files(folder: Path) -> list[Path]:
    """Image files under `folder` (recursively, like the reference loader), in a stable order."""
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder")
    files = sorted(
        path for path in folder.rglob("*")
        if path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".") and path.is_file()
    )
    if not files:
        raise DataError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {folder}")
    return files


def _open(path: Path, channels: int) -> Image.Image:
    try:
        with Image.open(path) as image:
            return image.convert("RGB" if channels == 3 else "L")
    except (OSError, UnidentifiedImageError) as error:
        raise DataError(f"cannot read image {path}: {error}") from error


def _to_tensor(image: Image.Image, image_size: int) -> torch.Tensor:
    """PIL image -> (C, image_size, image_size) float32 in [-1, 1]; bicubic as in the reference code."""
    if image.size != (image_size, image_size):
        image = image.resize((image_size, image_size), Image.Resampling.BICUBIC)
    array = np.asarray(image, dtype=np.uint8)
    if array.ndim == 2:
        array = array[..., None]
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float().div_(127.5).sub_(1)


def _check_channels(channels: int) -> int:
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 or 3, got {channels!r}")
    return channels


class PairedFolder(Dataset):
    """pix2pix aligned images: each file is A|B side by side (twice as wide as high).

    ``dataset[i] -> (source, target)``: (A, B) for direction "AtoB", (B, A) for "BtoA", each
    (channels, image_size, image_size) in [-1, 1]. All file sizes are checked up front (headers only).
    """

    def __init__(self, path: str | Path, image_size: int = 256, direction: str = "AtoB", channels: int = 3):
        if direction not in DIRECTIONS:
            raise DataError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
        self.image_size, self.direction, self.channels = _check_size(image_size), direction, _check_channels(channels)
        self.root = Path(path)
        self.files = _image_files(self.root)
        bad = []
        for file in self.files:
            try:
                with Image.open(file) as image:
                    width, height = image.size
            except (OSError, UnidentifiedImageError) as error:
                raise DataError(f"cannot read image {file}: {error}") from error
            if width != 2 * height:
                bad.append(f"{file.name} ({width}x{height})")
        if bad:
            shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
            raise DataError(
                f"{self.root}: paired images must be twice as wide as high (A left, B right); not so: {shown}"
            )
        self.name = f"paired:{self.root.name}"
        self.domains = ("A", "B") if direction == "AtoB" else ("B", "A")

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = _open(self.files[index], self.channels)
        half = image.width // 2
        a = _to_tensor(image.crop((0, 0, half, image.height)), self.image_size)
        b = _to_tensor(image.crop((half, 0, image.width, image.height)), self.image_size)
        return (a, b) if self.direction == "AtoB" else (b, a)


class _Unpaired(Dataset):
    """Pairs item i of domain A with a seeded random item of domain B; len = the larger domain."""

    def __init__(self, n_a: int, n_b: int, seed: int):
        self.n_a, self.n_b, self.seed = n_a, n_b, int(seed)
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Draw a new (still deterministic) pairing, e.g. once per training epoch."""
        rng = np.random.default_rng([self.seed, int(epoch)])
        self._partner = rng.permutation(len(self)) % self.n_b  # each B used about equally often

    def __len__(self) -> int:
        return max(self.n_a, self.n_b)

    def _indices(self, index: int) -> tuple[int, int]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} pairs")
        index %= len(self)
        return index % self.n_a, int(self._partner[index])


class UnpairedFolders(_Unpaired):
    """CycleGAN unaligned folders ``root/<split>A`` and ``root/<split>B``: (a, b) samples."""

    def __init__(self, root: str | Path, image_size: int = 256, split: str = "train", *,
                 channels: int = 3, seed: int = 0):
        if split not in ("train", "test"):
            raise DataError(f"split must be 'train' or 'test', got {split!r}")
        self.image_size, self.channels = _check_size(image_size), _check_channels(channels)
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"{self.root} is not a folder")
        folders = [self.root / f"{split}A", self.root / f"{split}B"]
        missing = [folder.name for folder in folders if not folder.is_dir()]
        if missing:
            raise DataError(
                f"{self.root}: missing {' and '.join(missing)}; a CycleGAN dataset has "
                f"{split}A/ and {split}B/ folders of images"
            )
        self.files_a, self.files_b = (_image_files(folder) for folder in folders)
        self.name = f"unpaired:{self.root.name}:{split}"
        self.domains = ("A", "B")
        super().__init__(len(self.files_a), len(self.files_b), seed)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        i, j = self._indices(index)
        a = _to_tensor(_open(self.files_a[i], self.channels), self.image_size)
        b = _to_tensor(_open(self.files_b[j], self.channels), self.image_size)
        return a, b


class HorseZebra(_Unpaired):
    """Unpaired horse and zebra silhouettes from animal-mnist: (horse, zebra) samples.

    ``split`` "train" / "test" / "all" is animal-mnist's stratified 800 / 200 per class split.
    Images come bilinearly resized from 28x28; ``channels=3`` repeats the grey channel for
    models built for RGB.
    """

    def __init__(self, image_size: int = 32, split: str = "train", *, channels: int = 1, seed: int = 0):
        self.image_size, self.channels = _check_size(image_size), _check_channels(channels)
        silhouettes = animals(("horse", "zebra"), image_size=image_size, split=split)
        self.horses = silhouettes.images[silhouettes.targets == 0]  # (N, 1, H, W)
        self.zebras = silhouettes.images[silhouettes.targets == 1]
        self.name = f"horse2zebra:{split}"
        self.domains = ("horse", "zebra")
        super().__init__(len(self.horses), len(self.zebras), seed)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        i, j = self._indices(index)
        horse, zebra = self.horses[i], self.zebras[j]  # (1, H, W)
        if self.channels == 3:
            horse, zebra = horse.expand(3, -1, -1).clone(), zebra.expand(3, -1, -1).clone()
        return horse, zebra
