"""Timing helpers shared by the benchmarks.

The machines are shared and noisy, so alternatives are timed in turns within one run (each
round calls every alternative once, in a rotating order) and compared as ratios of the best
and the median time of several rounds, after warm-up rounds that are not counted.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from collections.abc import Callable
from dataclasses import dataclass

import torch


def use_all_cores() -> int:
    """Give torch one thread per CPU core (os.cpu_count()); returns the count."""
    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    return threads


def cpu_description() -> str:
    """The CPU model and whether it has AVX-512 (speed-ups differ between AVX2 and AVX-512 machines)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown CPU"
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    return f"{model}, {'AVX-512' if 'avx512f' in flags else 'no AVX-512'}"


@dataclass(frozen=True)
class Timing:
    name: str
    samples_ms: tuple[float, ...]

    @property
    def best_ms(self) -> float:
        return min(self.samples_ms)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples_ms)


def compare(alternatives: dict[str, Callable[[], object]], *, repeats: int = 15, warmup: int = 3) -> dict[str, Timing]:
    """Time each zero-argument callable ``repeats`` times, taking turns; returns name -> Timing."""
    if repeats < 5:
        raise ValueError(f"take at least 5 repeats for a median worth reading, got {repeats}")
    names = list(alternatives)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(warmup + repeats):
        shift = round_index % len(names)  # rotate who goes first: no one always runs on a cold cache
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            alternatives[name]()
            elapsed_ms = (time.perf_counter() - start) * 1e3
            if round_index >= warmup:
                samples[name].append(elapsed_ms)
    return {name: Timing(name, tuple(values)) for name, values in samples.items()}


def print_table(timings: dict[str, Timing], reference: str, title: str = "") -> None:
    """Best and median per alternative, and each one's ratio to ``reference`` (lower is faster)."""
    ref = timings[reference]
    width = max(len(name) for name in timings) + 2
    if title:
        print(f"\n{title}")
    print(f"{'':{width}}{'best ms':>10}{'median ms':>11}{'ratio best':>12}{'ratio median':>14}")
    for name, timing in timings.items():
        print(
            f"{name:{width}}{timing.best_ms:10.2f}{timing.median_ms:11.2f}"
            f"{timing.best_ms / ref.best_ms:12.3f}{timing.median_ms / ref.median_ms:14.3f}"
        )
