"""StyleGAN: a style-based generator (Karras, Laine & Aila 2019, "A Style-Based Generator
Architecture for Generative Adversarial Networks", arXiv:1812.04948), grown progressively as in
ProGAN (Karras, Aila, Laine & Lehtinen 2018, "Progressive Growing of GANs for Improved Quality,
Stability, and Variation", arXiv:1710.10196). The API splits like NVlabs' reference code:

    w = model.mapping(z, psi=0.7, cutoff=None)   # (B, num_ws, w_dim)
    x = model.synthesis(w, noise_mode="const")   # (B, C, H, W) in [-1, 1]

Generator (section 2 of the paper):
- mapping network f: z -> w, ``mapping_layers`` fully connected layers (the paper uses 8, the
  course 3) on the normalised z, at 1/100 of the learning rate (lr_mul 0.01, as in the paper);
- a learned 4x4 constant input instead of z;
- per convolution: noise injection ``x + B * noise`` with learned per-channel scales B (zero at
  start), then AdaIN(x, y) = y_s * (x - mean(x)) / std(x) + y_b with (y_s, y_b) = A(w), an affine
  map of that layer's w. Two convolutions per resolution, so num_ws = 2 * (number of resolutions)
  and layer i draws at resolution 4 * 2^(i // 2): layers 0-1 are 4x4, 2-3 are 8x8, ...;
- a to-RGB (1x1 conv) at every resolution. Nearest upsampling (the paper's blur is left out).

Progressive growing (ProGAN, section 3): ``set_stage(resolution, alpha)`` says where training
stands. While a new resolution r fades in, the output is
``(1 - alpha) * upsample(rgb_{r/2}) + alpha * rgb_r``; the discriminator blends its from-RGB inputs
the same way. The stage is a buffer, so a checkpoint draws at the stage it was trained to;
``generate`` upsamples to ``image_size`` (nearest) so that every grid has one size.

Discriminator (what makes StyleGAN train well, all from ProGAN / StyleGAN): equalized learning
rate (weights ~ N(0, 1) scaled by He's constant at run time) in both networks, minibatch standard
deviation before the last block, non-saturating loss with R1 on reals (training/losses.py).

Truncation in W (section 2.4 of the paper): w' = w_avg + psi (w - w_avg) on the first ``cutoff``
layers (``cutoff=None``: all layers). ``w_avg`` is an EMA of w over training, saved with the
weights. Style mixing (section 3.1): ``mix(w_a, w_b, layers)`` takes the given layers from w_b.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from studio.models.base import GenerativeModel, check_positive, check_shape

IMAGE_SIZES = (8, 16, 32, 64, 128)
NOISE_MODES = ("const", "random", "none")


# ---------------------------------------------------------------------------------------------
# Equalized learning rate (ProGAN 4.1): w_hat = w * c, c = gain * lr_mul / sqrt(fan_in), w ~ N(0, 1/lr_mul^2).
# He's gain sqrt(2) before a LeakyReLU (as in the reference): with gain 1, each layer of the
# unnormalized discriminator halved the signal's variance and D's outputs faded to a constant.
LRELU_GAIN = math.sqrt(2)


class EqualLinear(nn.Module):
    def __init__(self, c_in: int, c_out: int, bias_init: float = 0.0, lr_mul: float = 1.0, gain: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in) / lr_mul)
        self.bias = nn.Parameter(torch.full((c_out,), float(bias_init)) / lr_mul)
        self.scale, self.lr_mul = gain * lr_mul / math.sqrt(c_in), lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class EqualConv2d(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int, gain: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.scale, self.padding = gain / math.sqrt(c_in * kernel * kernel), kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


def channels_at(resolution: int, width: int) -> int:
    """``width`` channels up to 8x8, then halved per doubling, never under 16."""
    return max(16, min(width, width * 8 // resolution))


# ---------------------------------------------------------------------------------------------
# Generator


class MappingNetwork(nn.Module):
    """z (B, latent_dim) -> w (B, w_dim): normalise z, then ``layers`` FC + LeakyReLU(0.2)."""

    def __init__(self, latent_dim: int, w_dim: int, layers: int, lr_mul: float = 0.01):
        super().__init__()
        dims = [latent_dim] + [w_dim] * layers
        self.net = nn.Sequential(*[
            nn.Sequential(EqualLinear(a, b, lr_mul=lr_mul, gain=LRELU_GAIN), nn.LeakyReLU(0.2)) for a, b in zip(dims, dims[1:])
        ])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = z * torch.rsqrt(z.pow(2).mean(1, keepdim=True) + 1e-8)  # pixel norm of z (the reference's normalize_latents)
        return self.net(z)  # (B, w_dim)


class StyleLayer(nn.Module):
    """[upsample] -> conv 3x3 (or the constant) -> + B * noise -> LeakyReLU -> AdaIN(x, A(w))."""

    def __init__(self, c_in: int, c_out: int, w_dim: int, resolution: int, upsample: bool = False, conv: bool = True):
        super().__init__()
        self.upsample, self.resolution = upsample, resolution
        self.conv = EqualConv2d(c_in, c_out, 3, gain=LRELU_GAIN) if conv else None
        self.noise_strength = nn.Parameter(torch.zeros(1, c_out, 1, 1))  # B: learned per-channel scales
        self.norm = nn.InstanceNorm2d(c_out, eps=1e-8)  # (x - mu(x)) / sigma(x) per sample and channel; no weights
        self.style = EqualLinear(w_dim, 2 * c_out, bias_init=0.0)  # A: w -> (y_s, y_b)
        with torch.no_grad():
            self.style.bias[:c_out] = 1.0  # y_s starts at 1: AdaIN starts as plain instance norm
        # the fixed noise of noise_mode="const" (saved with the weights, as in the reference)
        self.register_buffer("noise_const", torch.randn(1, 1, resolution, resolution, generator=torch.Generator().manual_seed(resolution)))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")  # (B, C, 2H, 2W)
        if self.conv is not None:
            x = self.conv(x)  # (B, C_out, H, W)
        if noise is not None:
            x = x + self.noise_strength * noise  # noise (B or 1, 1, H, W): one map, a scale per channel
        x = F.leaky_relu(x, 0.2)
        # AdaIN(x, y) = y_s * (x - mu(x)) / sigma(x) + y_b, per sample and channel
        y_s, y_b = self.style(w)[:, :, None, None].chunk(2, dim=1)  # (B, C_out, 1, 1) each
        return y_s * self.norm(x) + y_b


class SynthesisNetwork(nn.Module):
    """w (B, num_ws, w_dim) -> images at the stage's resolution; two style layers per resolution."""

    def __init__(self, w_dim: int, image_size: int, channels: int, width: int):
        super().__init__()
        self.resolutions = [4 * 2**i for i in range(int(math.log2(image_size)) - 1)]  # 4, 8, ..., image_size
        c4 = channels_at(4, width)
        self.const = nn.Parameter(torch.ones(1, c4, 4, 4))  # the learned constant input
        self.layers, self.to_rgb = nn.ModuleList(), nn.ModuleList()
        c_prev = c4
        for res in self.resolutions:
            c = channels_at(res, width)
            first = StyleLayer(c_prev, c, w_dim, res, upsample=res > 4, conv=res > 4)  # 4x4: the constant, no conv
            self.layers.extend([first, StyleLayer(c, c, w_dim, res)])
            self.to_rgb.append(EqualConv2d(c, channels, 1))
            c_prev = c
        self.num_ws = len(self.layers)

    def forward(self, ws: torch.Tensor, noises: list[torch.Tensor | None], resolution: int, alpha: float) -> torch.Tensor:
        x = self.const.expand(ws.shape[0], -1, -1, -1)  # (B, C, 4, 4)
        last = self.resolutions.index(resolution)
        for k in range(last + 1):
            if k == last and alpha < 1 and k > 0:
                # ProGAN fade-in: the previous resolution's RGB, upsampled, blended with the new one
                previous = F.interpolate(self.to_rgb[k - 1](x), scale_factor=2, mode="nearest")
            for i in (2 * k, 2 * k + 1):
                x = self.layers[i](x, ws[:, i], noises[i])  # (B, C_k, res_k, res_k)
        rgb = self.to_rgb[last](x)  # (B, channels, res, res)
        if last > 0 and alpha < 1:
            rgb = torch.lerp(previous, rgb, alpha)
        return torch.tanh(rgb)


# ---------------------------------------------------------------------------------------------
# Discriminator: from-RGB at every resolution, conv blocks down to 4x4, minibatch stddev, dense


def minibatch_stddev(x: torch.Tensor, group: int = 4) -> torch.Tensor:
    """ProGAN 3: append the mean over features of the std over a group of samples as one channel."""
    b, c, h, w = x.shape
    g = min(group, b)
    if b % g:
        g = 1
    y = x.reshape(g, b // g, c, h, w)
    y = (y.var(0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # (B/g,)
    y = y.repeat(g)[:, None, None, None].expand(b, 1, h, w)  # (B, 1, H, W)
    return torch.cat([x, y], dim=1)  # (B, C + 1, H, W)


class Discriminator(nn.Module):
    """Images (B, C, r, r) at the stage resolution r -> (B,) logits."""

    def __init__(self, image_size: int, channels: int, width: int):
        super().__init__()
        self.resolutions = [4 * 2**i for i in range(int(math.log2(image_size)) - 1)]
        self.from_rgb = nn.ModuleList([EqualConv2d(channels, channels_at(r, width), 1, gain=LRELU_GAIN)
                                       for r in self.resolutions])
        # blocks[k] takes resolution r_k down to r_{k-1} (k >= 1)
        self.blocks = nn.ModuleList([nn.Identity()] + [
            nn.Sequential(EqualConv2d(channels_at(r, width), channels_at(r, width), 3, gain=LRELU_GAIN), nn.LeakyReLU(0.2),
                          EqualConv2d(channels_at(r, width), channels_at(r // 2, width), 3, gain=LRELU_GAIN), nn.LeakyReLU(0.2),
                          nn.AvgPool2d(2))
            for r in self.resolutions[1:]
        ])
        c4 = channels_at(4, width)
        self.final_conv = EqualConv2d(c4 + 1, c4, 3, gain=LRELU_GAIN)
        self.final_dense = EqualLinear(c4 * 16, c4, gain=LRELU_GAIN)
        self.out = EqualLinear(c4, 1)

    def forward(self, x: torch.Tensor, resolution: int, alpha: float) -> torch.Tensor:
        top = self.resolutions.index(resolution)
        h = F.leaky_relu(self.from_rgb[top](x), 0.2)  # (B, C_top, r, r)
        if top > 0:
            h = self.blocks[top](h)  # (B, C, r/2, r/2)
            if alpha < 1:  # fade-in: the lower resolution's from-RGB on the downsampled image
                lower = F.leaky_relu(self.from_rgb[top - 1](F.avg_pool2d(x, 2)), 0.2)
                h = torch.lerp(lower, h, alpha)
        for k in range(top - 1, 0, -1):
            h = self.blocks[k](h)  # down to (B, C4, 4, 4)
        h = F.leaky_relu(self.final_conv(minibatch_stddev(h)), 0.2)  # (B, C4, 4, 4)
        h = F.leaky_relu(self.final_dense(h.flatten(1)), 0.2)  # (B, C4)
        return self.out(h)[:, 0]  # (B,)


# ---------------------------------------------------------------------------------------------


class StyleGAN(GenerativeModel):
    """Unconditional StyleGAN with progressive growing; ``image_size`` is 8, 16, 32, 64 or 128.

    Objective (non-saturating with R1, training/steps.py stylegan_step):
    # D: minimize softplus(D(G(z))) + softplus(-D(x)) + gamma/2 E[||grad_x D(x)||^2]
    # G: minimize softplus(-D(G(z)))
    """

    family = "stylegan"
    task = "unconditional"

    def __init__(
        self,
        *,
        latent_dim: int = 64,
        w_dim: int = 64,
        mapping_layers: int = 8,
        image_size: int = 32,
        channels: int = 1,
        width: int = 128,
        disc_width: int | None = None,
        w_avg_beta: float = 0.995,
    ):
        super().__init__()
        disc_width = width if disc_width is None else disc_width
        check_positive(self.family, latent_dim=latent_dim, w_dim=w_dim, mapping_layers=mapping_layers,
                       channels=channels, width=width, disc_width=disc_width)
        if image_size not in IMAGE_SIZES:
            raise ValueError(f"stylegan: image_size must be one of {IMAGE_SIZES}, got {image_size!r}")
        if not 0.0 <= w_avg_beta < 1.0:
            raise ValueError(f"stylegan: w_avg_beta must lie in [0, 1), got {w_avg_beta!r}")
        self.latent_dim, self.w_dim, self.image_size, self.channels = latent_dim, w_dim, image_size, channels
        self.w_avg_beta = w_avg_beta
        self.mapping_network = MappingNetwork(latent_dim, w_dim, mapping_layers)
        self.synthesis_network = SynthesisNetwork(w_dim, image_size, channels, width)
        self.discriminator = Discriminator(image_size, channels, disc_width)
        self.resolutions = self.synthesis_network.resolutions
        self.num_ws = self.synthesis_network.num_ws
        self.register_buffer("w_avg", torch.zeros(w_dim))  # EMA of w over training
        self.register_buffer("stage", torch.tensor([float(image_size), 1.0]))  # (resolution, alpha)

    # ------------------------------------------------------------------ progressive growing

    def set_stage(self, resolution: int, alpha: float = 1.0) -> None:
        if resolution not in self.resolutions:
            raise ValueError(f"stylegan: resolution must be one of {self.resolutions}, got {resolution!r}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"stylegan: alpha must lie in [0, 1], got {alpha!r}")
        self.stage.copy_(torch.tensor([float(resolution), float(alpha)]))

    @property
    def current_stage(self) -> tuple[int, float]:
        return int(self.stage[0].item()), float(self.stage[1].item())

    def layer_resolution(self, layer: int) -> int:
        """The resolution style layer ``layer`` draws at (two layers per resolution)."""
        return self.resolutions[layer // 2]

    def layers_at(self, resolutions) -> list[int]:
        """The style layers that draw at the given resolutions, e.g. (4, 8) -> [0, 1, 2, 3]."""
        unknown = sorted(set(resolutions) - set(self.resolutions))
        if unknown:
            raise ValueError(f"stylegan: no layers at {unknown}; resolutions are {self.resolutions}")
        return [i for i in range(self.num_ws) if self.layer_resolution(i) in set(resolutions)]

    # ------------------------------------------------------------------ mapping and synthesis

    def mapping(self, z: torch.Tensor, psi: float = 1.0, cutoff: int | None = None, update_w_avg: bool = False) -> torch.Tensor:
        """z (B, latent_dim) -> w (B, num_ws, w_dim), truncated towards w_avg on the first ``cutoff`` layers."""
        check_shape("stylegan latent z", z, (None, self.latent_dim))
        w = self.mapping_network(z)  # (B, w_dim)
        if update_w_avg:
            with torch.no_grad():
                self.w_avg.lerp_(w.detach().mean(0), 1 - self.w_avg_beta)
        ws = w[:, None, :].repeat(1, self.num_ws, 1)  # (B, num_ws, w_dim)
        return self.truncate(ws, psi, cutoff)

    def truncate(self, ws: torch.Tensor, psi: float = 1.0, cutoff: int | None = None) -> torch.Tensor:
        """w' = w_avg + psi (w - w_avg) on layers [0, cutoff); cutoff None: every layer."""
        if psi == 1:
            return ws
        cutoff = self.num_ws if cutoff is None else cutoff
        if not 0 <= cutoff <= self.num_ws:
            raise ValueError(f"stylegan: cutoff must lie in [0, {self.num_ws}], got {cutoff!r}")
        ws = ws.clone()
        ws[:, :cutoff] = torch.lerp(self.w_avg.to(ws.dtype), ws[:, :cutoff], psi)
        return ws

    @staticmethod
    def mix(ws_a: torch.Tensor, ws_b: torch.Tensor, layers) -> torch.Tensor:
        """Style mixing: w_a with the given layers taken from w_b.  (B, num_ws, w_dim)"""
        mixed = ws_a.clone()
        layers = list(layers)
        mixed[:, layers] = ws_b[:, layers]
        return mixed

    def noises(self, batch: int, mode: str, seed: int | None = None, resolutions=None) -> list[torch.Tensor | None]:
        """One noise map per style layer; ``resolutions`` limits noise to those (None: all)."""
        if mode not in NOISE_MODES:
            raise ValueError(f"stylegan: noise_mode must be one of {NOISE_MODES}, got {mode!r}")
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        out: list[torch.Tensor | None] = []
        for layer in self.synthesis_network.layers:
            res = layer.resolution
            if mode == "random":  # drawn for every layer, so a layer switched off leaves the others' draws alone
                noise = torch.randn(batch, 1, res, res, generator=generator).to(self.w_avg.device)
            else:
                noise = layer.noise_const if mode == "const" else None
            out.append(noise if resolutions is None or res in resolutions else None)
        return out

    def synthesis(self, ws: torch.Tensor, noise_mode: str = "const", noise_seed: int | None = None,
                  noise_resolutions=None, resolution: int | None = None, alpha: float | None = None) -> torch.Tensor:
        """w (B, num_ws, w_dim) -> images (B, C, r, r) in [-1, 1] at the stage (or the given) resolution."""
        check_shape("stylegan w", ws, (None, self.num_ws, self.w_dim))
        stage_res, stage_alpha = self.current_stage
        resolution = stage_res if resolution is None else resolution
        alpha = stage_alpha if alpha is None else alpha
        if resolution not in self.resolutions:
            raise ValueError(f"stylegan: resolution must be one of {self.resolutions}, got {resolution!r}")
        noises = self.noises(ws.shape[0], noise_mode, noise_seed, noise_resolutions)
        return self.synthesis_network(ws, noises, resolution, alpha)

    # ------------------------------------------------------------------ the GenerativeModel API

    def forward(self, z: torch.Tensor, psi: float = 1.0, cutoff: int | None = None, noise_mode: str = "const",
                noise_seed: int | None = None) -> torch.Tensor:
        return self.synthesis(self.mapping(z, psi, cutoff), noise_mode, noise_seed)

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images at image_size; a model still growing draws at its stage, upsampled (nearest)."""
        self.check_labels(labels, z.shape[0])  # raises: StyleGAN here is unconditional
        x = self.forward(z)  # (B, C, r, r)
        if x.shape[-1] != self.image_size:
            x = F.interpolate(x, size=self.image_size, mode="nearest")
        return x  # (B, C, H, W)

    def discriminate(self, x: torch.Tensor, labels: torch.Tensor | None = None, return_aux: bool = False,
                     resolution: int | None = None, alpha: float | None = None):
        """(B,) logits for images at the stage resolution."""
        if return_aux:
            raise ValueError("stylegan has no auxiliary head")
        self.check_labels(labels, x.shape[0])
        stage_res, stage_alpha = self.current_stage
        resolution = stage_res if resolution is None else resolution
        alpha = stage_alpha if alpha is None else alpha
        check_shape("stylegan discriminator input", x, (None, self.channels, resolution, resolution))
        return self.discriminator(x, resolution, alpha)
