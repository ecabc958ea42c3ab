"""Winograd F(2x2, 3x3) convolution for fast CPU inference.

Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (CVPR 2016, arXiv:1509.09308).
A 3x3 convolution (stride 1) computes each 2x2 block of output pixels from a 4x4 tile of input
pixels: 36 multiplications per channel pair done directly, 16 with Winograd's minimal filtering
algorithm, 2.25x fewer. For one tile d (4x4) and one filter g (3x3):

    Y = A^T [ (G g G^T) * (B^T d B) ] A          (* elementwise, Y is 2x2)

          | 1  0 -1  0 |          | 1    0    0  |
    B^T = | 0  1  1  0 |      G = | 1/2  1/2  1/2|      A^T = | 1  1  1  0 |
          | 0 -1  1  0 |          | 1/2 -1/2  1/2|            | 0  1 -1 -1 |
          | 0  1  0 -1 |          | 0    0    1  |

Summed over the input channels, the elementwise product becomes, for each of the 16 positions
(i, j) of the 4x4 tile, a matrix product (Cout, Cin) @ (Cin, tiles): 16 batched matmuls whose
total work is 16/36 of the direct convolution's. The input transform is additions of strided
slices (tiles overlap by 2 pixels: stride 2), the output transform one small matrix product, and
the filter transform U = G g G^T is computed once, when a model is prepared for inference.
Large images go in bands of tile rows, so that the transformed tiles stay in cache.

Used by studio.translate for the 3x3 convolutions of CycleGAN's residual blocks (256 channels at
64x64 for a 256x256 image: about 88% of the generator's multiplications), where oneDNN's direct
convolution already runs near the CPU's float32 peak; the 16 matmuls do too, and the transforms,
bound by memory traffic, take about a third of the time: a 256-channel 64x64 convolution takes
about 0.8x oneDNN's time on this project's CPUs, fewer channels more (studio.translate uses it
from 256). float32 throughout: in F(2x2, 3x3) the transforms only add, subtract and halve, so
the results stay within about 1e-6 (relative) of a direct convolution.
"""

from __future__ import annotations

import torch
from torch import nn

# F(2x2, 3x3)'s matrices (Lavin & Gray 2016, section 4.1).
B_T = torch.tensor([[1.0, 0.0, -1.0, 0.0],
                    [0.0, 1.0, 1.0, 0.0],
                    [0.0, -1.0, 1.0, 0.0],
                    [0.0, 1.0, 0.0, -1.0]])
G = torch.tensor([[1.0, 0.0, 0.0],
                  [0.5, 0.5, 0.5],
                  [0.5, -0.5, 0.5],
                  [0.0, 0.0, 1.0]])
A_T = torch.tensor([[1.0, 1.0, 1.0, 0.0],
                    [0.0, 1.0, -1.0, -1.0]])
A_T_KRON = torch.kron(A_T, A_T)  # (4, 16): row a * 2 + b, column i * 4 + j holds A^T_ai A^T_bj

BAND_BYTES = 2 * 2**20  # per thread: V for this many bytes of tiles at a time, about a core's L2 cache


def transform_filters(weight: torch.Tensor) -> torch.Tensor:
    """U = G g G^T for every filter: (Cout, Cin, 3, 3) -> (16, Cout, Cin), position i * 4 + j first."""
    g = weight.detach().double()
    u = torch.einsum("ik,ockl,jl->ijoc", G.double(), g, G.double())  # (4, 4, Cout, Cin)
    return u.reshape(16, weight.shape[0], weight.shape[1]).to(weight.dtype).contiguous()


def _tile_rows(d: torch.Tensor, tiles: int, dim: int) -> tuple[torch.Tensor, ...]:
    """The rows d_0..d_3 of every 4-long window at stride 2 along ``dim``: four views, ``tiles`` long there."""
    before = (slice(None),) * dim
    return tuple(d[before + (slice(k, k + 2 * tiles - 1, 2),)] for k in range(4))


def transform_input(x: torch.Tensor, tiles_h: int, tiles_w: int) -> torch.Tensor:
    """V = B^T d B for every 4x4 tile d at stride 2: (B, C, 2 th + 2, 2 tw + 2) -> (16, C, B * th * tw).

    Rows first, then columns, with d_k the k-th row (column) of a tile:
        (B^T d)_0 = d_0 - d_2,  (B^T d)_1 = d_1 + d_2,  (B^T d)_2 = d_2 - d_1,  (B^T d)_3 = d_1 - d_3
    """
    x = x.transpose(0, 1)  # (C, B, H, W): channels first, so each position's V is one (C, tiles) matrix
    v = x.new_empty(4, 4, x.shape[0], x.shape[1], tiles_h, tiles_w)  # (4, 4, C, B, th, tw)
    d0, d1, d2, d3 = _tile_rows(x, tiles_h, 2)  # 4 x (C, B, th, W)
    for i, rows in enumerate((d0 - d2, d1 + d2, d2 - d1, d1 - d3)):  # (B^T d)_i: (C, B, th, W)
        c0, c1, c2, c3 = _tile_rows(rows, tiles_w, 3)  # 4 x (C, B, th, tw)
        torch.sub(c0, c2, out=v[i, 0])
        torch.add(c1, c2, out=v[i, 1])
        torch.sub(c2, c1, out=v[i, 2])
        torch.sub(c1, c3, out=v[i, 3])
    return v.view(16, x.shape[0], -1)  # (16, C, B * th * tw)


def transform_output(m: torch.Tensor, out: torch.Tensor, bias: torch.Tensor | None) -> None:
    """out = A^T m A (+ bias) for every tile: (16, Cout, B * th * tw) -> out (B, Cout, th, 2, tw, 2).

    Y_ab = sum_ij A^T_ai A^T_bj m_ij: for all tiles at once, one matrix product with the
    Kronecker product (A^T kron A^T), (4, 16). Then each of a tile's four pixels (a, b) goes to
    its place, pixel (2 i + a, 2 j + b) of the output.
    """
    batch, channels, tiles_h, _, tiles_w, _ = out.shape
    y = A_T_KRON.to(m.dtype) @ m.view(16, -1)  # (4, Cout * B * th * tw)
    y = y.view(2, 2, channels, batch, tiles_h, tiles_w).transpose(2, 3)  # (a, b, B, Cout, th, tw)
    for a in range(2):
        for b in range(2):
            if bias is None:
                out[:, :, :, a, :, b] = y[a, b]
            else:
                torch.add(y[a, b], bias.view(channels, 1, 1), out=out[:, :, :, a, :, b])


def winograd_conv3x3(x: torch.Tensor, u: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """conv2d(x, weight, bias) for a 3x3 kernel, stride 1, padding 0, with U = transform_filters(weight).

    (B, Cin, H, W) -> (B, Cout, H - 2, W - 2). Odd output sides are computed one pixel larger
    (the input gets a row / column of zeros) and cropped. Large inputs go in bands of tile rows,
    so that V and M stay a few MB (in cache, and no fresh memory to page in for every call).
    """
    batch, _, height, width = x.shape
    out_h, out_w = height - 2, width - 2
    tiles_h, tiles_w = (out_h + 1) // 2, (out_w + 1) // 2
    if out_h % 2 or out_w % 2:
        x = nn.functional.pad(x, (0, out_w % 2, 0, out_h % 2))  # (B, Cin, 2 th + 2, 2 tw + 2)
    out = x.new_empty(batch, u.shape[1], tiles_h, 2, tiles_w, 2)  # (B, Cout, th, 2, tw, 2)
    tile_bytes = 16 * max(u.shape[1], u.shape[2]) * x.element_size()  # of V (or M) per tile
    band_bytes = BAND_BYTES * torch.get_num_threads()  # the threads share the 16 matmuls
    band = max(1, min(tiles_h, band_bytes // (tile_bytes * batch * tiles_w)))  # tile rows at a time
    for top in range(0, tiles_h, band):
        rows = min(band, tiles_h - top)
        v = transform_input(x[:, :, 2 * top: 2 * (top + rows) + 2], rows, tiles_w)  # (16, Cin, B * rows * tw)
        m = torch.bmm(u, v)  # (16, Cout, Cin) @ (16, Cin, tiles) -> (16, Cout, tiles)
        transform_output(m, out[:, :, top: top + rows], bias)
    y = out.view(batch, u.shape[1], 2 * tiles_h, 2 * tiles_w)  # (B, Cout, 2 th, 2 tw)
    return y[:, :, :out_h, :out_w] if (out_h % 2 or out_w % 2) else y


class WinogradConv2d(nn.Module):
    """A Conv2d(kernel 3, stride 1, padding 0) for inference, run as Winograd F(2x2, 3x3) on CPU float32.

    The filter transform is done once here; the conv's own weight and bias are shared, not copied,
    and any other device or dtype runs the plain convolution.
    """

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        if not applies(conv):
            raise ValueError(f"Winograd F(2x2, 3x3) needs a 3x3, stride-1, unpadded, ungrouped conv, got {conv}")
        self.conv = conv
        self.register_buffer("u", transform_filters(conv.weight), persistent=False)  # (16, Cout, Cin)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or x.dtype != torch.float32 or self.u.dtype != torch.float32:
            return self.conv(x)
        return winograd_conv3x3(x, self.u, self.conv.bias)


def applies(conv: nn.Module, min_channels: int = 1) -> bool:
    """Whether ``conv`` is a Conv2d that WinogradConv2d computes: 3x3, stride 1, padding 0, no groups."""
    return (type(conv) is nn.Conv2d and conv.kernel_size == (3, 3) and conv.stride == (1, 1)
            and conv.padding == (0, 0) and conv.dilation == (1, 1) and conv.groups == 1
            and min(conv.in_channels, conv.out_channels) >= min_channels)


def use_winograd(module: nn.Module, min_channels: int = 1) -> int:
    """Replace, in place, each conv of ``module`` that ``applies`` by a WinogradConv2d; returns how many."""
    replaced = 0
    for name, child in module.named_children():
        if applies(child, min_channels):
            setattr(module, name, WinogradConv2d(child))
            replaced += 1
        else:
            replaced += use_winograd(child, min_channels)
    return replaced
