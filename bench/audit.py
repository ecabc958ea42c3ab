"""Speed of the bias audit's implicit associations (``studio.audit.bias.implicit_associations``):
N samples pushed up and down the target attribute for K classifier-gradient steps each way
(2 x N x K forward and backward passes through the GAN and the attribute classifier).

- reference: the same walk on the models as loaded (NCHW), ``_batched_gradient(channels_last=False)``;
- studio: ``implicit_associations`` as the Bias audit page runs it (channels_last copies).
Goal (issue 13): the 256 x 20 audit under 15 s on 2 cores; the ratio says what the layout buys.
Both must tell the same story: covariances within TOLERANCE, and the same order for every two
attributes whose covariances lie further apart than that. 20 steps of gradient ascent amplify float
rounding: single trajectories differ by up to ~0.1 in probability between the two layouts (their
starting probabilities agree to 1e-6), and on faces-dcgan-sharp each float32 layout's covariances
are up to 0.011 from the same walk in float64 (NCHW 0.011, channels_last 0.011; stop 33), so the
layouts may differ by twice that, and two near-zero associations may swap places.

    python -m bench audit [--model faces-dcgan-sharp] [--target hat] [--n 256] [--steps 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

TARGET_S = 15.0
TOLERANCE = 0.025  # about twice the largest float32-vs-float64 covariance error measured (0.011)


def same_order(reference: dict[str, float], found: dict[str, float], tolerance: float) -> bool:
    """Whether every two attributes whose reference |covariance| differ by more than ``tolerance`` are
    ranked the same way by ``found`` (near ties may swap: rounding moves them)."""
    names = list(reference)
    return all((abs(reference[a]) > abs(reference[b])) == (abs(found[a]) > abs(found[b]))
               for a in names for b in names if abs(reference[a]) - abs(reference[b]) > tolerance)


def main(argv: list[str] | None = None) -> int:
    import torch

    from studio import api
    from studio.audit import bias

    parser = argparse.ArgumentParser(prog="python -m bench audit", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=api.DEFAULT_AUDIT_MODEL,
                        help="a faces GAN (its judge is faces-attributes; default: the audit page's)")
    parser.add_argument("--target", default="hat")
    parser.add_argument("--n", type=int, default=256, help="samples (default 256)")
    parser.add_argument("--steps", type=int, default=20, help="gradient steps each way (default 20)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each (default 3)")
    args = parser.parse_args(argv)

    _, loaded = api.load_model(args.model)
    generator, judge = api.edit_models(loaded)
    seeds = list(range(args.n))
    load_before = os.getloadavg()[0]

    def reference():
        return [bias._batched_gradient(generator, judge, seeds, args.target, d, args.steps, 0.1, channels_last=False)
                for d in (1, -1)]

    def studio():
        return bias.implicit_associations(generator, judge, args.target, n=args.n, steps=args.steps)

    times = {"reference": [], "studio": []}
    results = {}
    for _ in range(args.repeats):  # interleaved, so a change in the machine's load hits both
        for name, run in (("reference", reference), ("studio", studio)):
            start = time.perf_counter()
            results[name] = run()
            times[name].append(time.perf_counter() - start)

    plain = np.concatenate([end - begin for begin, end in results["reference"]])
    t = judge.index(args.target)
    found = results["studio"]
    covariance = {name: float(np.cov(plain[:, t], plain[:, judge.index(name)])[0, 1]) for name in found["others"]}
    ranking = sorted(covariance, key=lambda name: -abs(covariance[name]))
    difference = max(abs(covariance[name] - found["covariance"][name]) for name in found["others"])
    best = {k: min(v) for k, v in times.items()}
    median = {k: statistics.median(v) for k, v in times.items()}
    print(f"implicit associations of {args.target!r}, {args.model}: {args.n} samples x {args.steps} steps each way "
          f"({torch.get_num_threads()} threads, {os.cpu_count()} cores, load average {load_before:.1f} before / "
          f"{os.getloadavg()[0]:.1f} after)")
    print(f"  reference (NCHW as loaded): best {best['reference']:.2f} s, median {median['reference']:.2f} s")
    print(f"  studio (channels_last):     best {best['studio']:.2f} s, median {median['studio']:.2f} s: "
          f"{best['studio'] / best['reference']:.2f}x / {median['studio'] / median['reference']:.2f}x")
    ordered = same_order(covariance, found["covariance"], TOLERANCE)
    print(f"  ranking of the other attributes: {', '.join(found['ranking'])} "
          f"({'the same' if ranking == found['ranking'] else 'reference ' + ', '.join(ranking)}; "
          f"{'no' if ordered else 'a'} swap beyond near ties); largest covariance difference {difference:.4f} "
          f"(must be <= {TOLERANCE})")
    met = median["studio"] < TARGET_S and difference <= TOLERANCE and ordered
    print(f"  target: under {TARGET_S:.0f} s on 2 CPU cores -> {'met' if met else 'NOT met'}")
    return 0
