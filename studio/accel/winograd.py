"""Winograd F(4x4, 3x3) (and F(2x2, 3x3)) convolution for fast CPU inference.

Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (CVPR 2016, arXiv:1509.09308).
A 3x3 convolution (stride 1) computes each m x m block of output pixels from an r x r tile of
input pixels, r = m + 2 (neighbouring tiles overlap by 2 pixels, so tiles start every m pixels).
Done directly that is 9 m^2 multiplications per channel pair; Winograd's minimal filtering
algorithm needs r^2: 16 instead of 36 for F(2x2, 3x3), 2.25x fewer, and 36 instead of 144 for
F(4x4, 3x3), 4x fewer. For one tile d (r x r) and one filter g (3x3):

    Y = A^T [ (G g G^T) * (B^T d B) ] A          (* elementwise, Y is m x m)

F(4x4, 3x3) interpolates at the points 0, 1, -1, 2, -2 and infinity (section 4.2 of the paper):

          | 4  0 -5  0  1  0 |          | 1/4     0     0 |
          | 0 -4 -4  1  1  0 |          | -1/6 -1/6  -1/6 |        | 1  1  1  1  1  0 |
    B^T = | 0  4 -4 -1  1  0 |      G = | -1/6  1/6  -1/6 |  A^T = | 0  1 -1  2 -2  0 |
          | 0 -2 -1  2  1  0 |          | 1/24 1/12   1/6 |        | 0  1  1  4  4  0 |
          | 0  2 -1 -2  1  0 |          | 1/24 -1/12  1/6 |        | 0  1 -1  8 -8  1 |
          | 0  4  0 -5  0  1 |          | 0       0     1 |

Summed over the input channels, the elementwise product becomes, for each of the r^2 positions
(i, j) of a tile, a matrix product (Cout, Cin) @ (Cin, tiles): r^2 batched matmuls. The input
transform gathers every tile (one strided copy) and applies B^T d B to all of them as one matrix
product with the Kronecker product B^T kron B^T, (r^2, r^2); the output transform likewise with
A^T kron A^T, (m^2, r^2). The filter transform U = G g G^T is computed once (in float64), when a
model is prepared for inference.

Used by studio.translate for the 3x3 convolutions of CycleGAN's residual blocks (256 channels at
64x64 for a 256x256 image: about 88% of the generator's multiplications), where oneDNN's direct
convolution already runs near the CPU's float32 peak; the batched matmuls do too. A 256-channel
64x64 convolution (2 threads) takes about 15 ms direct, 14 ms as F(2x2, 3x3) and 10 ms as
F(4x4, 3x3) on NCHW data; on NHWC (channels_last) data, where the tile gather and scatter copy
whole channel vectors, about 7 ms, of which the batched matmuls take 4.
Accuracy: F(2x2, 3x3) only adds, subtracts and halves, within about 1e-6 (relative) of a direct
convolution in float32; F(4x4, 3x3)'s larger coefficients (up to 8, and 1/24) give about 1e-5
relative (measured: 4e-5 on outputs of size 3, 256 channels), and InstanceNorm keeps that from
growing along a generator's blocks (tests/test_winograd.py checks 1e-4 on a whole generator).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from studio.accel.common import is_channels_last, replace_modules


@dataclass(frozen=True)
class Algorithm:
    """F(m x m, 3 x 3): its matrices B^T (r, r), G (r, 3), A^T (m, r), r = m + 2, in float64."""

    m: int
    b_t: torch.Tensor
    g: torch.Tensor
    a_t: torch.Tensor
    kron_b: torch.Tensor = field(init=False)  # (r^2, r^2) float32: B^T kron B^T
    kron_a: torch.Tensor = field(init=False)  # (m^2, r^2) float32: A^T kron A^T

    def __post_init__(self):
        object.__setattr__(self, "kron_b", torch.kron(self.b_t, self.b_t).float())
        object.__setattr__(self, "kron_a", torch.kron(self.a_t, self.a_t).float())

    @property
    def r(self) -> int:
        return self.m + 2


F2 = Algorithm(  # Lavin & Gray 2016, section 4.1
    m=2,
    b_t=torch.tensor([[1, 0, -1, 0],
                      [0, 1, 1, 0],
                      [0, -1, 1, 0],
                      [0, 1, 0, -1]], dtype=torch.float64),
    g=torch.tensor([[1, 0, 0],
                    [1 / 2, 1 / 2, 1 / 2],
                    [1 / 2, -1 / 2, 1 / 2],
                    [0, 0, 1]], dtype=torch.float64),
    a_t=torch.tensor([[1, 1, 1, 0],
                      [0, 1, -1, -1]], dtype=torch.float64),
)
F4 = Algorithm(  # section 4.2
    m=4,
    b_t=torch.tensor([[4, 0, -5, 0, 1, 0],
                      [0, -4, -4, 1, 1, 0],
                      [0, 4, -4, -1, 1, 0],
                      [0, -2, -1, 2, 1, 0],
                      [0, 2, -1, -2, 1, 0],
                      [0, 4, 0, -5, 0, 1]], dtype=torch.float64),
    g=torch.tensor([[1 / 4, 0, 0],
                    [-1 / 6, -1 / 6, -1 / 6],
                    [-1 / 6, 1 / 6, -1 / 6],
                    [1 / 24, 1 / 12, 1 / 6],
                    [1 / 24, -1 / 12, 1 / 6],
                    [0, 0, 1]], dtype=torch.float64),
    a_t=torch.tensor([[1, 1, 1, 1, 1, 0],
                      [0, 1, -1, 2, -2, 0],
                      [0, 1, 1, 4, 4, 0],
                      [0, 1, -1, 8, -8, 1]], dtype=torch.float64),
)
ALGORITHMS = {2: F2, 4: F4}

# V (the transformed tiles) for at most this many bytes at a time: large images go in bands of tile
# rows, which bounds memory. Not smaller: bands that fit a core's L2 cache (2 MB) were slower, the
# batched matmuls then getting too few tiles (256 channels at 64x64: 12.7 ms in 2 MB bands, 9.5 ms whole).
BAND_BYTES = 64 * 2**20


def transform_filters(weight: torch.Tensor, algorithm: Algorithm = F4) -> torch.Tensor:
    """U = G g G^T for every filter: (Cout, Cin, 3, 3) -> (r^2, Cout, Cin), position i * r + j first."""
    g = algorithm.g
    u = torch.einsum("ik,ockl,jl->ijoc", g, weight.detach().double(), g)  # (r, r, Cout, Cin)
    return u.reshape(algorithm.r ** 2, weight.shape[0], weight.shape[1]).to(weight.dtype).contiguous()


def transform_input(x: torch.Tensor, tiles_h: int, tiles_w: int, algorithm: Algorithm = F4) -> torch.Tensor:
    """V = B^T d B for every r x r tile d at stride m: (B, C, m th + 2, m tw + 2) -> (r^2, C, B * th * tw).

    The tiles are gathered by one strided copy into (r, r, C, B, th, tw), position (k, l) of every
    tile first, so that the transform of all of them is one matrix product with B^T kron B^T.
    """
    m, r = algorithm.m, algorithm.r
    x = x.transpose(0, 1).contiguous()  # (C, B, H, W): channels first, so each position's V is one (C, tiles) matrix
    channels, batch = x.shape[:2]
    s_c, s_b, s_h, s_w = x.stride()
    tiles = x.as_strided((r, r, channels, batch, tiles_h, tiles_w), (s_h, s_w, s_c, s_b, m * s_h, m * s_w))
    d = tiles.contiguous().view(r * r, -1)  # (r^2, C * B * th * tw)
    return (algorithm.kron_b.to(x.dtype) @ d).view(r * r, channels, -1)


def transform_input_nhwc(h: torch.Tensor, tiles_h: int, tiles_w: int, algorithm: Algorithm = F4) -> torch.Tensor:
    """transform_input for channels-last data: (B, m th + 2, m tw + 2, C) -> V (r^2, B * th * tw, C).

    Each gathered tile pixel is a whole C-vector here, one contiguous copy, so the gather runs at
    memory speed (the NCHW gather reads every m-th float)."""
    m, r = algorithm.m, algorithm.r
    batch, channels = h.shape[0], h.shape[3]
    h = h.contiguous()
    s_b, s_h, s_w, s_c = h.stride()
    tiles = h.as_strided((r, r, batch, tiles_h, tiles_w, channels), (s_h, s_w, s_b, m * s_h, m * s_w, s_c))
    d = tiles.contiguous().view(r * r, -1)  # (r^2, B * th * tw * C)
    return (algorithm.kron_b.to(h.dtype) @ d).view(r * r, -1, channels)


def transform_output(product: torch.Tensor, out: torch.Tensor, bias: torch.Tensor | None,
                     algorithm: Algorithm = F4, nhwc: bool = False) -> None:
    """out = A^T M A (+ bias) for every tile: M (r^2, Cout, B * th * tw) -> out (B, Cout, th, m, tw, m);
    with ``nhwc``, M (r^2, B * th * tw, Cout) -> out (B, th, m, tw, m, Cout).

    Y_ab = sum_ij A^T_ai A^T_bj M_ij: for all tiles at once, one matrix product with A^T kron A^T,
    (m^2, r^2). Then one strided copy puts each of a tile's m^2 pixels (a, b) in its place, pixel
    (m i + a, m j + b), adding the bias on the way.
    """
    m = algorithm.m
    y = algorithm.kron_a.to(product.dtype) @ product.view(algorithm.r ** 2, -1)  # (m^2, Cout * tiles)
    if nhwc:
        batch, tiles_h, _, tiles_w, _, channels = out.shape
        y = y.view(m, m, batch, tiles_h, tiles_w, channels).permute(2, 3, 0, 4, 1, 5)  # (B, th, a, tw, b, Cout)
        per_channel = (channels,)
    else:
        batch, channels, tiles_h, _, tiles_w, _ = out.shape
        y = y.view(m, m, channels, batch, tiles_h, tiles_w).permute(3, 2, 4, 0, 5, 1)  # (B, Cout, th, a, tw, b)
        per_channel = (1, channels, 1, 1, 1, 1)
    if bias is None:
        out.copy_(y)
    else:
        torch.add(y, bias.view(per_channel), out=out)


def transform_input_tiles(h: torch.Tensor, tiles_h: int, tiles_w: int, algorithm: Algorithm = F4) -> torch.Tensor:
    """transform_input for channels-last data, tiles first: (B, m th + 2, m tw + 2, C) -> V (B * th * tw, r^2, C).

    The layout oneDNN's grouped convolution takes (OneDNNProduct): each tile's r^2 transformed
    C-vectors side by side. The transform is one small matrix product per tile, B^T kron B^T (r^2, r^2)
    broadcast over the tiles."""
    m, r = algorithm.m, algorithm.r
    batch, channels = h.shape[0], h.shape[3]
    h = h.contiguous()
    s_b, s_h, s_w, s_c = h.stride()
    tiles = h.as_strided((batch, tiles_h, tiles_w, r, r, channels), (s_b, m * s_h, m * s_w, s_h, s_w, s_c))
    d = tiles.contiguous().view(-1, r * r, channels)  # (tiles, r^2, C)
    return algorithm.kron_b.to(h.dtype) @ d


def transform_output_tiles(product: torch.Tensor, out: torch.Tensor, bias: torch.Tensor | None,
                           algorithm: Algorithm = F4) -> None:
    """transform_output for the tiles-first layout: M (B * th * tw, r^2, Cout) -> out (B, th, m, tw, m, Cout)."""
    m = algorithm.m
    batch, tiles_h, _, tiles_w, _, channels = out.shape
    y = algorithm.kron_a.to(product.dtype) @ product  # (tiles, m^2, Cout)
    y = y.view(batch, tiles_h, tiles_w, m, m, channels).permute(0, 1, 3, 2, 4, 5)  # (B, th, a, tw, b, Cout)
    if bias is None:
        out.copy_(y)
    else:
        torch.add(y, bias.view(channels), out=out)


class OneDNNProduct:
    """The r^2 matrix products M_p = V_p U_p of a Winograd convolution as one oneDNN grouped 1x1
    convolution (r^2 groups of Cin -> Cout channels, the tiles as pixels), its weights packed once
    per input shape, on tiles-first data: V (tiles, r^2, Cin) -> M (tiles, r^2, Cout).

    Why: torch.bmm runs on MKL, and MKL's sgemm on an AMD EPYC with AVX-512 reached ~210 GFLOP/s
    (2 threads) where oneDNN's convolutions reached ~480: there the 36 products of a 256-channel
    64x64 F(4x4, 3x3) convolution took 6.5 ms with bmm, 2.8 ms here (3.6 ms unpacked), and the
    whole convolution 5.8 ms against oneDNN's direct 10.2 ms (stop 28).
    """

    def __init__(self, u: torch.Tensor):
        self.positions, self.c_out, self.c_in = u.shape
        self.weight = u.reshape(self.positions * self.c_out, self.c_in, 1, 1)  # group p: U_p^T as 1x1 filters
        self._packed: dict[tuple, torch.Tensor] = {}  # input shape -> weights in oneDNN's layout

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        tiles = v.shape[0]
        x = v.view(1, tiles, 1, self.positions * self.c_in).permute(0, 3, 1, 2)  # (1, r^2 Cin, tiles, 1), NHWC
        shape = tuple(x.shape)
        if shape not in self._packed:
            if len(self._packed) >= 4:  # a few shapes at a time: each copy is as large as U
                self._packed.clear()
            self._packed[shape] = torch.ops.mkldnn._reorder_convolution_weight(
                self.weight, [0, 0], [1, 1], [1, 1], self.positions, list(shape))
        product = torch.ops.mkldnn._convolution_pointwise(
            x, self._packed[shape], None, [0, 0], [1, 1], [1, 1], self.positions, "none", [], "")
        return product.permute(0, 2, 3, 1).reshape(tiles, self.positions, self.c_out)  # NHWC: a view


def winograd_conv3x3(x: torch.Tensor, u: torch.Tensor, bias: torch.Tensor | None = None,
                     algorithm: Algorithm = F4, onednn: OneDNNProduct | None = None) -> torch.Tensor:
    """conv2d(x, weight, bias) for a 3x3 kernel, stride 1, padding 0, with U = transform_filters(weight, algorithm).

    (B, Cin, H, W) -> (B, Cout, H - 2, W - 2), in x's memory format: NCHW, or NHWC (channels_last),
    which runs faster (its tile gather and scatter copy whole channel vectors). Output sides that
    are not multiples of m are computed larger (the input gets rows / columns of zeros) and
    cropped. Large inputs go in bands of tile rows (BAND_BYTES). With ``onednn`` (NHWC input only),
    the products run as oneDNN's grouped convolution on tiles-first data instead of torch.bmm.
    """
    m = algorithm.m
    if u.shape[0] != algorithm.r ** 2:
        raise ValueError(f"U has {u.shape[0]} tile positions; F({m}x{m}, 3x3) needs {algorithm.r ** 2}")
    nhwc = is_channels_last(x)
    batch, _, height, width = x.shape
    c_out = u.shape[1]
    out_h, out_w = height - 2, width - 2
    tiles_h, tiles_w = -(-out_h // m), -(-out_w // m)
    pad_h, pad_w = m * tiles_h - out_h, m * tiles_w - out_w
    if pad_h or pad_w:
        x = nn.functional.pad(x, (0, pad_w, 0, pad_h))  # (B, Cin, m th + 2, m tw + 2)
    tile_bytes = algorithm.r ** 2 * max(u.shape[1], u.shape[2]) * x.element_size()  # of V (or M) per tile
    band = max(1, min(tiles_h, BAND_BYTES // (tile_bytes * batch * tiles_w)))  # tile rows at a time
    if onednn is not None and not nhwc:
        raise ValueError("the oneDNN product takes channels_last input")
    if nhwc:
        h = x.permute(0, 2, 3, 1)  # (B, H, W, Cin)
        out = x.new_empty(batch, tiles_h, m, tiles_w, m, c_out)  # (B, th, m, tw, m, Cout)
        for top in range(0, tiles_h, band):
            rows = min(band, tiles_h - top)
            if onednn is not None:
                v = transform_input_tiles(h[:, m * top: m * (top + rows) + 2], rows, tiles_w, algorithm)  # (tiles, r^2, Cin)
                transform_output_tiles(onednn(v), out[:, top: top + rows], bias, algorithm)
                continue
            v = transform_input_nhwc(h[:, m * top: m * (top + rows) + 2], rows, tiles_w, algorithm)  # (r^2, tiles, Cin)
            product = torch.bmm(v, u.transpose(1, 2))  # (r^2, tiles, Cin) @ (r^2, Cin, Cout) -> (r^2, tiles, Cout)
            transform_output(product, out[:, top: top + rows], bias, algorithm, nhwc=True)
        y = out.view(batch, m * tiles_h, m * tiles_w, c_out).permute(0, 3, 1, 2)  # (B, Cout, H', W') as NHWC
    else:
        out = x.new_empty(batch, c_out, tiles_h, m, tiles_w, m)  # (B, Cout, th, m, tw, m)
        for top in range(0, tiles_h, band):
            rows = min(band, tiles_h - top)
            v = transform_input(x[:, :, m * top: m * (top + rows) + 2], rows, tiles_w, algorithm)  # (r^2, Cin, tiles)
            product = torch.bmm(u, v)  # (r^2, Cout, Cin) @ (r^2, Cin, tiles) -> (r^2, Cout, tiles)
            transform_output(product, out[:, :, top: top + rows], bias, algorithm)
        y = out.view(batch, c_out, m * tiles_h, m * tiles_w)  # (B, Cout, m th, m tw)
    if pad_h or pad_w:
        return y[:, :, :out_h, :out_w].contiguous(memory_format=torch.channels_last if nhwc else torch.contiguous_format)
    return y


class WinogradConv2d(nn.Module):
    """A Conv2d(kernel 3, stride 1, padding 0) for inference, run as Winograd F(m x m, 3x3) on CPU float32.

    The filter transform is done once here; the conv's own weight and bias are shared, not copied,
    and any other device or dtype runs the plain convolution.
    """

    def __init__(self, conv: nn.Conv2d, m: int = 4, onednn: bool = False):
        super().__init__()
        if not applies(conv):
            raise ValueError(f"Winograd F(mxm, 3x3) needs a 3x3, stride-1, unpadded, ungrouped conv, got {conv}")
        if m not in ALGORITHMS:
            raise ValueError(f"Winograd output tiles of side {', '.join(map(str, ALGORITHMS))}, got {m}")
        self.conv, self.algorithm = conv, ALGORITHMS[m]
        self.register_buffer("u", transform_filters(conv.weight, self.algorithm), persistent=False)  # (r^2, Cout, Cin)
        # the products as oneDNN's grouped convolution (OneDNNProduct) on channels_last input, else torch.bmm
        self.product = OneDNNProduct(self.u) if onednn else None

    def extra_repr(self) -> str:
        return f"F({self.algorithm.m}x{self.algorithm.m}, 3x3)" + (", oneDNN products" if self.product else "")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or x.dtype != torch.float32 or self.u.dtype != torch.float32:
            return self.conv(x)
        product = self.product if is_channels_last(x) else None
        return winograd_conv3x3(x, self.u, self.conv.bias, self.algorithm, product)


def applies(conv: nn.Module, min_channels: int = 1) -> bool:
    """Whether ``conv`` is a Conv2d that WinogradConv2d computes: 3x3, stride 1, padding 0, no groups."""
    return (type(conv) is nn.Conv2d and conv.kernel_size == (3, 3) and conv.stride == (1, 1)
            and conv.padding == (0, 0) and conv.dilation == (1, 1) and conv.groups == 1
            and min(conv.in_channels, conv.out_channels) >= min_channels)


def use_winograd(module: nn.Module, min_channels: int = 1, m: int = 4, onednn: bool = False) -> int:
    """Replace, in place, each conv of ``module`` that ``applies`` by a WinogradConv2d; returns how many."""
    return replace_modules(module, lambda child: WinogradConv2d(child, m, onednn) if applies(child, min_channels)
                           else None)
