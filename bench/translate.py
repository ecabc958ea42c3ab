"""Latency of one translation request: a 256x256 uint8 image in, the uint8 translation out.

Models (random weights: the cost does not depend on their values):
- ``unet_256``: pix2pix's U-Net generator, ngf 64, depth 8, BatchNorm, whose running statistics
  are calibrated on a few satellite tiles so that eval mode sees realistic activations;
- ``resnet_9blocks``: CycleGAN's ResNet generator, ngf 64, 9 residual blocks, InstanceNorm.

Reference: what a plain PyTorch script does: the reference architecture in eval mode, default
memory format (the input made contiguous: the permuted HWC array alone has channels_last strides),
float32, ``torch.no_grad``, plus the same uint8 -> [-1, 1] -> uint8 conversions written plainly. Candidates: ``studio.translate.translate_image``, the page's path (a cached
prepared copy: BatchNorm folded; for the U-Net channels_last and oneDNN weights packed once, for
the ResNet channels_last end to end, with InstanceNorm and reflection padding kept NHWC and the
residual blocks' 3x3 convolutions as Winograd F(4x4, 3x3); inference_mode), eager and with
``compile=True`` (torch.compile, frozen weights). All run in the same process, taking turns; the
ratio candidate / reference is what counts. Outputs are checked against the reference first.

    python -m bench translate [--model unet_256 resnet_9blocks] [--repeats 15] [--no-compile]

Measured (torch 2.14.1, 2 threads on a 2-core Xeon VM with AVX-512, ``--repeats 9 --no-compile``,
a training job paused meanwhile). Ratios best / median:
- ``unet_256``: 0.47 / 0.50 and 0.44 / 0.43 in quieter runs; 0.85 / 0.60 in a contended one.
- ``resnet_9blocks``: 0.61 / 0.58 (reference 381 / 415 ms, studio 233 / 239 ms); max float
  difference 3.7e-5, 99 of 196,608 output values one level off. Step by step (median ratio):
  0.90 with F(2x2, 3x3) on NCHW (the previous path), 0.76 with F(4x4, 3x3) on NCHW, 0.58 NHWC.
  Where the time goes now (per layer, ms): the 18 residual convs ~7.3 each as Winograd (15.5
  direct; of the 7.3, the 36 batched matmuls ~4, the tile gather, input and output transforms the
  rest), the final 7x7 conv to 3 channels ~21 (oneDNN's slowest layer here: 3 output channels), the
  two transposed convs ~9 each (17 and 26 on NCHW), the stride-2 convs ~8 each, InstanceNorm ~1-4.
On a 2-core AMD EPYC with AVX-512 (stop 28), where MKL's sgemm (torch.bmm) runs at less than half
of oneDNN's rate, that path lost to direct NHWC (0.86x overall); the candidate with the Winograd
products as a oneDNN grouped convolution and packed weights won there: 0.49 / 0.47 and 0.56 / 0.56.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from bench.common import compare, print_table, use_all_cores
from studio import translate
from studio.accel import translators
from studio.data.maps import maps_pair
from studio.models import CycleGAN, Pix2Pix

MODELS = ("unet_256", "resnet_9blocks")


def calibrated(model: nn.Module, batch: torch.Tensor) -> nn.Module:
    """Set every BatchNorm's running statistics to the mean over ``batch``'s activations."""
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average
    model.train()
    with torch.no_grad():
        model(batch)
    for norm in norms:
        norm.momentum = 0.1
    return model.eval()


def tiles(count: int, size: int = 256) -> np.ndarray:
    """``count`` procedural satellite photos, uint8 (count, size, size, 3)."""
    return np.stack([maps_pair(seed, size)[0] for seed in range(count)])


def build(name: str) -> tuple[nn.Module, nn.Module]:
    """(studio model, the generator the reference runs)."""
    torch.manual_seed(0)
    if name == "unet_256":
        model = Pix2Pix(image_size=256, ngf=64, depth=8, norm="batch")
        batch = torch.from_numpy(tiles(4, 256)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        calibrated(model.generator, batch)
        return model.eval(), model.generator
    model = CycleGAN(image_size=256, ngf=64, n_blocks=9, norm="instance").eval()
    return model, model.generator_ab


def reference_input(image: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, C) -> float32 (1, C, H, W) in [-1, 1], NCHW in memory too (default format)."""
    return torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0).float().contiguous() / 127.5 - 1.0


def reference_translate(generator: nn.Module, image: np.ndarray) -> np.ndarray:
    """The plain path: uint8 (H, W, C) -> [-1, 1] NCHW float32 -> eager generator -> uint8 (H, W, C)."""
    x = reference_input(image)
    with torch.no_grad():
        y = generator(x)
    return ((y[0].permute(1, 2, 0) + 1.0) * 127.5 + 0.5).clamp(0, 255).to(torch.uint8).numpy()


def check(model: nn.Module, generator: nn.Module, image: np.ndarray, compiled: bool) -> None:
    """The studio path must give the reference's output: floats within 1e-4, pixels within 1 level."""
    x = reference_input(image)
    with torch.no_grad():
        expected = generator(x)
    reference = reference_translate(generator, image).astype(np.int16)
    for compile_ in (False, True) if compiled else (False,):
        got = translate.translate_tensor(model, x, compile=compile_)
        output, notes = translate.translate_image(model, image, compile=compile_)
        pixels = np.abs(output.astype(np.int16) - reference)
        print(f"  compile={compile_}: max |float difference| {(got - expected).abs().max().item():.2e}, "
              f"{int((pixels > 0).sum())} of {pixels.size} values differ by at most {int(pixels.max())} level; "
              f"notes {notes or 'none'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench translate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile candidate")
    args = parser.parse_args(argv)

    threads = use_all_cores()
    image = tiles(1, 256)[0]
    print(f"torch {torch.__version__}, {threads} threads; one 256x256 RGB image")
    for name in args.model:
        model, generator = build(name)
        print(f"\n{name}: {type(model).__name__} {model.config}")
        if not args.no_compile:
            start = time.perf_counter()
            translate.translate_image(model, image, compile=True)
            print(f"  torch.compile first call: {time.perf_counter() - start:.1f} s")
        check(model, generator, image, compiled=not args.no_compile)
        alternatives = {
            "reference (eager, no_grad)": lambda: reference_translate(generator, image),
            "studio translate_image": lambda: translate.translate_image(model, image),
        }
        if not args.no_compile:
            alternatives["studio translate_image compile=True"] = lambda: translate.translate_image(
                model, image, compile=True)
        timings = compare(alternatives, repeats=args.repeats, warmup=args.warmup)
        print_table(timings, "reference (eager, no_grad)", f"{name}: uint8 image -> uint8 output (lower ratio is faster)")
        chosen = [path for key, path in translators.chosen_paths().items() if key[0] == type(generator).__name__]
        print(f"  path chosen at first use on this machine: {', '.join(chosen) or '?'}")
    return 0
