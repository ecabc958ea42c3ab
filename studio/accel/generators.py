"""Fast generation for display: the inference path behind ``studio.imaging.render_grid_png`` and the
latent pages. A cached eval copy of the model with BatchNorm folded into the preceding convolution,
channels_last weights and faster equivalents of DCGAN's transposed convolutions, optionally compiled
with torch.compile (weights frozen). The caller's model is never modified.
"""

from __future__ import annotations

import copy
import threading
import warnings
import weakref
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from studio.accel.common import fold_batchnorm, replace_modules, weights_key


@dataclass
class _Prepared:
    key: tuple  # (data_ptr, version) of every tensor of the original: any weight update changes it
    model: nn.Module  # eval copy: BatchNorm folded, transposed convs rewritten, channels_last
    compiled: Callable | None = None
    compile_failed: bool = False


_PREPARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_PREPARE_LOCK = threading.Lock()  # Streamlit serves sessions from threads


class _ProjectVector(nn.Module):
    """A ConvTranspose2d (padding 0) on a 1x1 input is a matrix product: x (B, Cin) @ W (Cin, Cout k k).

    DCGAN's first layer "projects and reshapes" z this way; as a matmul it takes half the time.
    """

    def __init__(self, conv: nn.ConvTranspose2d):
        super().__init__()
        self.conv = conv
        self.register_buffer("matrix", conv.weight.detach().flatten(1).clone())  # (Cin, Cout * k * k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (1, 1):
            return self.conv(x)
        height, width = self.conv.kernel_size
        out = (x.flatten(1) @ self.matrix).view(x.shape[0], self.conv.out_channels, height, width)
        if self.conv.bias is not None:
            out = out + self.conv.bias[:, None, None]
        return out.contiguous(memory_format=torch.channels_last)  # (B, Cout, k, k)


class _SubPixelConvTranspose(nn.Module):
    """ConvTranspose2d(kernel 4, stride 2, padding 1) as Conv2d(kernel 3, padding 1) to 4x the
    channels, then pixel_shuffle(2) (Shi et al. 2016, "Real-Time Single Image and Video
    Super-Resolution Using an Efficient Sub-Pixel Convolutional Neural Network").

    Output pixel (2m + py, 2n + px) sums input rows m + di with kernel row ky: (di, ky) = (0, 1),
    (-1, 3) for py = 0 and (1, 0), (0, 2) for py = 1 (columns alike); the 3x3 kernel holds those
    four taps per phase, zeros elsewhere. That is 2.25x the multiply-adds, yet for an RGB output
    layer oneDNN's transposed conv with 3 output channels is slower than this conv with 12.
    """

    TAPS = {0: ((0, 1), (-1, 3)), 1: ((1, 0), (0, 2))}

    def __init__(self, conv: nn.ConvTranspose2d):
        super().__init__()
        c_in, c_out = conv.in_channels, conv.out_channels
        kernel = conv.weight.new_zeros(c_out, 2, 2, c_in, 3, 3)  # (Cout, py, px, Cin, 3, 3)
        for py, rows in self.TAPS.items():
            for px, cols in self.TAPS.items():
                for di, ky in rows:
                    for dj, kx in cols:
                        kernel[:, py, px, :, di + 1, dj + 1] = conv.weight[:, :, ky, kx].t()
        self.conv = nn.Conv2d(c_in, 4 * c_out, 3, padding=1, bias=conv.bias is not None)
        self.conv.weight.data = kernel.reshape(4 * c_out, c_in, 3, 3)  # channel = co * 4 + py * 2 + px
        if conv.bias is not None:
            self.conv.bias.data = conv.bias.detach().repeat_interleave(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.pixel_shuffle(self.conv(x), 2)  # (B, 4 Cout, H, W) -> (B, Cout, 2H, 2W)


def _plain(conv: nn.ConvTranspose2d) -> bool:
    return conv.groups == 1 and conv.dilation == (1, 1) and conv.output_padding == (0, 0)


def _faster_transposed_conv(child: nn.Module) -> nn.Module | None:
    """The faster equivalent above of a transposed conv, where its shape allows; else None."""
    if type(child) is not nn.ConvTranspose2d or not _plain(child):
        return None
    if child.padding == (0, 0):
        return _ProjectVector(child)
    if child.kernel_size == (4, 4) and child.stride == (2, 2) and child.padding == (1, 1) and child.out_channels <= 4:
        return _SubPixelConvTranspose(child)
    return None


def _prepared(model: nn.Module) -> _Prepared:
    key = weights_key(model)
    entry = _PREPARED.get(model)
    if entry is not None and entry.key == key:
        return entry
    with _PREPARE_LOCK, torch.no_grad():
        fast = copy.deepcopy(model).eval()
        fold_batchnorm(fast)
        replace_modules(fast, _faster_transposed_conv)
        fast = fast.requires_grad_(False).to(memory_format=torch.channels_last)  # about -10% time on CPU
        entry = _PREPARED[model] = _Prepared(key, fast)
    return entry


def generate_fast(model, z: torch.Tensor, labels: torch.Tensor | None = None, *, compile: bool = False) -> torch.Tensor:
    """``model.generate(z, labels)`` in eval mode, faster: (B, C, H, W) in [-1, 1], channels_last.

    For display, not training: no autograd, and BatchNorm always uses its running statistics.
    The prepared copy is rebuilt whenever a weight of ``model`` changes. ``compile=True`` uses
    torch.compile with frozen weights (the first call per batch shape takes seconds); if it
    fails (no C++ compiler, unsupported model) a warning says so and generation stays eager.
    """
    entry = _prepared(model)
    with torch.no_grad():
        if compile and not entry.compile_failed:
            import torch._inductor.config as inductor_config  # heavy: only when asked to compile

            if entry.compiled is None:
                entry.compiled = torch.compile(entry.model.generate, dynamic=False)
            try:
                with inductor_config.patch(freezing=True):  # weights become constants: conv prepacking
                    return entry.compiled(z, labels)
            except Exception as exc:
                images = entry.model.generate(z, labels)  # a genuine input error raises again here
                entry.compile_failed = True
                warnings.warn(f"torch.compile failed, generating eagerly instead: {exc}", RuntimeWarning)
                return images
        return entry.model.generate(z, labels)
