"""Your own images: a folder (searched recursively) or a .zip of pictures, as a studio dataset.

Every readable image (PNG, JPEG, BMP, WebP, GIF (first frame), TIFF, ... whatever Pillow
opens) is decoded once at construction: EXIF rotation applied, transparency flattened onto
white, 16-bit and float grey rescaled to 8 bits, CMYK / palette / bilevel converted, then
**center-cropped to a square and resized** (Lanczos) to ``image_size`` and stored in one
float32 tensor in [-1, 1]. Files Pillow cannot read are skipped and listed in
``.skipped_files``; hidden files and ``__MACOSX`` folders are ignored.

Labels: when every image lies in a subfolder, the subfolder names are the classes
(``cars/audi/1.jpg`` -> "audi"); otherwise everything is one class. A single folder that
wraps everything (as zipping a folder produces) is looked through first.

Zip archives are read member by member in memory and never extracted. An archive with an
absolute or ``..`` member name is refused, and limits on the member count and on the
declared and actual uncompressed sizes stop zip bombs before they are inflated.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from studio.data.mnist import ImageTensorDataset, check_image_size, uint8_to_tensor
from studio.errors import DataError

MAX_MEMBERS = 100_000  # files in one archive
MAX_TOTAL_BYTES = 4 * 1024**3  # declared uncompressed size of one archive
MAX_FILE_BYTES = 64 * 1024**2  # one image file
MAX_PIXELS = 64_000_000  # one decoded image (Pillow itself only warns below about 89 Mpx)
_IGNORED_NAMES = {"thumbs.db", "desktop.ini"}
_HIGH_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I", "F"}
_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}


class FolderDataset(ImageTensorDataset):
    """An ImageTensorDataset that also says which files it used and which it skipped."""

    def __init__(self, images, targets, classes, name, files: list[str], skipped: dict[str, str]):
        super().__init__(images, targets, classes, name)
        self.files = files  # relative names, in dataset order
        self.skipped_files = list(skipped)  # relative names of unreadable files
        self.skip_reasons = skipped  # name -> why it was skipped

    @property
    def skipped(self) -> int:
        return len(self.skipped_files)


def _ignored(name: str) -> bool:
    parts = name.split("/")
    return parts[-1].lower() in _IGNORED_NAMES or any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _unsafe_member(name: str) -> bool:
    # never extracted, but a member like this marks a crafted archive: refuse all of it
    name = name.replace("\\", "/")
    return name.startswith("/") or bool(re.match(r"[A-Za-z]:", name)) or ".." in name.split("/") or "\0" in name


def _folder_sources(root: Path) -> Iterator[tuple[str, object]]:
    """(relative name, path or an Exception) for every file under root, in sorted order."""
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__MACOSX")  # prune .git etc.
        for filename in sorted(filenames):
            path = Path(folder) / filename
            name = path.relative_to(root).as_posix()
            if _ignored(name):
                continue
            try:
                size = path.stat().st_size
            except OSError as error:
                yield name, error
                continue
            yield name, path if size <= MAX_FILE_BYTES else ValueError(f"larger than {MAX_FILE_BYTES} bytes")


def _zip_sources(archive: zipfile.ZipFile, label: str) -> tuple[int, Iterator[tuple[str, object]]]:
    """Check the whole archive, then (count, iterator of (member name, BytesIO or an Exception)).

    Members are read one at a time as the iterator advances, so memory holds one file.
    """
    members = [info for info in archive.infolist() if not info.is_dir()]
    if len(members) > MAX_MEMBERS:
        raise DataError(f"{label} has {len(members)} files; the limit is {MAX_MEMBERS}")
    unsafe = [info.filename for info in members if _unsafe_member(info.filename)]
    if unsafe:
        raise DataError(f"refusing {label}: member {unsafe[0]!r} points outside the archive")
    total = sum(info.file_size for info in members)
    if total > MAX_TOTAL_BYTES:
        raise DataError(f"refusing {label}: it would unpack to {total} bytes (limit {MAX_TOTAL_BYTES})")
    members = sorted((info for info in members if not _ignored(info.filename)), key=lambda info: info.filename)

    def read() -> Iterator[tuple[str, object]]:
        for info in members:
            if info.file_size > MAX_FILE_BYTES:
                yield info.filename, ValueError(f"larger than {MAX_FILE_BYTES} bytes")
                continue
            try:
                with archive.open(info) as stream:
                    # zipfile stops at the declared size; the +1 catches a member that lies about it
                    data = stream.read(MAX_FILE_BYTES + 1)
            except (zipfile.BadZipFile, RuntimeError, OSError, NotImplementedError, EOFError) as error:
                yield info.filename, error  # damaged, encrypted or an unsupported compression
                continue
            yield info.filename, io.BytesIO(data) if len(data) <= MAX_FILE_BYTES else ValueError("too large")

    return len(members), read()


def _to_l_or_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode -> "L" or "RGB" with 8-bit values."""
    if image.mode in _HIGH_BIT_MODES:
        values = np.asarray(image, dtype=np.float64)
        if image.mode.startswith("I;16") or (image.mode == "I" and values.max() > 255):
            values = values / 257.0  # 16-bit 0..65535 -> 0..255 (Pillow's own convert would clip)
        elif image.mode == "F" and values.max() <= 1.0:
            values = values * 255.0  # float images in [0, 1]
        return Image.fromarray(values.round().clip(0, 255).astype(np.uint8), mode="L")
    if image.mode == "P" or (image.mode in ("L", "RGB") and "transparency" in image.info):
        image = image.convert("RGBA")
    if image.mode in _ALPHA_MODES:
        # transparent pixels often hide arbitrary colour: show them as white, like a browser page
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        white.alpha_composite(image.convert("RGBA"))
        return white.convert("RGB")
    if image.mode == "1":
        return image.convert("L")
    return image if image.mode in ("L", "RGB") else image.convert("RGB")  # CMYK, YCbCr, ...


def _decode(source, image_size: int, channels: int) -> np.ndarray:
    """One file -> (image_size, image_size) or (image_size, image_size, 3) uint8."""
    with Image.open(source) as image:
        if image.width * image.height > MAX_PIXELS:
            raise ValueError(f"{image.width}x{image.height} pixels is more than {MAX_PIXELS}")
        image.draft(None, (image_size, image_size))  # JPEG only: decode at a reduced scale, much faster
        image = ImageOps.exif_transpose(image)  # also loads the pixels (first frame of a GIF)
        image = _to_l_or_rgb(image).convert("L" if channels == 1 else "RGB")
        side = min(image.size)
        left, top = (image.width - side) // 2, (image.height - side) // 2
        image = image.resize(
            (image_size, image_size),
            Image.Resampling.LANCZOS,
            box=(left, top, left + side, top + side),  # center crop to a square, in the same pass
            reducing_gap=3.0,
        )
        return np.asarray(image, dtype=np.uint8)


def _labels(files: list[str], fallback: str) -> tuple[list[str], list[int]]:
    """Class names and labels from the first folder level below any single wrapping folder."""
    parts = [name.split("/") for name in files]
    while all(len(p) > 1 for p in parts) and len({p[0] for p in parts}) == 1:
        fallback = parts[0][0]
        parts = [p[1:] for p in parts]
    if not all(len(p) > 1 for p in parts):
        return [fallback], [0] * len(files)
    classes = sorted({p[0] for p in parts})
    index = {name: i for i, name in enumerate(classes)}
    return classes, [index[p[0]] for p in parts]


def image_folder(
    path: str | Path,
    image_size: int,
    channels: int = 3,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> FolderDataset:
    """Images under ``path`` (a folder, recursively, or a .zip), each center-cropped to a square
    and resized to ``image_size``, as (channels, image_size, image_size) in [-1, 1].

    ``channels`` is 1 (grey) or 3 (RGB). ``progress(done, total)`` is called as files are read.
    """
    check_image_size(image_size)
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 (grey) or 3 (RGB), got {channels!r}")
    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise DataError(f"no such folder or zip file: {path}")

    def decode_all(total: int, sources: Iterator[tuple[str, object]]) -> tuple[list, list, dict]:
        files, pixels, skipped = [], [], {}
        for done, (name, source) in enumerate(sources, start=1):
            try:
                if isinstance(source, Exception):
                    raise source
                pixels.append(_decode(source, image_size, channels))
                files.append(name)
            except MemoryError:
                raise
            except Exception as error:  # Pillow raises many types for damaged or unknown files
                skipped[name] = f"{type(error).__name__}: {error}"
            if progress is not None:
                progress(done, total)
        return files, pixels, skipped

    if path.is_dir():
        sources = list(_folder_sources(path))
        files, pixels, skipped = decode_all(len(sources), iter(sources))
    elif zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                files, pixels, skipped = decode_all(*_zip_sources(archive, path.name))
        except zipfile.BadZipFile as error:
            raise DataError(f"{path} is not a readable zip archive: {error}") from error
    else:
        raise DataError(f"{path} is neither a folder nor a .zip archive of images")

    if not files:
        if not skipped:
            raise DataError(f"{path} holds no files: add images (png, jpg, bmp, webp, gif, ...)")
        examples = "; ".join(f"{name} ({why})" for name, why in list(skipped.items())[:3])
        raise DataError(f"none of the {len(skipped)} files in {path} is a readable image, e.g. {examples}")

    classes, labels = _labels(files, fallback=path.stem if path.is_file() else path.name)
    stacked = np.stack(pixels)  # (N, S, S) or (N, S, S, 3)
    if stacked.ndim == 4:
        stacked = stacked.transpose(0, 3, 1, 2)  # (N, 3, S, S)
    images = uint8_to_tensor(stacked, image_size)  # (N, C, S, S)
    return FolderDataset(images, torch.tensor(labels), classes, f"folder:{path.name}", files, skipped)
