"""Speed of the sample metrics (studio.audit), each as a ratio to a reference timed in the same run.

1. Fréchet distance of two sets of 10,000 2048-d features (synthetic non-negative, correlated,
   like Inception pool features), from the statistics each method keeps:
   - reference: torchmetrics' ``FrechetInceptionDistance.compute`` (float64 sums -> covariances ->
     ``torch.linalg.eigvals(Σ1 Σ2)``), called unbound so its result cache does not answer;
   - scipy: pytorch-fid's formula, ``scipy.linalg.sqrtm(Σ1 Σ2)``;
   - studio: ``measures.frechet_distance`` from ``FeatureStats`` (torch float64: Cholesky of Σ1,
     Fᵀ Σ2 F, one symmetric ``eigvalsh``), and with the reference's factor cached, as ``fid_vs_n``
     uses it. Goal: at most 0.5x the reference, relative difference <= 1e-6.
2. Inception features at 299 px of 32-px RGB images (TF bilinear resize in both):
   - reference: a plain eager loop, image by image: the TorchScript file as loaded, NCHW float32,
     ``torch.no_grad``; the same loop in batches is shown too;
   - studio: ``features.get_extractor("inception")`` (the file's tensors as eager layers, batch norm
     folded, channels_last end to end, inference_mode), at the reference's thread count and at the count
     ``python -m studio.evaluate`` picks (``features.recommended_threads``: the cores the load
     average leaves free). Goal: at least 1.5x the images/s, features within 1e-4.

    python -m bench metrics [--samples 10000] [--dim 2048] [--images 16] [--repeats 5] [--skip-extraction]

Measured (torch 2.14.1, 2 threads on the 2-core Intel Xeon VM with AVX-512, quiet, 5 repeats),
ratios best / median:
- Fréchet distance: torchmetrics 1.75 s; studio 0.38 / 0.40 (0.66 s), with the reference's factor
  cached 0.26; scipy sqrtm 5.8x the reference (10.1 s); relative differences 5e-15 and 1e-14.
- inception, 16 images: plain loop 13.4 images/s (batched: 13.3); studio 23.4: 1.74x / 1.69x,
  features within 6e-6. Inside torch.compile (inductor, frozen weights) the same network ran 2.0x
  the file's speed after a 31 s first call; not used.
- On a busy machine (load average 13) the thread count dominates everything: inception features of
  8 images took 2.2 s with one thread against 4.9-12 s with two; python -m studio.evaluate therefore
  runs on the cores left idle (``features.recommended_threads``).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import scipy.linalg
import torch

from bench.common import compare, cpu_description, print_table, use_all_cores
from studio.audit import features, measures


def synthetic_features(n: int, dim: int, seed: int) -> np.ndarray:
    """(n, dim) float32, non-negative and correlated like pooled ReLU features."""
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((dim, dim), dtype=np.float32) / np.sqrt(dim)
    return np.maximum(rng.standard_normal((n, dim), dtype=np.float32) @ mix + 0.1, 0.0)


def sqrtm_distance(mu1, sigma1, mu2, sigma2) -> float:
    """pytorch-fid's calculate_frechet_distance without its eps fallback."""
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean).real)


def bench_frechet(samples: int, dim: int, repeats: int) -> None:
    from torchmetrics.image.fid import FrechetInceptionDistance

    class GivenFeatures(torch.nn.Module):
        num_features = dim

        def forward(self, x):
            return x

    real, fake = synthetic_features(samples, dim, 0), synthetic_features(samples, dim, 1)
    fake *= 1.05  # a small, real difference
    metric = FrechetInceptionDistance(feature=GivenFeatures())
    ref, gen = measures.FeatureStats(dim), measures.FeatureStats(dim)
    for start in range(0, samples, 1000):  # both accumulate batch by batch, untimed
        metric.update(torch.from_numpy(real[start:start + 1000]), real=True)
        metric.update(torch.from_numpy(fake[start:start + 1000]), real=False)
        ref.update(real[start:start + 1000])
        gen.update(fake[start:start + 1000])
    mu1, sigma1, mu2, sigma2 = ref.mean, ref.cov, gen.mean, gen.cov
    factor = measures.covariance_factor(sigma1)
    alternatives = {
        "torchmetrics FID.compute (eigvals)": lambda: float(FrechetInceptionDistance.compute(metric)),
        "scipy sqrtm (pytorch-fid)": lambda: sqrtm_distance(mu1, sigma1, mu2, sigma2),
        "studio frechet_distance": lambda: measures.frechet_distance(ref.mean, ref.cov, gen.mean, gen.cov),
        "studio, reference factor cached": lambda: measures.frechet_distance(mu1, sigma1, mu2, sigma2, factor1=factor),
    }
    values = {name: run() for name, run in alternatives.items()}
    expected = values["torchmetrics FID.compute (eigvals)"]
    print(f"\nFréchet distance, {samples:,} x {dim}-d features per set:")
    for name, value in values.items():
        print(f"  {name:36s} {value:.10f}   relative difference to torchmetrics {abs(value - expected) / expected:.2e}")
    timings = compare(alternatives, repeats=repeats, warmup=1)
    print_table(timings, "torchmetrics FID.compute (eigvals)", "Fréchet distance (lower ratio is faster)")


def bench_extraction(images: int, repeats: int) -> None:
    try:
        path = features.inception_file()
    except Exception as error:  # DataError: not installed
        print(f"\nskipping inception extraction: {error}")
        return
    free = features.recommended_threads()  # measured before this process keeps the cores busy
    start = time.perf_counter()
    extractor = features.get_extractor("inception")
    print(f"\ninception extractor ready in {time.perf_counter() - start:.1f} s (read the file, fold batch norm)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        plain = torch.jit.load(str(path), map_location="cpu").eval()
    batch = np.random.default_rng(0).integers(0, 256, (images, 32, 32, 3), dtype=np.uint8)

    def eager_loop(per_call: int) -> np.ndarray:
        out = []
        for begin in range(0, len(batch), per_call):
            x = torch.from_numpy(batch[begin:begin + per_call]).permute(0, 3, 1, 2).float()  # (b, 3, 32, 32)
            theta = torch.eye(2, 3)
            theta[0, 2] += 1.0 / 32 - 1.0 / 299
            theta[1, 2] += 1.0 / 32 - 1.0 / 299
            grid = torch.nn.functional.affine_grid(theta.expand(len(x), 2, 3), [len(x), 3, 299, 299],
                                                   align_corners=False)
            x = torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
            with torch.no_grad():
                out.append(plain((x - 128) / 128).numpy())
        return np.concatenate(out)

    threads = torch.get_num_threads()

    def at(count, run):
        def timed():
            torch.set_num_threads(count)
            return run()
        return timed

    reference = "plain eager loop, image by image"
    alternatives = {
        reference: at(threads, lambda: eager_loop(1)),
        f"plain eager loop, batches of {images}": at(threads, lambda: eager_loop(images)),
        "studio inception extractor": at(threads, lambda: extractor(batch)[0]),
        f"studio, CLI threads ({free} now)": at(free, lambda: extractor(batch)[0]),
    }
    difference = np.abs(alternatives["studio inception extractor"]() - eager_loop(1)).max()
    print(f"inception features of {images} images: max difference studio vs plain {difference:.2e}")
    timings = compare(alternatives, repeats=repeats, warmup=1)
    print_table(timings, reference, f"inception @299px, {images} images per call (lower ratio is faster)")
    for name, timing in timings.items():
        print(f"  {name:36s} {images / timing.best_ms * 1e3:6.2f} images/s best, "
              f"{images / timing.median_ms * 1e3:6.2f} median")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench metrics", description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=10_000, help="features per set for the Fréchet distance")
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--images", type=int, default=16, help="images per extraction call")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-extraction", action="store_true")
    args = parser.parse_args(argv)

    threads = use_all_cores()
    print(f"{cpu_description()}; torch {torch.__version__}, {threads} threads")
    bench_frechet(args.samples, args.dim, args.repeats)
    if not args.skip_extraction:
        bench_extraction(args.images, args.repeats)
    return 0
