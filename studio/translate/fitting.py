"""Any image into a translation model: fitting it to what the generator takes, and the result back.

Two families (studio/models): pix2pix, "Image-to-Image Translation with Conditional Adversarial
Networks" (Isola et al., CVPR 2017, arXiv:1611.07004), one direction learnt from paired images;
and CycleGAN, "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks"
(Zhu et al., ICCV 2017, arXiv:1703.10593), two generators A -> B and B -> A learnt from unpaired sets.

``translate_image`` takes a uint8 (H, W[, C]) image of any size and channel count, converts it to
what the generator takes (channels; pix2pix's U-Net needs sides that are multiples of 2**depth,
CycleGAN's ResNet multiples of 4) and says what it changed in plain notes. Uploaded files go
through ``read_image`` first (any mode PIL reads: CMYK, 16-bit, palette, alpha...).
``translate_tensor`` checks a batch and runs it through the fast path (studio.accel).
"""

from __future__ import annotations


import numpy as np
import torch
from PIL import Image

from studio import imaging
from studio.errors import DataError
from studio.accel import translate_fast


DIRECTIONS = ("a2b", "b2a")
FAMILIES = ("pix2pix", "cyclegan")
MAX_UPLOAD_BYTES = 50 * 2**20
# CycleGAN runs at the upload's own size when its longer side is within this factor of the
# training size; further off, the zebra stripes (say) would come out at the wrong scale.
CYCLEGAN_SCALE_RANGE = 2
# A pix2pix input that already fits the U-Net runs as is up to this many times the training area.
PIX2PIX_MAX_AREA = 4


# ----------------------------------------------------------------------------- what a model offers


def translation_problem(model) -> str | None:
    """None when ``model`` can drive the translation page, else a sentence saying why it cannot."""
    if model is None:
        return "No model is loaded."
    if getattr(model, "task", "") != "translation" or getattr(model, "family", "") not in FAMILIES:
        return (f"The loaded model is a {getattr(model, 'family', '?')} model (task: "
                f"{getattr(model, 'task', '') or '?'}): it does not translate images. "
                "Load a pix2pix or CycleGAN model, such as a satellite-to-map or horse-to-zebra one.")
    return None


def directions(model, meta: dict | None = None) -> list[str]:
    """The directions ``model`` can translate: pix2pix ["a2b"]; CycleGAN ["a2b", "b2a"].

    A CycleGAN imported from a single reference generator file (``latest_net_G.pth``) holds only
    A -> B: its B -> A generator is untrained (studio.checkpoints.interop says so in the description).
    """
    if translation_problem(model):
        return []
    if model.family == "pix2pix":
        return ["a2b"]
    meta = meta or {}
    if meta.get("directions"):
        return [d for d in DIRECTIONS if d in meta["directions"]]
    if "holds one direction" in str(meta.get("description") or ""):
        return ["a2b"]
    return list(DIRECTIONS)


def dataset_kind(meta: dict | None) -> str | None:
    """"maps", "horse2zebra" or None, read from the checkpoint's dataset, recipe, title and source."""
    meta = meta or {}
    text = " ".join(str(meta.get(k) or "") for k in ("dataset", "recipe", "title", "zoo", "source")).lower()
    if "horse" in text or "zebra" in text:
        return "horse2zebra"
    if "map" in text:
        return "maps"
    return None


def domains(meta: dict | None) -> tuple[str, str]:
    """Names of domains A and B: the checkpoint's own, else what its dataset implies."""
    named = (meta or {}).get("domains")
    if isinstance(named, (list, tuple)) and len(named) == 2:
        return str(named[0]), str(named[1])
    return {"maps": ("satellite photo", "map"), "horse2zebra": ("horse", "zebra")}.get(dataset_kind(meta), ("A", "B"))


def direction_label(direction: str, meta: dict | None = None) -> str:
    """"a2b" -> "satellite photo → map" (or "A → B" when the domains are not known)."""
    a, b = domains(meta)
    return f"{a} → {b}" if direction == "a2b" else f"{b} → {a}"


def _check_direction(model, direction: str | None) -> str:
    direction = direction or "a2b"
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    if model.family == "pix2pix" and direction != "a2b":
        raise ValueError("a pix2pix model translates one way only (a2b): it was trained on input -> target pairs")
    return direction


def io_channels(model, direction: str = "a2b") -> tuple[int, int]:
    """(input channels, output channels) of ``model`` in ``direction``."""
    ins, outs = model.in_channels, model.out_channels
    return (ins, outs) if direction == "a2b" else (outs, ins)


def _multiple(model) -> int:
    """Input sides must be multiples of this: 2**depth for the U-Net, 4 for the ResNet."""
    return 2 ** model.depth if model.family == "pix2pix" else 4


def _min_side(model) -> int:
    """The shortest input side the generator runs on.

    The ResNet's residual blocks reflect-pad by 1 pixel at a quarter of the input's resolution,
    and reflection needs a pixel to mirror on each side: 2 pixels there, 8 at the input. The U-Net
    pads with zeros: any multiple of 2**depth runs.
    """
    return _multiple(model) if model.family == "pix2pix" else 2 * _multiple(model)


# ----------------------------------------------------------------------------- images in


def read_image(data: bytes, *, channels: int = 3, name: str = "the upload",
               max_bytes: int = MAX_UPLOAD_BYTES) -> tuple[np.ndarray, list[str]]:
    """An uploaded file -> (uint8 (H, W, channels), notes); DataError for anything but an image.

    Any mode PIL decodes is converted with a note: CMYK, 16-bit, palette, alpha, EXIF rotation.
    The size is kept: ``translate_image`` fits it to the model.
    """
    return imaging.load_upload(data, max_bytes=max_bytes, channels=channels, name=name)


def _as_uint8(image) -> tuple[np.ndarray, list[str]]:
    """Any uint8 / uint16 / bool (H, W) or (H, W, C <= 4) array -> uint8 (H, W, C), notes."""
    if isinstance(image, torch.Tensor) or not isinstance(image, np.ndarray):
        raise DataError(f"expected an image as a numpy array (H, W[, C]), got {type(image).__name__}")
    notes = []
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 2, 3, 4) or 0 in image.shape:
        raise DataError(f"not an image: expected an (H, W) or (H, W, C) array with C from 1 to 4, "
                        f"got shape {image.shape}")
    if image.dtype == np.uint16:
        image = np.rint(image / 257.0).astype(np.uint8)  # 65535 -> 255 exactly
        notes.append("16-bit image scaled to 8-bit")
    elif image.dtype == np.bool_:
        image = image.astype(np.uint8) * 255
        notes.append("converted from 1-bit black and white to 8-bit grayscale")
    elif image.dtype != np.uint8:
        raise DataError(f"not an image: expected uint8 or uint16 pixels, got dtype {image.dtype}")
    return image, notes


def _convert_channels(image: np.ndarray, wanted: int, notes: list[str]) -> np.ndarray:
    if image.shape[2] in (2, 4):  # show transparent pixels on white, as a browser would
        alpha = image[:, :, -1:].astype(np.float32) / 255.0
        image = np.rint(image[:, :, :-1] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
        notes.append("alpha channel dropped (transparent areas made white)")
    if image.shape[2] == 1 and wanted == 3:
        notes.append("converted from grayscale to RGB")
        return np.repeat(image, 3, axis=2)
    if image.shape[2] == 3 and wanted == 1:
        notes.append("converted from RGB to grayscale")
        return np.asarray(Image.fromarray(image).convert("L"))[:, :, None]  # ITU-R 601 luma, as PIL
    if image.shape[2] != wanted:
        raise ValueError(f"cannot convert {image.shape[2]} channels to {wanted}: the model takes 1 or 3")
    return image


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    picture = Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image)
    array = np.asarray(picture.resize((width, height), Image.Resampling.LANCZOS))
    return array[:, :, None] if array.ndim == 2 else array


def _target_size(model, height: int, width: int) -> tuple[int, int, str]:
    """The (height, width) to resize to before padding, and why ("" when no resize is needed)."""
    size, multiple = model.image_size, _multiple(model)
    if model.family == "pix2pix":
        fits = height % multiple == 0 and width % multiple == 0
        if fits and height * width <= PIX2PIX_MAX_AREA * size * size:
            return height, width, ""
        return size, size, f"the U-Net takes sides that are multiples of {multiple} pixels; it was trained at {size}"
    longer = max(height, width)
    if size / CYCLEGAN_SCALE_RANGE <= longer <= size * CYCLEGAN_SCALE_RANGE:
        return height, width, ""
    scale = size / longer
    why = f"longer side {size}, the size the model was trained at"
    return max(1, round(height * scale)), max(1, round(width * scale)), why


def fit_to_model(model, image, direction: str | None = None) -> tuple[np.ndarray, tuple[int, int], list[str]]:
    """Convert ``image`` into what ``model`` takes: (uint8 (H', W', C_in), (h, w) to crop the output to, notes).

    Channels first (alpha dropped, gray <-> RGB), then the size: pix2pix resizes to its training
    size unless the sides already are multiples of 2**depth; CycleGAN keeps the size (rescaled only
    when far from its training size) and pads to multiples of 4, cropping the output back.
    """
    direction = _check_direction(model, direction)
    image, notes = _as_uint8(image)
    image = _convert_channels(image, io_channels(model, direction)[0], notes)
    height, width = image.shape[:2]
    new_h, new_w, why = _target_size(model, height, width)
    if (new_h, new_w) != (height, width):
        image = _resize(image, new_h, new_w)
        notes.append(f"resized from {width}x{height} to {new_w}x{new_h} ({why})")
    multiple, least = _multiple(model), _min_side(model)
    pad_h, pad_w = (max(side + -side % multiple, least) - side for side in (new_h, new_w))
    if pad_h or pad_w:  # only CycleGAN gets here: pix2pix sizes are multiples already
        image = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        why = f"takes multiples of {multiple} pixels"
        if min(new_h, new_w) < least:  # a thin strip, such as 2x300 scaled to 1x32
            why += f", at least {least}"
        notes.append(f"padded from {new_w}x{new_h} to {new_w + pad_w}x{new_h + pad_h} (the ResNet generator "
                     f"{why}); the output is cropped back to {new_w}x{new_h}")
    return image, (new_h, new_w), notes


def translate_tensor(model, x: torch.Tensor, direction: str | None = None, *, compile: bool = False) -> torch.Tensor:
    """``model.translate(x[, direction])`` in eval mode, faster: (B, C_out, H, W) in [-1, 1].

    For display, not training: no autograd, BatchNorm uses its running statistics, dropout is off.
    The prepared copy is rebuilt whenever a weight of ``model`` changes. ``compile=True`` uses
    torch.compile with frozen weights (the first call per input shape takes seconds); if that
    fails, a warning says so and translation stays eager.
    """
    direction = _check_direction(model, direction)
    c_in = io_channels(model, direction)[0]
    multiple, least = _multiple(model), _min_side(model)
    if (x.dim() != 4 or x.shape[1] != c_in or x.shape[2] % multiple or x.shape[3] % multiple
            or min(x.shape[2:]) < least):
        raise ValueError(f"{model.family} {direction} input: expected (B, {c_in}, H, W) with H and W "
                         f"multiples of {multiple}, at least {least}, got {tuple(x.shape)}")
    return translate_fast(model, x, direction, compile=compile)


def translate_image(model, image, direction: str | None = None, *, compile: bool = False) -> tuple[np.ndarray, list[str]]:
    """Translate one image: uint8 (H, W[, C]) -> (uint8 (H', W', C_out), notes on every conversion).

    ``direction`` is "a2b" (default) or, for CycleGAN, "b2a". The output has the size the model
    ran at (after the resizing the notes describe), with padding cropped off.
    """
    direction = _check_direction(model, direction)
    ready, (height, width), notes = fit_to_model(model, image, direction)
    device = next(model.parameters()).device
    ready = np.require(ready, requirements=["C", "W"])  # PIL's arrays are read-only; torch wants writable
    x = torch.from_numpy(ready).to(device).permute(2, 0, 1)[None]  # (1, C, H, W) uint8
    x = x.float().div_(127.5).sub_(1.0)
    y = translate_tensor(model, x, direction, compile=compile)[:, :, :height, :width]
    return imaging.to_uint8(y)[0], notes  # (H, W, C_out)


# ----------------------------------------------------------------------------- samples and scores
