"""Latency of one interactive request: a 16-image grid from z to PNG bytes a browser can show.

Model: the classic DCGAN-64 of pytorch/examples (3 channels, latent 100, width 64), random
weights whose BatchNorm statistics are calibrated on a few batches so that the images have
realistic contrast (an untrained model in eval mode draws flat grey, which compresses unfairly
well); ``--checkpoint`` benchmarks a trained checkpoint instead.

Reference: what a plain PyTorch script does: eager ``model.generate`` with default settings,
then ``torchvision.utils.save_image`` (make_grid + PIL PNG at its default level).
Candidate: ``studio.imaging.render_grid_png``, the path the apps use, eager and compiled.
Both run in the same process, taking turns; the ratio candidate / reference is what counts.

    python -m bench generate [--batch 16] [--repeats 15] [--no-compile] [--checkpoint SOURCE]

Measured on the 2-core AVX-512 EPYC (torch 2.14.1), quiet machine: reference 20.5 ms, studio
path 12.9-13.4 ms (0.63-0.66x), compile=True 13.5 ms. Generation dominates: the folded,
channels_last, rewritten generator takes 11.2-11.6 ms against 13 ms eager, and its convolutions
already run near the cores' fp32 peak; encoding fell from 7.5 ms (make_grid + PIL level 6) to 1.8.
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np
import torch
import torchvision.utils
from PIL import Image

from bench.common import compare, print_table, use_all_cores
from studio import accel, imaging
from studio.models import DCGAN


def calibrated_dcgan(seed: int = 0) -> DCGAN:
    """A random DCGAN-64 whose BatchNorm running statistics match its own activations."""
    torch.manual_seed(seed)
    model = DCGAN(image_size=64, channels=3, latent_dim=100, width=64)
    norms = [m for m in model.generator.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over the calibration batches
    model.train()
    with torch.no_grad():
        for _ in range(4):
            model.generate(model.sample_latent(64))
    for norm in norms:
        norm.momentum = 0.1
    return model.eval()


def reference_png(model, z: torch.Tensor, labels, nrow: int) -> bytes:
    """The plain path: eager generation, torchvision's save_image to an in-memory PNG."""
    with torch.no_grad():
        images = model.generate(z, labels)
    buffer = io.BytesIO()
    torchvision.utils.save_image(images, buffer, format="PNG", nrow=nrow, normalize=True, value_range=(-1, 1))
    return buffer.getvalue()


def decoded(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int16)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench generate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--nrow", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile candidate")
    parser.add_argument("--checkpoint", help="a studio checkpoint source instead of the random DCGAN-64")
    args = parser.parse_args(argv)

    threads = use_all_cores()
    if args.checkpoint:
        from studio.checkpoints import load

        model = load(args.checkpoint, device="cpu").model
    else:
        model = calibrated_dcgan()
    z = model.sample_latent(args.batch, seed=0)
    labels = model.sample_labels(args.batch, seed=1)
    print(f"{type(model).__name__} {model.config}; batch {args.batch}; torch {torch.__version__}, {threads} threads")

    alternatives = {
        "reference (eager + save_image)": lambda: reference_png(model, z, labels, args.nrow),
        "studio render_grid_png": lambda: imaging.render_grid_png(model, z, labels, nrow=args.nrow),
    }
    if not args.no_compile:
        start = time.perf_counter()
        imaging.render_grid_png(model, z, labels, nrow=args.nrow, compile=True)
        print(f"torch.compile first call: {time.perf_counter() - start:.1f} s")
        alternatives["studio render_grid_png compile=True"] = lambda: imaging.render_grid_png(
            model, z, labels, nrow=args.nrow, compile=True
        )

    reference = decoded(alternatives["reference (eager + save_image)"]())
    for name, render in alternatives.items():
        png = render()
        difference = np.abs(decoded(png) - reference).max()
        print(f"{name}: {len(png):,} bytes, max difference to the reference {difference} grey levels")

    timings = compare(alternatives, repeats=args.repeats, warmup=args.warmup)
    print_table(timings, "reference (eager + save_image)", "z -> PNG bytes (lower ratio is faster)")

    # Where the time goes: the two halves of each path on their own.
    with torch.no_grad():
        images = model.generate(z, labels)
    fast_images = accel.generate_fast(model, z, labels)
    parts = {
        "generate: eager": lambda: model.generate(z, labels),
        "generate: generate_fast": lambda: accel.generate_fast(model, z, labels),
        "encode: save_image": lambda: torchvision.utils.save_image(
            images, io.BytesIO(), format="PNG", nrow=args.nrow, normalize=True, value_range=(-1, 1)
        ),
        "encode: grid + png_bytes": lambda: imaging.png_bytes(imaging.grid(fast_images, nrow=args.nrow)),
    }
    with torch.no_grad():
        timings = compare(parts, repeats=args.repeats, warmup=args.warmup)
    print_table(timings, "generate: eager", "components (ratios to eager generation)")
    return 0
