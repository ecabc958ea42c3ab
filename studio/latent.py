"""Latent-space tools: interpolation paths, truncated sampling, and fast generation for display.

Interpolation follows White, "Sampling Generative Networks" (2016, arXiv:1609.04468): a
d-dimensional Gaussian's mass lies near the sphere of radius sqrt(d), and spherical
interpolation (Shoemake 1985) stays near it where a straight line dips toward the origin.

Truncation trades diversity for fidelity in two ways:
- BigGAN (Brock, Donahue & Simonyan 2019, "Large Scale GAN Training for High Fidelity Natural
  Image Synthesis", arXiv:1809.11096): draw z ~ N(0, I) and redraw entries with |z_i| > threshold.
- StyleGAN (Karras, Laine & Aila 2019, "A Style-Based Generator Architecture for Generative
  Adversarial Networks", arXiv:1812.04948): w' = w_mean + psi * (w - w_mean) in the mapped space.

``generate_fast`` is the inference path behind ``studio.imaging.render_grid_png``: a cached eval
copy of the model with BatchNorm folded into the preceding convolution and channels_last weights,
optionally compiled with torch.compile (weights frozen). The caller's model is never modified.
"""

from __future__ import annotations

import bisect
import copy
import math
import threading
import warnings
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from studio.fastpath import fold_batchnorm, replace_modules, weights_key


def _as_weight(t, like: torch.Tensor) -> torch.Tensor:
    """t as a tensor that broadcasts against like[..., :1]: a 1-D t of N values gives N results."""
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    return t.unsqueeze(-1) if t.dim() > 0 and t.shape[-1] != 1 else t


def lerp(a: torch.Tensor, b: torch.Tensor, t) -> torch.Tensor:
    """Linear interpolation (1 - t) a + t b over the last axis; exact at t = 0 and t = 1.

    ``t`` is a float or a tensor of N weights: a, b (D,) with t (N,) give (N, D).
    """
    t = _as_weight(t, a)
    return (1 - t) * a + t * b


def slerp(a: torch.Tensor, b: torch.Tensor, t, eps: float = 1e-4) -> torch.Tensor:
    """Spherical interpolation over the last axis (batched like ``lerp``).

        cos(omega) = <a, b> / (|a| |b|)
        slerp(a, b; t) = sin((1 - t) omega) / sin(omega) * a + sin(t omega) / sin(omega) * b

    Unit vectors stay unit vectors; Gaussian latents keep a norm near sqrt(d). Where
    sin(omega) < eps (nearly parallel or opposite vectors, or a zero vector) the great circle is
    ill-defined and the result is ``lerp``.
    """
    t = _as_weight(t, a)
    a_norm, b_norm = a.norm(dim=-1, keepdim=True), b.norm(dim=-1, keepdim=True)  # (..., 1)
    cos_omega = (a * b).sum(-1, keepdim=True) / (a_norm * b_norm).clamp_min(1e-30)
    omega = torch.acos(cos_omega.clamp(-1.0, 1.0))  # (..., 1)
    sin_omega = torch.sin(omega)
    degenerate = (sin_omega < eps) | (a_norm * b_norm < 1e-12)
    safe = torch.where(degenerate, torch.ones_like(sin_omega), sin_omega)
    spherical = torch.sin((1 - t) * omega) / safe * a + torch.sin(t * omega) / safe * b
    return torch.where(degenerate, lerp(a, b, t), spherical)


METHODS: dict[str, Callable] = {"lerp": lerp, "slerp": slerp}


def path(points: torch.Tensor, frames: int, method: str = "lerp", loop: bool = False) -> torch.Tensor:
    """``frames`` vectors along a piecewise path through K >= 2 key points (K, D) -> (frames, D).

    Every key point is one of the frames, exactly; the frames in between are spread as evenly as
    the count allows over the K - 1 segments (K segments with ``loop=True``, whose path returns
    toward the first point and stops one step short of it, so the frames repeat seamlessly).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {tuple(METHODS)}, got {method!r}")
    if points.dim() != 2 or points.shape[0] < 2:
        raise ValueError(f"points must be (K, D) with K >= 2, got shape {tuple(points.shape)}")
    count = points.shape[0]
    if frames < count:
        raise ValueError(f"{frames} frames cannot pass through {count} key points")
    points = points if points.is_floating_point() else points.float()
    if loop:
        points = torch.cat([points, points[:1]])  # (K + 1, D)
        keys = [round(i * frames / count) for i in range(count + 1)]
    else:
        keys = [round(i * (frames - 1) / (count - 1)) for i in range(count)]
    segment, weight = [], []
    for frame in range(frames):
        i = min(bisect.bisect_right(keys, frame) - 1, len(keys) - 2)  # the segment that holds this frame
        segment.append(i)
        weight.append((frame - keys[i]) / (keys[i + 1] - keys[i]))
    index = torch.tensor(segment, device=points.device)
    t = torch.tensor(weight, dtype=points.dtype, device=points.device)[:, None]  # (frames, 1)
    return METHODS[method](points[index], points[index + 1], t)  # (frames, D)


def interpolate_labels(classes: Sequence[int], num_classes: int, frames: int, loop: bool = False) -> torch.Tensor:
    """Soft class vectors through the one-hots of ``classes`` -> (frames, num_classes).

    Always linear: a blend of one-hots stays a probability vector, the kind of input a
    conditional generator's one-hot slot was trained on.
    """
    for c in classes:
        if not 0 <= int(c) < num_classes:
            raise ValueError(f"class must lie in [0, {num_classes}), got {c}")
    one_hot = nn.functional.one_hot(torch.as_tensor([int(c) for c in classes]), num_classes).float()
    return path(one_hot, frames, "lerp", loop=loop)


def truncated_normal(n: int, dim: int, threshold: float | None, seed: int | None = None) -> torch.Tensor:
    """(n, dim) float32 draws of N(0, 1) with every |z_i| <= threshold (BigGAN's truncation trick).

    Entries outside are redrawn until inside, so entries already inside equal those of
    ``torch.randn(n, dim)`` from the same seed (the same z that ``model.sample_latent(n, seed)``
    draws). ``threshold`` None or inf gives that plain normal. Deterministic for a seed.
    """
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    z = torch.randn(n, dim, generator=generator)
    if threshold is None or math.isinf(threshold):
        return z
    if not threshold > 0:
        raise ValueError(f"threshold must be positive (or None for no truncation), got {threshold}")
    outside = z.abs() > threshold
    while outside.any():
        z[outside] = torch.randn(int(outside.sum()), generator=generator)
        outside = z.abs() > threshold
    return z


def truncate_toward_mean(w: torch.Tensor, w_mean: torch.Tensor, psi: float) -> torch.Tensor:
    """StyleGAN's truncation trick: w' = w_mean + psi (w - w_mean).

    psi = 1 leaves w unchanged, psi = 0 gives the average image, negative psi the "anti" image.
    """
    return w_mean + psi * (w - w_mean)


# ---------------------------------------------------------------------------------------------
# Fast generation for display


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
