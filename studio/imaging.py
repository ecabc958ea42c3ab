"""Images in and out of the studio: tensors <-> uint8 arrays, grids, PNG / GIF / MP4 bytes, uploads.

Conventions: model images are float tensors (B, C, H, W) in [-1, 1]; everything a UI shows is
``np.uint8`` channels-last, (B, H, W, C) for batches and (H, W, C) for one image, with C = 1
(grayscale) or 3 (RGB). Grayscale keeps its channel axis; ``array[..., 0]`` drops it.

``render_grid_png`` is the interactive path "latent batch -> PNG a browser can show", the one
``python -m bench generate`` measures against torchvision's ``save_image``. The PNG encoder here
writes the file itself (Up filter + zlib's run-length strategy) because PIL's adaptive filter
search at its default level costs as much as generating a 16-image grid.
"""

from __future__ import annotations

import io
import math
import os
import struct
import tempfile
import warnings
import zlib

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from studio.errors import DataError
from studio.accel import generate_fast

MAX_UPLOAD_PIXELS = 4096 * 4096  # far below PIL's 89 M-pixel bomb warning, still any photo
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_COLOR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> gray, gray+alpha, RGB, RGBA


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(B, C, H, W) floats in [-1, 1] -> (B, H, W, C) uint8; a 1-channel batch stays (B, H, W, 1).

    Rounds like ``torchvision.utils.save_image(normalize=True, value_range=(-1, 1))``. A
    channels_last input (what the fast generator returns) needs no transposing copy.
    """
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise ValueError(f"expected a (B, C, H, W) tensor in [-1, 1], got {_describe(images)}")
    hwc = images.detach().permute(0, 2, 3, 1)  # (B, H, W, C)
    # 255 * (x + 1) / 2 + 0.5, truncated: the same rounding as save_image.
    scaled = hwc.float().add(1.0).mul_(127.5).add_(0.5).clamp_(0.0, 255.0)
    return scaled.to(torch.uint8).cpu().numpy()


def from_uint8(array: np.ndarray) -> torch.Tensor:
    """uint8 (H, W), (H, W, C) or (B, H, W, C) -> float (B, C, H, W) in [-1, 1] (B = 1 for one image)."""
    array = np.asarray(array)
    if array.dtype != np.uint8 or array.ndim not in (2, 3, 4):
        raise ValueError(f"expected a uint8 (H, W[, C]) or (B, H, W, C) array, got {array.dtype} {array.shape}")
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim == 3:
        array = array[None]
    tensor = torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2)  # (B, C, H, W)
    return tensor.float().div_(127.5).sub_(1.0).contiguous()


def _describe(value) -> str:
    shape = getattr(value, "shape", None)
    return f"{type(value).__name__} of shape {tuple(shape)}" if shape is not None else type(value).__name__


def as_uint8_batch(images) -> np.ndarray:
    """A tensor (B, C, H, W) in [-1, 1], a uint8 array (B, H, W[, C]) or a list of (H, W[, C]) arrays
    -> uint8 (B, H, W, C)."""
    if isinstance(images, torch.Tensor):
        return to_uint8(images)
    if isinstance(images, (list, tuple)):
        images = np.stack([np.asarray(frame) for frame in images]) if len(images) else np.zeros((0, 1, 1, 1))
    array = np.asarray(images)
    if array.dtype != np.uint8:
        raise ValueError(f"expected uint8 images (or a float tensor in [-1, 1]), got dtype {array.dtype}")
    if array.ndim == 3:  # (B, H, W) grayscale
        array = array[..., None]
    if array.ndim != 4 or array.shape[-1] not in _PNG_COLOR_TYPE or not len(array):
        raise ValueError(f"expected a non-empty batch (B, H, W, C) with C in 1..4, got shape {array.shape}")
    return array


def grid(images, nrow: int | None = None, padding: int = 2, pad_value: int = 0) -> np.ndarray:
    """Tile a batch into one uint8 (H, W, C) image, ``nrow`` images per row (default: a square-ish grid).

    The layout is ``torchvision.utils.make_grid``'s: ``padding`` pixels of ``pad_value`` around
    every cell, empty cells left blank. Accepts what ``as_uint8_batch`` accepts.
    """
    if (nrow is not None and nrow < 1) or padding < 0:
        raise ValueError(f"nrow must be >= 1 and padding >= 0, got nrow={nrow}, padding={padding}")
    batch = as_uint8_batch(images)  # (B, H, W, C)
    count, height, width, channels = batch.shape
    cols = min(count, nrow or math.ceil(math.sqrt(count)))
    rows = math.ceil(count / cols)
    cell_h, cell_w = height + padding, width + padding
    canvas = np.full((rows * cell_h + padding, cols * cell_w + padding, channels), pad_value, np.uint8)
    if rows * cols != count:  # blank cells keep pad_value, as in make_grid
        blank = np.full((rows * cols - count, height, width, channels), pad_value, np.uint8)
        batch = np.concatenate([batch, blank])
    # A view of the canvas as (rows, cell_h, cols, cell_w, C): one strided copy places every image.
    cells = canvas[padding:, padding:].reshape(rows, cell_h, cols, cell_w, channels)
    cells[:, :height, :, :width] = batch.reshape(rows, cols, height, width, channels).transpose(0, 2, 1, 3, 4)
    return canvas


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(tag)))


def png_bytes(array: np.ndarray, compress_level: int = 1) -> bytes:
    """A uint8 (H, W) or (H, W, C) image (C = 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA) -> PNG file bytes.

    Every row uses PNG filter 2 ("Up": the difference to the row above), which suits smooth
    images. Levels 1-3 then use zlib's run-length strategy: several times faster than PIL's
    level 1, and on photos and GAN samples within a few percent of PIL's default level 6 in size
    (it only finds repeats of one byte, so patterns that repeat every pixel, like a colour
    gradient down the image, compress less). Levels 4-9 use zlib's default strategy (slower,
    smaller, for files kept on disk); 0 stores uncompressed.
    """
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] not in _PNG_COLOR_TYPE or 0 in array.shape:
        raise ValueError(f"expected a uint8 (H, W) or (H, W, C) image with C in 1..4, got {array.dtype} {array.shape}")
    if not 0 <= compress_level <= 9:
        raise ValueError(f"compress_level must lie in 0..9, got {compress_level}")
    height, width, channels = array.shape
    rows = array.reshape(height, width * channels)
    filtered = np.empty((height, width * channels + 1), np.uint8)  # a filter-type byte, then the row
    filtered[:, 0] = 2
    filtered[0, 1:] = rows[0]  # the row above the first is zeros
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])  # wraps modulo 256, as PNG specifies
    strategy = zlib.Z_RLE if compress_level <= 3 else zlib.Z_DEFAULT_STRATEGY
    compressor = zlib.compressobj(compress_level, zlib.DEFLATED, 15, 8, strategy)
    data = compressor.compress(filtered.data) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, _PNG_COLOR_TYPE[channels], 0, 0, 0)
    return PNG_SIGNATURE + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", data) + _png_chunk(b"IEND", b"")


def to_pil(array: np.ndarray) -> Image.Image:
    """uint8 (H, W) or (H, W, C) -> a PIL image (mode L, LA, RGB or RGBA)."""
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    return Image.fromarray(np.ascontiguousarray(array))


def upscale(images: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement of (..., H, W, C) uint8 images, e.g. 28-pixel digits for a video."""
    if factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    return np.repeat(np.repeat(images, factor, axis=-3), factor, axis=-2) if factor > 1 else images


def gif_bytes(frames, fps: float = 12, loop: int | None = 0, scale: int = 1) -> bytes:
    """Frames (see ``as_uint8_batch``) -> animated GIF bytes; ``loop=0`` repeats forever, None plays once.

    Each RGB frame gets its own 256-colour palette (fast octree: about 0.2 ms for a 32-pixel frame
    where PIL's default median cut takes 4 ms, with a similar error), chosen at the frame's own size
    before it is enlarged ``scale`` times (nearest neighbour); a frame that repeats an earlier one
    reuses its palette. GIF stores delays in 1/100 s, so fps above 50 is not honoured by browsers;
    PIL merges consecutive identical frames into one longer frame.
    """
    batch = as_uint8_batch(frames)  # (T, H, W, C)
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    done: dict[bytes, Image.Image] = {}
    pictures = []
    for frame in batch:
        key = frame.tobytes()
        if key not in done:
            picture = to_pil(frame[..., :3] if frame.shape[-1] >= 3 else frame[..., :1])
            if picture.mode == "RGB":
                picture = picture.quantize(256, method=Image.Quantize.FASTOCTREE)
            if scale > 1:
                picture = picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST)
            done[key] = picture
        pictures.append(done[key])
    options = {"duration": max(20, round(1000 / fps))}
    if loop is not None:
        options["loop"] = loop
    buffer = io.BytesIO()
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:], optimize=False, **options)
    return buffer.getvalue()


def mp4_bytes(frames, fps: float = 12) -> bytes:
    """Frames (see ``as_uint8_batch``) -> H.264 MP4 bytes (yuv420p, faststart) that browsers play.

    yuv420p needs even sizes, so odd heights and widths get one black row or column. Uses the
    ffmpeg binary that imageio-ffmpeg bundles.
    """
    import imageio_ffmpeg  # imported here: it looks for its ffmpeg binary on import

    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    batch = as_uint8_batch(frames)[..., :3]  # alpha is dropped: H.264 has none
    if batch.shape[-1] == 1:
        batch = np.repeat(batch, 3, axis=-1)
    elif batch.shape[-1] == 2:  # gray + alpha
        batch = np.repeat(batch[..., :1], 3, axis=-1)
    count, height, width, _ = batch.shape
    padded = np.zeros((count, height + height % 2, width + width % 2, 3), np.uint8)
    padded[:, :height, :width] = batch
    handle, path = tempfile.mkstemp(suffix=".mp4")
    os.close(handle)
    try:
        writer = imageio_ffmpeg.write_frames(
            path, (padded.shape[2], padded.shape[1]), fps=fps, codec="libx264", pix_fmt_out="yuv420p",
            macro_block_size=1, quality=8, output_params=["-movflags", "+faststart"], ffmpeg_log_level="error",
        )
        writer.send(None)  # start ffmpeg
        for frame in padded:
            writer.send(np.ascontiguousarray(frame))
        writer.close()
        with open(path, "rb") as file:
            return file.read()
    finally:
        os.unlink(path)


# ---------------------------------------------------------------------------------------------
# Uploads


def _high_depth_to_l(picture: Image.Image, notes: list[str]) -> Image.Image:
    """Modes I;16*, I and F (16/32-bit gray) -> 8-bit L, scaled rather than clipped."""
    values = np.asarray(picture).astype(np.float64)
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if picture.mode.startswith("I;16") or (picture.mode == "I" and low >= 0 and 255 < high <= 65535):
        values, note = values / 257.0, "16-bit image scaled to 8-bit"
    elif picture.mode == "I" and low >= 0 and high <= 255:
        note = "32-bit integer image converted to 8-bit"
    elif picture.mode == "F" and low >= 0 and high <= 1:
        values, note = values * 255.0, "floating-point image scaled to 8-bit"
    else:  # an arbitrary range: stretch it to 0..255
        values = (values - low) * (255.0 / (high - low)) if high > low else values * 0
        kind = "floating-point" if picture.mode == "F" else "32-bit"
        note = f"{kind} image rescaled from [{low:g}, {high:g}] to 8-bit"
    notes.append(note)
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), mode="L")


def _to_rgb_or_l(picture: Image.Image, notes: list[str]) -> Image.Image:
    mode = picture.mode
    if mode in ("L", "RGB"):
        return picture
    if mode == "1":
        notes.append("converted from 1-bit black and white to 8-bit grayscale")
        return picture.convert("L")
    if mode.startswith("I") or mode == "F":
        return _high_depth_to_l(picture, notes)
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in picture.info
        notes.append("converted from a palette (P) image to RGB")
        picture = picture.convert("RGBA" if has_alpha else "RGB")
        mode = picture.mode
    if mode in ("RGBA", "LA", "RGBa", "La"):
        # Transparent pixels often hide arbitrary colours: show them on white, as a browser would.
        base_mode = "RGB" if mode.startswith("RGB") else "L"
        background = Image.new(base_mode, picture.size, 255 if base_mode == "L" else (255, 255, 255))
        background.paste(picture.convert(base_mode), mask=picture.getchannel("A"))
        notes.append("alpha channel dropped (transparent areas made white)")
        return background
    if mode == "RGB":
        return picture
    notes.append(f"converted from {mode} to RGB")  # CMYK, YCbCr, LAB, HSV, RGBX
    return picture.convert("RGB")


def load_upload(
    data: bytes,
    *,
    max_bytes: int,
    channels: int,
    size: int | tuple[int, int] | None = None,
    max_pixels: int = MAX_UPLOAD_PIXELS,
    name: str = "the upload",
) -> tuple[np.ndarray, list[str]]:
    """Check and decode an uploaded image file -> (uint8 (H, W, channels), notes for the user).

    Raises DataError for anything that is not a decodable image, a file over ``max_bytes`` and
    an image over ``max_pixels`` (checked from the header, before decoding: decompression bombs).
    Every change made along the way adds a note: EXIF rotation, mode conversion (CMYK, palette,
    16-bit, alpha, ...), channel conversion and resizing. ``size`` (an int for square, or
    (height, width)) resizes with Lanczos, center-cropping first when the aspect ratio differs.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"load_upload takes the file's bytes, got {type(data).__name__}")
    if len(data) > max_bytes:
        raise DataError(f"{name} is {len(data) / 1e6:.1f} MB: images over {max_bytes / 1e6:.1f} MB are refused")
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            picture = Image.open(io.BytesIO(data))
            width, height = picture.size
            if width * height > max_pixels:
                raise DataError(f"{name} is {width}x{height} pixels: images over {max_pixels:,} pixels are refused")
            frame_count = getattr(picture, "n_frames", 1)
            picture.load()
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataError(f"{name} is too large to decode safely: {exc}") from None
    except UnidentifiedImageError:
        raise DataError(f"{name} is not an image (expected PNG, JPEG, GIF, BMP, TIFF or WebP)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise DataError(f"{name} is not an image that can be decoded (damaged or truncated?): {exc}") from None
    if frame_count > 1:
        notes.append(f"first of {frame_count} frames used")
    if picture.getexif().get(0x0112, 1) not in (1, None):  # 0x0112: EXIF Orientation
        picture = ImageOps.exif_transpose(picture)
        notes.append("rotated upright using its EXIF orientation")
    picture = _to_rgb_or_l(picture, notes)
    if channels == 1 and picture.mode == "RGB":
        picture = picture.convert("L")
        notes.append("converted from RGB to grayscale")
    elif channels == 3 and picture.mode == "L":
        picture = picture.convert("RGB")
        notes.append("converted from grayscale to RGB")
    if size is not None:
        target_h, target_w = (size, size) if isinstance(size, int) else size
        if (picture.height, picture.width) != (target_h, target_w):
            before = f"{picture.width}x{picture.height}"
            if picture.width * target_h != picture.height * target_w:
                picture = ImageOps.fit(picture, (target_w, target_h), method=Image.Resampling.LANCZOS)
                notes.append(f"center-cropped and resized from {before} to {target_w}x{target_h}")
            else:
                picture = picture.resize((target_w, target_h), Image.Resampling.LANCZOS)
                notes.append(f"resized from {before} to {target_w}x{target_h}")
    array = np.array(picture)  # a writable copy
    return (array[:, :, None] if array.ndim == 2 else array), notes


# ---------------------------------------------------------------------------------------------
# The interactive path: latent batch -> PNG bytes


def render_grid_png(
    model,
    z: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    nrow: int | None = None,
    padding: int = 2,
    compile: bool = False,
    compress_level: int = 1,
) -> bytes:
    """Generate ``model``'s images for z (B, latent_dim) and return them as one PNG grid.

    What an app calls to show samples: ``studio.accel.generate_fast`` (folded BatchNorm,
    channels_last, optionally compiled), ``grid`` and ``png_bytes``. Matches
    ``save_image(model.generate(z), nrow=nrow, normalize=True, value_range=(-1, 1))`` of the
    model in eval mode to within one grey level.
    """
    images = generate_fast(model, z, labels, compile=compile)  # (B, C, H, W), channels_last
    return png_bytes(grid(images, nrow=nrow, padding=padding), compress_level=compress_level)
