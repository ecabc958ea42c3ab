"""Helpers shared by the fast inference paths (studio.accel.generators, studio.accel.translators).

Both keep a cached eval copy of the caller's model, rebuilt when a weight changes (``weights_key``),
with BatchNorm folded into the preceding convolution (``fold_batchnorm``) and some layers swapped
for faster equivalents (``replace_modules``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


def weights_key(module: nn.Module) -> tuple:
    """(data_ptr, version) of every parameter and buffer: any in-place update or reassignment changes it."""
    return tuple((t.data_ptr(), t._version) for t in itertools.chain(module.parameters(), module.buffers()))


def fold_batchnorm(module: nn.Module) -> int:
    """Fold each (Conv, BatchNorm2d) pair inside a Sequential into one conv, in place; returns how many.

    In eval mode BN is the affine map y = gamma (x - mean) / sqrt(var + eps) + beta per channel,
    which the conv's weight and bias absorb exactly: one pass over the activations less per layer.
    InstanceNorm normalises with the statistics of each image, so it cannot be folded.
    """
    folded = 0
    for child in module.children():
        if isinstance(child, nn.Sequential):
            for i in range(len(child) - 1):
                conv, norm = child[i], child[i + 1]
                if (isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d)) and conv.groups == 1
                        and type(norm) is nn.BatchNorm2d and norm.running_mean is not None):
                    child[i] = fuse_conv_bn_eval(conv, norm, transpose=isinstance(conv, nn.ConvTranspose2d))
                    child[i + 1] = nn.Identity()
                    folded += 1
        folded += fold_batchnorm(child)
    return folded


def replace_modules(module: nn.Module, replacement: Callable[[nn.Module], nn.Module | None]) -> int:
    """Swap, in place, each descendant for which ``replacement`` returns a module; returns how many.

    A swapped module's own children are left alone; the others are searched further down.
    """
    replaced = 0
    for name, child in module.named_children():
        new = replacement(child)
        if new is not None:
            setattr(module, name, new)
            replaced += 1
        else:
            replaced += replace_modules(child, replacement)
    return replaced


def is_channels_last(x: torch.Tensor) -> bool:
    """Whether ``x`` (B, C, H, W) is laid out NHWC (and not also NCHW, as with one channel)."""
    return x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)
