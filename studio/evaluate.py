"""Sample metrics from the command line: FID, KID, classifier score, precision/recall, density/coverage.

    python -m studio.evaluate SOURCE [REFERENCE] [--metrics fid,kid,is,pr,dc] [--n N]
                              [--extractor NAME] [--resize pil-bicubic|native] [--seed S] [--json]

SOURCE is a zoo name (mnist-wgangp), a checkpoint or training-run folder, or a folder of images.
REFERENCE is a bundled dataset (mnist, mnist-5k:test, animals) or a folder of images; by default
a checkpoint's own training data. Two folders compare like pytorch-fid (with --extractor inception).
Extractors: inception (TF-Inception, 2048-d, 299 px), efficientnet-lite0 (1280-d, 224 px),
classifier:<zoo name> (the default for MNIST: classifier:mnist-classifier).

--json prints one JSON object: every metric with its bootstrap interval, N, the extractor and its
resize, the seed. Errors print one line on stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys

from studio.audit import features, metrics
from studio.errors import CheckpointError, DataError

LABELS = {"fid": "FID", "kid": "KID", "precision": "precision", "recall": "recall", "density": "density",
          "coverage": "coverage"}


class _Bars:
    """One tqdm bar per stage on stderr: the progress callback of studio.audit.metrics."""

    def __init__(self, enabled: bool):
        self.enabled, self.bars = enabled, {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        bar = self.bars.get(stage)
        if bar is None:
            bar = self.bars[stage] = tqdm(total=total, desc=stage, unit="img", leave=False, file=sys.stderr)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def _number(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.4e}"


def report(result: dict) -> str:
    """The human-readable summary of an ``evaluate`` result."""
    source, reference = result["source"], result["reference"]
    seed = f", seed {source['seed']}" if source.get("seed") is not None else ""
    lines = [f"{source['name']} ({result['n']:,} images{seed}) vs {reference['name']} "
             f"({result['n_reference']:,} images{', cached features' if reference.get('cached') else ''})",
             f"extractor {result['extractor']} ({result['extractor_details']['dim']}-d)"]
    for name, found in result["metrics"].items():
        label = found.get("name") or LABELS.get(name, name)
        low_high = found.get("interval")
        shown = f"[{_number(low_high[0])}, {_number(low_high[1])}]" if low_high else ""
        extra = ""
        if name == "kid":
            extra = f"{found['subsets']} subsets of {found['subset_size']:,}"
        elif "k" in found:
            extra = f"k={found['k']}, {found['n_reference']:,} reference images"
        lines.append(f"  {label:<46}{_number(found['value']):>10}  {shown:<24}{extra}".rstrip())
    lines += [f"note: {note}" for note in result["notes"]]
    lines.append(f"({result['seconds']:.1f} s)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studio.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="zoo name, checkpoint or run folder, or a folder of images")
    parser.add_argument("reference", nargs="?", help="dataset name (mnist, mnist-5k:test, animals) or a folder; "
                        "default: the checkpoint's training data")
    parser.add_argument("--metrics", default=None, help="comma-separated from fid,kid,is,pr,dc (default: all "
                        "that the extractor allows)")
    parser.add_argument("--n", type=int, default=metrics.DEFAULT_N, help="samples to draw or images to read "
                        f"(default {metrics.DEFAULT_N})")
    parser.add_argument("--extractor", default=None, help="inception, efficientnet-lite0 or classifier:<zoo name> "
                        "(default: the dataset's classifier for MNIST, else inception)")
    parser.add_argument("--resize", choices=("pil-bicubic", "native"), default=None,
                        help="how images reach the extractor's size (default: inception native, others pil-bicubic)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bootstrap", type=int, default=metrics.DEFAULT_BOOTSTRAP,
                        help="bootstrap replicates for the intervals (0: none)")
    parser.add_argument("--kid-subset-size", type=int, default=None, help=f"default min({metrics.KID_SUBSET_SIZE}, N)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: the cores the load "
                        "average leaves free, at least 1)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads or features.recommended_threads())
    bars = _Bars(enabled=not args.quiet and sys.stderr.isatty())
    try:
        result = metrics.evaluate(args.source, args.reference, metrics=args.metrics, n=args.n,
                                  extractor=args.extractor, resize=args.resize, seed=args.seed,
                                  bootstrap=args.bootstrap, kid_subset_size=args.kid_subset_size, progress=bars)
    except (DataError, CheckpointError) as error:
        bars.close()
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    bars.close()
    print(json.dumps(result, ensure_ascii=False) if args.json else report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
