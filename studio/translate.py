"""Image-to-image translation for the UIs: any image in, the model's translation out.

Two families (studio/models): pix2pix, "Image-to-Image Translation with Conditional Adversarial
Networks" (Isola et al., CVPR 2017, arXiv:1611.07004), one direction learnt from paired images;
and CycleGAN, "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks"
(Zhu et al., ICCV 2017, arXiv:1703.10593), two generators A -> B and B -> A learnt from unpaired sets.

``translate_image`` takes a uint8 (H, W[, C]) image of any size and channel count, converts it to
what the generator takes (channels; pix2pix's U-Net needs sides that are multiples of 2**depth,
CycleGAN's ResNet multiples of 4) and says what it changed in plain notes. Uploaded files go
through ``read_image`` first (any mode PIL reads: CMYK, 16-bit, palette, alpha...).

The fast path (``translate_tensor``): a cached eval copy of the generator with BatchNorm folded
into the preceding convolution (exact in eval mode), run under ``torch.inference_mode``; for the
U-Net also channels_last and oneDNN weights packed once instead of on every call (what
torch.compile's weight freezing does, without its seconds of compiling); for the ResNet
channels_last (NHWC) activations throughout, InstanceNorm computed in that layout, and the
residual blocks' 3x3 convolutions as Winograd F(4x4, 3x3) (studio.winograd: 4x fewer
multiplications, float32 throughout). ``compile=True`` adds torch.compile with frozen weights
(on the plain NCHW copy), which also fuses the ResNet's InstanceNorm, ReLU and padding.
The caller's model is never modified. ``python -m bench translate`` measures it against plain
eager PyTorch.
"""

from __future__ import annotations

import copy
import itertools
import threading
import warnings
import weakref
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, NamedTuple

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from studio import imaging, winograd
from studio.errors import DataError
from studio.fastpath import fold_batchnorm, is_channels_last, replace_modules, weights_key

DIRECTIONS = ("a2b", "b2a")
FAMILIES = ("pix2pix", "cyclegan")
MAX_UPLOAD_BYTES = 50 * 2**20
# CycleGAN runs at the upload's own size when its longer side is within this factor of the
# training size; further off, the zebra stripes (say) would come out at the wrong scale.
CYCLEGAN_SCALE_RANGE = 2
# A pix2pix input that already fits the U-Net runs as is up to this many times the training area.
PIX2PIX_MAX_AREA = 4
# The ResNet's 3x3 convolutions with at least this many input and output channels run as Winograd
# F(4x4, 3x3) (studio.winograd) where that wins. Timed NHWC at 64x64, 2 threads of a 2-core Xeon:
# 256 channels (resnet_9blocks) 7.1 ms against oneDNN's 15.2 ms direct convolution; 128 channels
# 6.0 against 3.6 ms and 64 channels 3.0 against 1.0 ms, where oneDNN's own kernels are the faster.
WINOGRAD_MIN_CHANNELS = 256


class Sample(NamedTuple):
    name: str
    image: np.ndarray  # uint8 (H, W, C), the model's input
    truth: np.ndarray | None  # uint8 (H, W, C), the paired target; None for unpaired sets


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
    A -> B: its B -> A generator is untrained (studio.interop says so in the description).
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


def _generator(model, direction: str) -> nn.Module:
    if model.family == "pix2pix":
        return model.generator
    return model.generator_ab if direction == "a2b" else model.generator_ba


def _multiple(model) -> int:
    """Input sides must be multiples of this: 2**depth for the U-Net, 4 for the ResNet."""
    return 2 ** model.depth if model.family == "pix2pix" else 4


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
    multiple = _multiple(model)
    pad_h, pad_w = -new_h % multiple, -new_w % multiple
    if pad_h or pad_w:  # only CycleGAN gets here: pix2pix sizes are multiples already
        image = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        notes.append(f"padded from {new_w}x{new_h} to {new_w + pad_w}x{new_h + pad_h} (the ResNet generator "
                     f"takes multiples of {multiple} pixels); the output is cropped back to {new_w}x{new_h}")
    return image, (new_h, new_w), notes


# ----------------------------------------------------------------------------- the fast path


@dataclass
class _Prepared:
    key: tuple  # (data_ptr, version) of every tensor of the original: a weight update changes it
    module: nn.Module  # eval copy, BatchNorm folded, maybe channels_last: what torch.compile gets
    channels_last: bool
    packed: nn.Module | None = None  # U-Net: the same with prepacked oneDNN convolutions: the eager path
    nhwc: nn.Module | None = None  # ResNet: the same for NHWC activations, Winograd 3x3 convolutions: the eager path
    compiled: Callable | None = None
    compile_failed: bool = False


_PREPARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> {direction: _Prepared}
_LOCK = threading.Lock()  # Streamlit serves sessions from threads


class _PackedConv(nn.Module):
    """A Conv2d / ConvTranspose2d whose weights oneDNN reorders once per input shape, not once per call.

    Eager PyTorch hands oneDNN the plain (O, I, kH, kW) weights on every call, and oneDNN copies them
    into its blocked layout each time. The U-Net's inner levels hold most of its 54 M weights at
    1x1 to 16x16 pixels, so that copy costs more than the arithmetic there. These are the ops
    torch.compile's weight freezing emits (torch.ops.mkldnn), called directly: the same convolution.
    """

    def __init__(self, conv: nn.Conv2d | nn.ConvTranspose2d):
        super().__init__()
        self.transposed = isinstance(conv, nn.ConvTranspose2d)
        self.weight, self.bias = conv.weight, conv.bias  # shared with the plain copy, not duplicated
        self.options = dict(padding=list(conv.padding), stride=list(conv.stride), dilation=list(conv.dilation),
                            groups=conv.groups)
        if self.transposed:
            self.options["output_padding"] = list(conv.output_padding)
        self._packed: dict[tuple, torch.Tensor] = {}  # input shape -> weights in oneDNN's layout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o, shape = self.options, tuple(x.shape)
        if shape not in self._packed:
            if len(self._packed) >= 4:  # a few input sizes at a time: each copy is as large as the weights
                self._packed.clear()
            if self.transposed:
                self._packed[shape] = torch.ops.mkldnn._reorder_convolution_transpose_weight(
                    self.weight, o["padding"], o["output_padding"], o["stride"], o["dilation"], o["groups"], list(shape))
            else:
                self._packed[shape] = torch.ops.mkldnn._reorder_convolution_weight(
                    self.weight, o["padding"], o["stride"], o["dilation"], o["groups"], list(shape))
        weight = self._packed[shape]
        if self.transposed:
            return torch.ops.mkldnn._convolution_transpose_pointwise(
                x, weight, self.bias, o["padding"], o["output_padding"], o["stride"], o["dilation"], o["groups"],
                "none", [], "")
        return torch.ops.mkldnn._convolution_pointwise(
            x, weight, self.bias, o["padding"], o["stride"], o["dilation"], o["groups"], "none", [], "")


def _sharing_copy(module: nn.Module) -> nn.Module:
    """A copy of ``module``'s structure that shares its parameters and buffers (no weights duplicated)."""
    shared = {id(t): t for t in itertools.chain(module.parameters(), module.buffers())}
    return copy.deepcopy(module, memo=shared)


def _with_packed_convolutions(module: nn.Module) -> nn.Module:
    """A copy of ``module`` (sharing its tensors) whose 2-D convolutions are _PackedConv."""
    packed = _sharing_copy(module)
    packable = (nn.Conv2d, nn.ConvTranspose2d)
    replace_modules(packed, lambda child: _PackedConv(child) if type(child) in packable and child.padding_mode == "zeros"
                    else None)
    return packed


def _packing_works(module: nn.Module, x: torch.Tensor) -> bool:
    """oneDNN prepacking needs float32 on a CPU build with mkldnn."""
    return (torch.backends.mkldnn.is_available() and x.device.type == "cpu" and x.dtype == torch.float32
            and all(p.dtype == torch.float32 for p in module.parameters()))


class _InstanceNormNHWC(nn.Module):
    """An InstanceNorm2d for channels_last activations that keeps them channels_last.

    nn.InstanceNorm2d views (B, C, H, W) as (1, B * C, H, W) for BatchNorm's kernel, which for NHWC
    data means a copy to NCHW and back: 4-9x the time of the NCHW op. But one image already is a
    BatchNorm batch whose per-channel statistics over (H, W) are the instance's, and BatchNorm's
    kernel runs on NHWC in place: so each image goes through F.batch_norm in training mode (no
    running statistics kept). Shares the norm's affine parameters and buffers.
    """

    def __init__(self, norm: nn.InstanceNorm2d):
        super().__init__()
        self.norm = norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.norm
        if not is_channels_last(x):
            return n(x)
        if n.track_running_stats and not n.training:  # eval with running statistics: an affine map per channel
            return F.batch_norm(x, n.running_mean, n.running_var, n.weight, n.bias, False, 0.0, n.eps)
        images = [F.batch_norm(x[i: i + 1], None, None, n.weight, n.bias, True, 0.0, n.eps) for i in range(x.shape[0])]
        return images[0] if len(images) == 1 else torch.cat(images)


class _ReflectionPadNHWC(nn.Module):
    """A ReflectionPad2d whose output stays channels_last (torch's returns NCHW whatever it gets)."""

    def __init__(self, pad: nn.ReflectionPad2d):
        super().__init__()
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left, right, top, bottom = self.pad.padding
        height, width = x.shape[2:]
        if not is_channels_last(x) or max(left, right) >= width or max(top, bottom) >= height:
            return self.pad(x)  # (too wide a pad: torch's error message)
        h = x.permute(0, 2, 3, 1)  # (B, H, W, C), contiguous
        out = h.new_empty(h.shape[0], height + top + bottom, width + left + right, h.shape[3])
        out[:, top: top + height, left: left + width] = h
        # The edge row / column is the mirror, not repeated: [a0 a1 a2 ...] -> [a2 a1 | a0 a1 a2 ...]
        if top:
            out[:, :top, left: left + width] = h[:, 1: top + 1].flip(1)
        if bottom:
            out[:, top + height:, left: left + width] = h[:, height - 1 - bottom: height - 1].flip(1)
        if left:  # columns last, from the padded rows: the corners come with them
            out[:, :, :left] = out[:, :, left + 1: 2 * left + 1].flip(2)
        if right:
            out[:, :, left + width:] = out[:, :, left + width - 1 - right: left + width - 1].flip(2)
        return out.permute(0, 3, 1, 2)  # (B, C, H', W'), NHWC


def _with_nhwc_layers(module: nn.Module) -> int:
    """Wrap, in place, each InstanceNorm2d and ReflectionPad2d of ``module`` in its NHWC version; returns how many."""
    wrappers = {nn.InstanceNorm2d: _InstanceNormNHWC, nn.ReflectionPad2d: _ReflectionPadNHWC}
    return replace_modules(module, lambda child: wrappers[type(child)](child) if type(child) in wrappers else None)


def _nhwc_resnet(module: nn.Module) -> nn.Module:
    """A copy of ``module`` (sharing its tensors) for channels_last input: InstanceNorm and
    reflection padding that stay NHWC, and the wide 3x3 stride-1 convs as Winograd F(4x4, 3x3) ones.

    On NHWC, oneDNN runs the ResNet's first 7x7 conv (3 input channels) 3x faster and its
    transposed convs 2-3x faster than on NCHW, and the Winograd tile gather and scatter copy whole
    channel vectors; only InstanceNorm and reflection padding needed the rewrites above. Its
    weights stay as they are: oneDNN follows the input's layout.
    """
    fast = _sharing_copy(module)
    _with_nhwc_layers(fast)
    winograd.use_winograd(fast, min_channels=WINOGRAD_MIN_CHANNELS)
    return fast


def _prepared(model, direction: str) -> _Prepared:
    generator = _generator(model, direction)
    key = weights_key(generator)
    entry = _PREPARED.get(model, {}).get(direction)
    if entry is not None and entry.key == key:
        return entry
    with _LOCK, torch.no_grad():
        fast = copy.deepcopy(generator).eval().requires_grad_(False)
        fold_batchnorm(fast)
        # The U-Net's 4x4 stride-2 (transposed) convs run faster on NHWC, and its large inner weights
        # gain most from prepacking. The ResNet runs NHWC too (its convs gain, and its InstanceNorms
        # stay NHWC), with its residual blocks' 3x3 convs, most of its work, as Winograd F(4x4, 3x3).
        is_unet = model.family == "pix2pix"
        if is_unet:
            fast = fast.to(memory_format=torch.channels_last)
        entry = _Prepared(key, fast, channels_last=is_unet)
        if is_unet:
            entry.packed = _with_packed_convolutions(fast)
            _with_nhwc_layers(entry.packed)  # pix2pix with norm="instance"
        else:
            entry.nhwc = _nhwc_resnet(fast)
        _PREPARED.setdefault(model, {})[direction] = entry
    return entry


def _run_compiled(entry: _Prepared, x: torch.Tensor) -> torch.Tensor:
    import torch._inductor.config as inductor_config  # heavy: only when asked to compile

    if entry.compiled is None:
        entry.compiled = torch.compile(entry.module, dynamic=False)
    try:
        with inductor_config.patch(freezing=True):  # weights become constants: conv prepacking
            return entry.compiled(x)
    except Exception as exc:  # no C++ compiler, an unsupported op...: stay eager from now on
        entry.compile_failed = True
        warnings.warn(f"torch.compile failed, translating eagerly instead: {exc}", RuntimeWarning)
        return entry.module(x)


def translate_tensor(model, x: torch.Tensor, direction: str | None = None, *, compile: bool = False) -> torch.Tensor:
    """``model.translate(x[, direction])`` in eval mode, faster: (B, C_out, H, W) in [-1, 1].

    For display, not training: no autograd, BatchNorm uses its running statistics, dropout is off.
    The prepared copy is rebuilt whenever a weight of ``model`` changes. ``compile=True`` uses
    torch.compile with frozen weights (the first call per input shape takes seconds); if that
    fails, a warning says so and translation stays eager.
    """
    direction = _check_direction(model, direction)
    c_in = io_channels(model, direction)[0]
    multiple = _multiple(model)
    if x.dim() != 4 or x.shape[1] != c_in or x.shape[2] % multiple or x.shape[3] % multiple:
        raise ValueError(f"{model.family} {direction} input: expected (B, {c_in}, H, W) with H and W "
                         f"multiples of {multiple}, got {tuple(x.shape)}")
    entry = _prepared(model, direction)
    if entry.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        if compile and not entry.compile_failed:
            return _run_compiled(entry, x)
        if entry.packed is not None and _packing_works(entry.module, x):
            try:
                return entry.packed(x)  # (B, C_out, H, W)
            except RuntimeError as exc:  # an op this oneDNN build lacks: plain convolutions from now on
                entry.packed = None
                warnings.warn(f"prepacked convolutions failed, using plain ones: {exc}", RuntimeWarning)
        if entry.nhwc is not None:  # its Winograd convs run the plain convolution on other devices and dtypes
            return entry.nhwc(x.contiguous(memory_format=torch.channels_last))  # (B, C_out, H, W), NHWC
        return entry.module(x)  # (B, C_out, H, W)


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


def sample_inputs(meta: dict | None, direction: str = "a2b", count: int = 4) -> list[Sample]:
    """Ready-made inputs for a model: [(name, input uint8 (H, W, C), ground truth uint8 | None)].

    Map models get procedural satellite tiles with their map (held-out test tiles of
    studio.data.maps; "b2a" swaps them); horse/zebra models animal-mnist test silhouettes of
    horses ("a2b") or zebras ("b2a"). A model of unknown data: map tiles for pix2pix, silhouettes
    for CycleGAN. Sized to the model's image_size.
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
    from studio.data.animals import animals

    animal = "horse" if direction == "a2b" else "zebra"
    silhouettes = animals((animal,), image_size=size, split="test").images[:count]  # (count, 1, H, W)
    images = imaging.to_uint8(silhouettes)
    return tuple((f"{animal} {i + 1}", _with_channels(image, channel_count), None) for i, image in enumerate(images))


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
