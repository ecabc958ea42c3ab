"""The fast path behind ``studio.translate.translate_tensor``: a cached eval copy of a translation
generator with BatchNorm folded into the preceding convolution (exact in eval mode), run under
``torch.inference_mode``; for the U-Net also channels_last and oneDNN weights packed once instead of
on every call (what torch.compile's weight freezing does, without its seconds of compiling); for
the ResNet channels_last (NHWC) activations throughout, InstanceNorm computed in that layout, and
the residual blocks' 3x3 convolutions as Winograd F(4x4, 3x3) (studio.accel.winograd: 4x fewer
multiplications, float32 throughout). ``compile=True`` adds torch.compile with frozen weights (on
the plain NCHW copy), which also fuses the ResNet's InstanceNorm, ReLU and padding. The caller's
model is never modified. ``python -m bench translate`` measures it against plain eager PyTorch.

Which path wins depends on the CPU: Winograd beats oneDNN's direct convolution on an AVX-512 Xeon
but not on every AVX2 machine, and on an AVX-512 EPYC only with its matrix products run by oneDNN
(MKL's, behind torch.bmm, ran there at half oneDNN's rate). So the first call for each kind of
generator and input shape times every candidate path (plain eager included) and keeps the fastest
for the rest of the process (``chosen_paths`` says which): the fast path is never slower than eager
on the machine it runs on.
"""

from __future__ import annotations

import copy
import itertools
import threading
import time
import warnings
import weakref
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from studio.accel import winograd
from studio.accel.common import fold_batchnorm, is_channels_last, replace_modules, weights_key

# The ResNet's 3x3 convolutions with at least this many input and output channels run as Winograd
# F(4x4, 3x3) (studio.accel.winograd) where that wins. Timed NHWC at 64x64, 2 threads of a 2-core Xeon:
# 256 channels (resnet_9blocks) 7.1 ms against oneDNN's 15.2 ms direct convolution; 128 channels
# 6.0 against 3.6 ms and 64 channels 3.0 against 1.0 ms, where oneDNN's own kernels are the faster.
WINOGRAD_MIN_CHANNELS = 256


def _generator(model, direction: str) -> nn.Module:
    if model.family == "pix2pix":
        return model.generator
    return model.generator_ab if direction == "a2b" else model.generator_ba


@dataclass
class _Prepared:
    key: tuple  # (data_ptr, version) of every tensor of the original: a weight update changes it
    module: nn.Module  # eval copy, BatchNorm folded, maybe channels_last: what torch.compile gets
    channels_last: bool
    packed: nn.Module | None = None  # U-Net: the same with prepacked oneDNN convolutions: the eager path
    nhwc: nn.Module | None = None  # ResNet: the same for NHWC activations, Winograd 3x3 convolutions
    nhwc_direct: nn.Module | None = None  # ResNet: NHWC activations, oneDNN's direct 3x3 convolutions
    nhwc_onednn: nn.Module | None = None  # ResNet: as nhwc, the Winograd products and other convs run by oneDNN, packed
    compiled: Callable | None = None
    compile_failed: bool = False


_PREPARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> {direction: _Prepared}
_LOCK = threading.Lock()  # Streamlit serves sessions from threads
# (generator class, its config, input shape, dtype, device) -> the name of the fastest path, timed at first use
_CHOSEN: dict[tuple, str] = {}
# the paths that need oneDNN's prepacking, and the _Prepared field that holds each: dropped if it fails
PACKED_PATHS = {"packed": "packed", "nhwc-winograd-onednn": "nhwc_onednn"}
TIMED_RUNS = 2  # per candidate, after one untimed warm-up run; the best counts


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


def _pack_convolutions(module: nn.Module) -> int:
    """Make, in place, each 2-D convolution of ``module`` a _PackedConv; returns how many."""
    packable = (nn.Conv2d, nn.ConvTranspose2d)
    return replace_modules(module, lambda child: _PackedConv(child) if type(child) in packable
                           and child.padding_mode == "zeros" else None)


def _with_packed_convolutions(module: nn.Module) -> nn.Module:
    """A copy of ``module`` (sharing its tensors) whose 2-D convolutions are _PackedConv."""
    packed = _sharing_copy(module)
    _pack_convolutions(packed)
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


def _onednn_resnet(nhwc: nn.Module) -> nn.Module:
    """A copy of an ``_nhwc_resnet`` (sharing its tensors, the transformed filters too) whose Winograd
    products run as oneDNN's grouped convolution and whose other convolutions are packed once.

    For CPUs where MKL's matrix products (torch.bmm) lag oneDNN's kernels: on a 2-core AMD EPYC with
    AVX-512, resnet_9blocks took 0.86x of eager on the nhwc path, 0.49-0.56x on this one (stop 28)."""
    fast = _sharing_copy(nhwc)
    for module in fast.modules():
        if isinstance(module, winograd.WinogradConv2d):
            module.product = winograd.OneDNNProduct(module.u)
    _pack_convolutions(fast)  # the stem, down and up convolutions (and the Winograd convs' unused fallbacks)
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
            entry.nhwc_onednn = _onednn_resnet(entry.nhwc)
            entry.nhwc_direct = _sharing_copy(fast)
            _with_nhwc_layers(entry.nhwc_direct)
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


def _candidates(entry: _Prepared, x: torch.Tensor) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """The eager paths that may run ``x``, name -> function; "eager" (the folded copy) is always one."""
    paths: dict[str, Callable] = {}
    if entry.packed is not None and _packing_works(entry.module, x):
        paths["packed"] = entry.packed  # (B, C_out, H, W)
    if entry.nhwc is not None:  # its Winograd convs run the plain convolution on other devices and dtypes
        to_nhwc = lambda m: lambda t: m(t.contiguous(memory_format=torch.channels_last))  # noqa: E731
        paths["nhwc-winograd"] = to_nhwc(entry.nhwc)
        paths["nhwc"] = to_nhwc(entry.nhwc_direct)
        if entry.nhwc_onednn is not None and _packing_works(entry.module, x):
            paths["nhwc-winograd-onednn"] = to_nhwc(entry.nhwc_onednn)
    paths["eager"] = entry.module
    return paths


def _fastest(paths: dict[str, Callable], x: torch.Tensor, *, runs: int = TIMED_RUNS,
             clock: Callable[[], float] = time.perf_counter) -> tuple[str, torch.Tensor]:
    """Time each path on ``x`` (one warm-up, then ``runs`` rounds taking turns; the best of each
    counts) -> (the fastest's name, its output). A path that raises is dropped with a warning."""
    outputs, best = {}, {}
    for name, path in list(paths.items()):
        try:
            outputs[name] = path(x)
        except RuntimeError as exc:  # an op this build lacks: the others remain ("eager" always works)
            if name == "eager":
                raise
            warnings.warn(f"the {name} translation path failed, not using it: {exc}", RuntimeWarning)
            del paths[name]
    for _ in range(runs):
        for name, path in paths.items():
            start = clock()
            outputs[name] = path(x)
            best[name] = min(best.get(name, float("inf")), clock() - start)
    name = min(best, key=best.get)
    return name, outputs[name]


def _choice_key(model, direction: str, x: torch.Tensor) -> tuple:
    generator = _generator(model, direction)
    config = tuple(sorted((k, str(v)) for k, v in (getattr(model, "config", None) or {}).items()))
    return type(generator).__name__, config, direction, tuple(x.shape), x.dtype, x.device.type, torch.get_num_threads()


def chosen_paths() -> dict[tuple, str]:
    """What this process chose so far: (generator, config, direction, shape, dtype, device, threads) -> path."""
    return dict(_CHOSEN)


def translate_fast(model, x: torch.Tensor, direction: str, *, compile: bool = False,
                   path: str | None = None) -> torch.Tensor:
    """The generator of ``model`` for ``direction`` on a checked batch ``x``: (B, C_out, H, W) in [-1, 1].

    For display, not training: no autograd, BatchNorm uses its running statistics, dropout is off.
    The prepared copy is rebuilt whenever a weight of ``model`` changes. The first call per kind of
    generator and input shape times the candidate paths and keeps the fastest for the process;
    ``path`` ("packed", "nhwc-winograd", "nhwc-winograd-onednn", "nhwc" or "eager") runs one of them instead.
    ``compile=True`` uses torch.compile with frozen weights (the first call per input shape takes
    seconds); if that fails, a warning says so and translation stays eager.
    ``studio.translate.translate_tensor`` checks the input first.
    """
    entry = _prepared(model, direction)
    if entry.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        if compile and not entry.compile_failed:
            return _run_compiled(entry, x)
        paths = _candidates(entry, x)
        if path is not None:
            if path not in paths:
                raise ValueError(f"path must be one of {sorted(paths)} here, got {path!r}")
            return paths[path](x)
        key = _choice_key(model, direction, x)
        chosen = _CHOSEN.get(key)
        if chosen in paths:
            try:
                return paths[chosen](x)
            except RuntimeError as exc:  # e.g. prepacking on a oneDNN build that lacks a kernel: choose again
                warnings.warn(f"the {chosen} translation path failed, choosing another: {exc}", RuntimeWarning)
                if chosen in PACKED_PATHS:
                    setattr(entry, PACKED_PATHS[chosen], None)
                paths = _candidates(entry, x)
                paths.pop(chosen, None)
        offered = set(paths)
        chosen, output = _fastest(paths, x)  # drops the paths that fail
        for name, attribute in PACKED_PATHS.items():
            if name in offered and name not in paths:
                setattr(entry, attribute, None)  # prepacking failed: plain convolutions from now on
        _CHOSEN[key] = chosen
        return output  # (B, C_out, H, W)
