"""Sample metrics of a generator, or a folder of images, against a reference: what the apps and
``python -m studio.evaluate`` call. Plain data out (dicts of floats and lists).

    from studio.audit import metrics
    result = metrics.evaluate("mnist-wgangp")   # FID, KID, classifier score, PR, DC against mnist-5k
    result["metrics"]["fid"]                    # {"value": ..., "interval": [low, high], ...}
    curve = metrics.fid_vs_n("mnist-wgangp")    # FID against N with its band, and FID∞
    sweep = metrics.truncation_sweep_metrics("mnist-wgangp", (0.5, 1.0, 2.0, None))

The formulas are in ``studio.audit.measures``, the networks in ``studio.audit.features``. The
reference's features are cached per (dataset and split, image size, extractor and resize, weights)
in the user's cache (``studio.cache``: ``$GAN_STUDIO_CACHE/metrics``, by default
``~/.cache/gan-studio/metrics``), computed once; folders of images are read afresh each time.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from studio.audit import features as feature_nets
from studio.audit import measures, sources
from studio.cache import cache_dir
from studio.errors import DataError

METRICS = ("fid", "kid", "is", "pr", "dc")
GROUPS = {"fid": ("fid",), "pr": ("precision", "recall"), "dc": ("density", "coverage")}
DEFAULT_N = 2000
DEFAULT_BOOTSTRAP = 50
KID_SUBSET_SIZE = 1000  # Bińkowski et al. and torchmetrics; smaller when fewer samples are drawn
CACHE_VERSION = 1
# The domain classifier to judge a dataset's images with (dataset name before any "-5k" / ":split").
DEFAULT_EXTRACTORS = {"mnist": "classifier:mnist-classifier"}
FALLBACK_EXTRACTOR = "inception"
Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class Features:
    stats: measures.FeatureStats
    values: np.ndarray | None  # (N, d) float32 when kept
    logits: np.ndarray | None  # (N, K) when asked for


def extract(source: sources.ImageSource, extractor: feature_nets.Extractor, *, keep: bool = True,
            logits: bool = False, progress: Progress | None = None, stage: str = "samples") -> Features:
    """Features of every image of ``source``, streamed batch by batch into float64 statistics."""
    stats, kept, kept_logits, done = measures.FeatureStats(extractor.dim), [], [], 0
    for batch in source.batches(extractor.batch_size):
        values, batch_logits = extractor(batch)
        stats.update(values)
        if keep:
            kept.append(values)
        if logits:
            kept_logits.append(batch_logits)
        done += len(values)
        if progress is not None:
            progress(stage, done, source.count)
    return Features(stats, np.concatenate(kept) if keep else None, np.concatenate(kept_logits) if logits else None)


def reference_features(reference: sources.ImageSource, extractor: feature_nets.Extractor, *,
                       progress: Progress | None = None) -> tuple[Features, bool]:
    """(features of every reference image, whether they came from the cache). Bundled datasets are
    cached; folders are not (their files may change)."""
    if reference.kind != "dataset":
        return extract(reference, extractor, progress=progress, stage="reference"), False
    key = f"v{CACHE_VERSION}-{reference.name}-{reference.image_size}px-{extractor.label}-{extractor.fingerprint}"
    path = cache_dir("metrics") / (re.sub(r"[^A-Za-z0-9._-]+", "_", key) + ".npz")
    if path.is_file():
        try:
            with np.load(path) as saved:
                stats = measures.FeatureStats.from_moments(saved["mean"], saved["cov"], int(saved["count"]))
                return Features(stats, saved["features"], None), True
        except (OSError, KeyError, ValueError):
            path.unlink(missing_ok=True)  # damaged: compute it again
    found = extract(reference, extractor, progress=progress, stage=f"reference {reference.name} (cached once)")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.{os.getpid()}.npz")
    np.savez(partial, features=found.values, mean=found.stats.mean, cov=found.stats.cov,
             count=found.stats.count, about=json.dumps({"key": key, **extractor.describe()}))
    os.replace(partial, path)  # readers see the whole file or none
    return found, False


# ----------------------------------------------------------------------------- setting up

@dataclass
class Setup:
    samples: sources.ImageSource
    reference: sources.ImageSource
    extractor: feature_nets.Extractor
    model: object | None
    meta: dict


def default_extractor(reference) -> str:
    """A bundled dataset's own classifier when there is one (MNIST), else TF-Inception."""
    if isinstance(reference, str) and not sources.is_image_folder(reference):
        base = reference.partition(":")[0].removesuffix("-5k")
        return DEFAULT_EXTRACTORS.get(base, FALLBACK_EXTRACTOR)
    return FALLBACK_EXTRACTOR


def prepare(source, reference=None, *, n: int = DEFAULT_N, seed: int = 0, extractor: str | None = None,
            resize: str | None = None, threshold: float | None = None) -> Setup:
    """Open the samples (generator or folder), the reference and the extractor."""
    model, meta = None, {}
    if not sources.is_image_folder(source):
        model, meta = sources.load_generator(source)
        reference = reference if reference is not None else sources.training_data(meta)
    elif reference is None:
        raise DataError(f"{source} is a folder of images: give a REFERENCE to compare it with "
                        "(a dataset name such as mnist, or another folder)")
    extractor = feature_nets.get_extractor(extractor or default_extractor(reference), resize)
    if model is not None:
        samples = sources.model_source(model, meta, n, seed, threshold)
    else:
        samples = sources.folder_source(source, n, seed, channels=extractor.channels)
    if sources.is_image_folder(reference):
        ref = sources.folder_source(reference, None, seed, channels=extractor.channels)
    else:
        ref = sources.dataset_source(str(reference), samples.image_size or extractor.input_size)
    return Setup(samples, ref, extractor, model, meta)


def _wanted(metrics, extractor: feature_nets.Extractor, notes: list[str]) -> list[str]:
    explicit = metrics is not None
    names = [m.strip().lower() for m in (metrics.split(",") if isinstance(metrics, str) else metrics or METRICS)]
    unknown = [m for m in names if m not in METRICS]
    if unknown or not names:
        raise DataError(f"unknown metric {', '.join(unknown) or '(none)'}: choose from {','.join(METRICS)}")
    if "is" in names and extractor.head is None:
        if explicit:
            raise DataError(f"the classifier score needs class probabilities, and {extractor.name} has no "
                            "classification head: use --extractor efficientnet-lite0 or classifier:<zoo name>")
        names.remove("is")
        notes.append(f"no classifier score: {extractor.name} has no classification head")
    return [m for m in METRICS if m in names]


BOUNDS = {"fid": (0.0, None), "is": (1.0, None), "precision": (0.0, 1.0), "recall": (0.0, 1.0),
          "density": (0.0, None), "coverage": (0.0, 1.0)}  # KID's unbiased estimate may be negative


def _with_interval(name: str, value: dict, replicates, level: float) -> dict:
    out = {k: v for k, v in value.items() if k != "replicates"}
    if replicates is not None:
        out["interval"] = measures.interval(replicates, value["value"], level, BOUNDS.get(name, (None, None)))
    return out


# ----------------------------------------------------------------------------- the three calls

def evaluate(source, reference=None, *, metrics: str | Iterable[str] | None = None, n: int = DEFAULT_N,
             extractor: str | None = None, resize: str | None = None, seed: int = 0,
             bootstrap: int = DEFAULT_BOOTSTRAP, level: float = measures.LEVEL, kid_subsets: int = 100,
             kid_subset_size: int | None = None, is_splits: int = 10, progress: Progress | None = None) -> dict:
    """FID, KID, classifier score, precision/recall and density/coverage of ``n`` samples of ``source``
    (a zoo name, checkpoint or run folder, loaded model, or a folder of images) against
    ``reference`` (a bundled dataset name or a folder; default: the checkpoint's training data).

    Every value comes with a ``level`` bootstrap interval over ``bootstrap`` replicates (0: none).
    ``metrics`` picks from fid, kid, is, pr, dc (None: all the extractor allows)."""
    started = time.perf_counter()
    setup = prepare(source, reference, n=n, seed=seed, extractor=extractor, resize=resize)
    notes: list[str] = []
    wanted = _wanted(metrics, setup.extractor, notes)
    keep = bootstrap > 0 or any(m in wanted for m in ("kid", "pr", "dc"))
    gen = extract(setup.samples, setup.extractor, keep=keep, logits="is" in wanted, progress=progress)
    ref, cached = reference_features(setup.reference, setup.extractor, progress=progress)
    n_gen, n_ref = gen.stats.count, ref.stats.count
    resamples = measures.resample(n_gen, n_ref, bootstrap, seed) if bootstrap > 0 else None
    results: dict[str, dict] = {}

    if "fid" in wanted:
        value = measures.frechet_distance(ref.stats.mean, ref.stats.cov, gen.stats.mean, gen.stats.cov)
        replicates = measures.fid_replicates(gen.values, ref.values, resamples) if resamples else None
        results["fid"] = _with_interval("fid", {"value": value}, replicates, level)
        if note := measures.small_n_note(n_gen):
            notes.append(note)
    if "kid" in wanted:
        size = kid_subset_size or min(KID_SUBSET_SIZE, n_gen, n_ref)
        found = measures.kid(gen.values, ref.values, subsets=kid_subsets, subset_size=size, seed=seed,
                             resamples=resamples)
        results["kid"] = _with_interval("kid", found, found["replicates"], level)
    if "is" in wanted:
        found = measures.inception_score(gen.logits, splits=is_splits, seed=seed, resamples=resamples)
        results["is"] = _with_interval("is", {**found, "name": f"classifier score ({setup.extractor.head})"},
                                       found["replicates"], level)
    if "pr" in wanted or "dc" in wanted:
        # equal set sizes, as Kynkäänniemi et al.: a seeded subset of the reference
        subset = np.sort(np.random.default_rng(seed).choice(n_ref, min(n_gen, n_ref), replace=False))
        local = measures.resample(n_gen, len(subset), bootstrap, seed) if bootstrap > 0 else None
        found = measures.manifold_metrics(gen.values, ref.values[subset], resamples=local)
        for name in (name for metric in ("pr", "dc") if metric in wanted for name in GROUPS[metric]):
            results[name] = _with_interval(name, {**found[name], "n_reference": len(subset)},
                                           found[name].get("replicates"), level)
    if setup.samples.kind == "folder" and setup.samples.count < n:
        notes.append(f"the folder holds {setup.samples.count} images, fewer than the {n} asked for: all were used")
    if resamples is not None:
        notes.append(f"intervals: {level:.0%} bootstrap, {bootstrap} replicates of both sets (seed {seed}), "
                     "recentred on the estimate; k-NN balls are the full sets'")
    return {
        "source": setup.samples.info, "reference": {**setup.reference.info, "cached": cached},
        "extractor": setup.extractor.label, "extractor_details": setup.extractor.describe(),
        "resize": setup.extractor.resize, "seed": seed, "n": n_gen, "n_reference": n_ref,
        "bootstrap": {"replicates": bootstrap, "level": level}, "metrics": results, "notes": notes,
        "seconds": round(time.perf_counter() - started, 2),
    }


def fid_vs_n(source, reference=None, *, n: int = DEFAULT_N, extractor: str | None = None,
             resize: str | None = None, seed: int = 0, ns: Sequence[int] | None = None, points: int = 8,
             repeats: int = 5, progress: Progress | None = None) -> dict:
    """FID of random subsets of ``n`` samples against N (N/5 .. N), each N drawn ``repeats`` times
    (mean and percentile band), and FID∞, the intercept of FID against 1/N (Chong & Forsyth 2020)."""
    setup = prepare(source, reference, n=n, seed=seed, extractor=extractor, resize=resize)
    gen = extract(setup.samples, setup.extractor, progress=progress)
    ref, cached = reference_features(setup.reference, setup.extractor, progress=progress)
    curve = measures.fid_curve(gen.values, ref.stats.mean, ref.stats.cov, ns=ns, points=points,
                               repeats=repeats, seed=seed)
    fid = measures.frechet_distance(ref.stats.mean, ref.stats.cov, gen.stats.mean, gen.stats.cov)
    note = measures.small_n_note(gen.stats.count)
    return {**curve, "fid_at_n": fid, "extractor": setup.extractor.label, "source": setup.samples.info,
            "reference": {**setup.reference.info, "cached": cached}, "notes": [note] if note else []}


def truncation_sweep_metrics(model, thresholds: Sequence[float | None] = (0.5, 1.0, 1.5, 2.0, None), *,
                             reference=None, n: int = 1000, extractor: str | None = None,
                             resize: str | None = None, seed: int = 0, metrics: Iterable[str] = ("fid", "pr"),
                             progress: Progress | None = None) -> dict:
    """FID, precision and recall (and density/coverage with "dc") as the truncation threshold moves:
    the same seed at each threshold, z truncated to |z_i| <= threshold (None: untruncated)."""
    model, meta = sources.load_generator(model)
    wanted = [m for m in METRICS if m in set(metrics)]
    if not set(wanted) <= {"fid", "pr", "dc"}:
        raise DataError(f"a truncation sweep measures fid, pr and dc, got {', '.join(metrics)}")
    setup = prepare((model, meta), reference, n=n, seed=seed, extractor=extractor, resize=resize)
    ref, cached = reference_features(setup.reference, setup.extractor, progress=progress)
    subset = np.sort(np.random.default_rng(seed).choice(len(ref.values), min(n, len(ref.values)), replace=False))
    table: dict[str, list[float]] = {name: [] for name in ("fid", "precision", "recall", "density", "coverage")}
    for threshold in thresholds:
        samples = sources.model_source(model, meta, n, seed, threshold)
        gen = extract(samples, setup.extractor, progress=progress, stage=f"threshold {threshold}")
        if "fid" in wanted:
            table["fid"].append(measures.frechet_distance(ref.stats.mean, ref.stats.cov, gen.stats.mean, gen.stats.cov))
        if "pr" in wanted or "dc" in wanted:
            found = measures.manifold_metrics(gen.values, ref.values[subset])
            for name in ("precision", "recall", "density", "coverage"):
                table[name].append(found[name]["value"])
    out = {name: table[name] for metric in wanted for name in GROUPS[metric]}
    note = measures.small_n_note(n) if "fid" in wanted else None
    return {"thresholds": list(thresholds), **out, "n": n, "seed": seed, "extractor": setup.extractor.label,
            "reference": {**setup.reference.info, "cached": cached}, "notes": [note] if note else []}
