"""What the evaluation tab computes beyond ``metrics.evaluate``: several checkpoints side by side,
the truncation sweep in z (τ) or, for a StyleGAN, in W (ψ), real against generated features in 2-d
(PCA) with each sample's nearest real neighbours, and the same samples under several extractors
and resizes. Plain data out (dicts of floats, lists and uint8 images); the plotly figures are in
``studio.audit.evaluation_charts``.

- Precision / recall as τ moves: the fidelity/diversity trade of the truncation trick (Brock et al.
  2018, BigGAN; Kynkäänniemi et al. 2019 plot it as a curve). In W: w' = w̄ + ψ (w − w̄) (Karras et
  al. 2019, StyleGAN, section 2.4).
- The feature scatter: both sets projected on the two leading principal axes of the real features
  (the reference's covariance, already held for FID). A generator whose cloud sits apart is
  detectably wrong in that feature space.
- Memorisation check: each sample's k nearest real images in feature space. A sample much closer to
  a real image than real images are to each other (the ratio below 1) may be a copy.
- Why FIDs disagree: FID is a distance between Gaussians in one network's feature space, so its
  value depends on the network (dimension, scale, what it was trained to notice) and on how the
  pixels were resized to its input (Parmar et al. 2022, "On Aliased Resizing and Surprising
  Subtleties in GAN Evaluation"; Kynkäänniemi et al. 2023, "The Role of ImageNet Classes in FID").
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from studio.audit import features as feature_nets
from studio.audit import measures, metrics, sources
from studio.errors import DataError
from studio.explore import mixing
from studio.models.base import evaluating

TAU_VALUES = (0.25, 0.5, 1.0, 1.5, 2.0, None)  # None: untruncated
PSI_VALUES = (0.0, 0.25, 0.5, 0.75, 1.0)
NEIGHBOURS = 3
SHOWN = 8  # samples whose neighbours are shown: the closest to a real image
SCATTER_POINTS = 2000  # real points drawn in the scatter (all are searched for neighbours)
SECOND_EXTRACTOR = "efficientnet-lite0"


def _merged_progress(progress, prefix: str):
    if progress is None:
        return None
    return lambda stage, done, total: progress(f"{prefix}: {stage}", done, total)


# ----------------------------------------------------------------------------- several checkpoints

def compare(models: Sequence, reference=None, *, n: int = 500, extractor: str | None = None, seed: int = 0,
            bootstrap: int = metrics.DEFAULT_BOOTSTRAP, metric_names=None, progress=None) -> dict:
    """``metrics.evaluate`` of each model (zoo name, run folder or (model, meta)) at the same N, seed
    and extractor: {"results": [...], "table": rows of model/metric/value/low/high, "notes"}."""
    if not models:
        raise DataError("choose at least one checkpoint to evaluate")
    results, names = [], []
    for i, model in enumerate(models):
        name = model[1].get("source", f"model {i + 1}") if isinstance(model, tuple) else str(model)
        found = metrics.evaluate(model, reference, metrics=metric_names, n=n, extractor=extractor, seed=seed,
                                 bootstrap=bootstrap, progress=_merged_progress(progress, name))
        results.append(found)
        names.append(name)
    table = [{"model": name, "metric": found.get("name") or metric, "key": metric, "value": found["value"],
              "low": (found.get("interval") or [None, None])[0], "high": (found.get("interval") or [None, None])[1],
              "n": result["n"], "extractor": result["extractor"]}
             for name, result in zip(names, results) for metric, found in result["metrics"].items()]
    notes = list(dict.fromkeys(note for result in results for note in result["notes"]))
    if len({r["extractor"] for r in results}) > 1:
        notes.insert(0, "the checkpoints were judged by different extractors: their numbers do not compare")
    if len({r["reference"]["name"] for r in results}) > 1:
        notes.insert(0, "the checkpoints were compared with different reference data: their numbers do not compare")
    return {"models": names, "results": results, "table": table, "notes": notes}


# ----------------------------------------------------------------------------- truncation sweep

def w_source(model, meta: dict | None, n: int, seed: int = 0, psi: float = 1.0) -> sources.ImageSource:
    """``n`` images of a StyleGAN with w truncated towards w̄ by ψ on every layer (same z as
    ``model.sample_latent(n, seed)``), as a metrics image source."""
    mixing.require_stylegan(model)
    z = model.sample_latent(n, seed)  # (n, latent_dim)

    def batches(size: int) -> Iterator[np.ndarray]:
        with evaluating(model), torch.inference_mode():
            for start in range(0, n, min(size, sources.GENERATE_BATCH)):
                ws = model.mapping(z[start:start + min(size, sources.GENERATE_BATCH)], psi=psi)  # (B, num_ws, w_dim)
                yield mixing.draw(model, ws)  # (B, H, W, C) uint8

    name = (meta or {}).get("source") or "stylegan"
    info = {"kind": "model", "name": name, "family": "stylegan", "n": n, "seed": seed, "psi": psi}
    return sources.ImageSource("model", name, n, int(model.image_size), int(model.channels), batches, info)


def sweep(model, values: Sequence[float | None] | None = None, *, reference=None, n: int = 500,
          extractor: str | None = None, seed: int = 0, progress=None) -> dict:
    """FID, precision and recall as the truncation moves: τ in z for most generators, ψ in W for a
    StyleGAN. {"space": "z" | "w", "parameter": "τ" | "ψ", "values", "fid", "precision", "recall", ...}"""
    model, meta = sources.load_generator(model)
    if not mixing.is_stylegan(model):
        found = metrics.truncation_sweep_metrics((model, meta), TAU_VALUES if values is None else values,
                                                 reference=reference, n=n, extractor=extractor, seed=seed,
                                                 progress=progress)
        return {**found, "space": "z", "parameter": "τ", "values": found["thresholds"]}
    values = list(PSI_VALUES if values is None else values)
    setup = metrics.prepare((model, meta), reference, n=n, seed=seed, extractor=extractor)
    ref, cached = metrics.reference_features(setup.reference, setup.extractor, progress=progress)
    subset = np.sort(np.random.default_rng(seed).choice(len(ref.values), min(n, len(ref.values)), replace=False))
    table: dict[str, list[float]] = {"fid": [], "precision": [], "recall": []}
    for psi in values:
        gen = metrics.extract(w_source(model, meta, n, seed, psi), setup.extractor, progress=progress,
                              stage=f"ψ = {psi}")
        table["fid"].append(measures.frechet_distance(ref.stats.mean, ref.stats.cov, gen.stats.mean, gen.stats.cov))
        found = measures.manifold_metrics(gen.values, ref.values[subset])
        table["precision"].append(found["precision"]["value"])
        table["recall"].append(found["recall"]["value"])
    note = measures.small_n_note(n)
    return {"space": "w", "parameter": "ψ", "values": values, "thresholds": values, **table, "n": n, "seed": seed,
            "extractor": setup.extractor.label, "reference": {**setup.reference.info, "cached": cached},
            "notes": [note] if note else []}


# ----------------------------------------------------------------------------- features in 2-d, neighbours

def pca_2d(real: np.ndarray, fake: np.ndarray, real_cov: np.ndarray | None = None,
           real_mean: np.ndarray | None = None) -> dict:
    """Both sets on the two leading principal axes of the real features (centred on the real mean).
    {"real": (N, 2), "fake": (M, 2), "explained": share of the real variance on each axis (2,)}"""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1] or len(real) < 3:
        raise DataError(f"PCA needs two feature arrays (N, d) with the same d and N >= 3, got {real.shape} "
                        f"and {fake.shape}")
    mean = real.mean(axis=0) if real_mean is None else np.asarray(real_mean, np.float64)
    cov = np.cov(real, rowvar=False) if real_cov is None else np.asarray(real_cov, np.float64)
    eigenvalues, vectors = np.linalg.eigh(cov)  # ascending
    axes = vectors[:, ::-1][:, :2]  # (d, 2)
    total = max(float(eigenvalues.clip(min=0).sum()), 1e-30)
    return {"real": (real - mean) @ axes, "fake": (fake - mean) @ axes,
            "explained": (eigenvalues[::-1][:2].clip(min=0) / total).tolist()}


def separation(real_2d: np.ndarray, fake_2d: np.ndarray) -> float:
    """How far apart the two clouds sit: the distance of their centroids over the real cloud's RMS
    radius (0: same centre; several: the fake cloud lies outside the real one)."""
    real_2d, fake_2d = np.asarray(real_2d), np.asarray(fake_2d)
    spread = np.sqrt(((real_2d - real_2d.mean(axis=0)) ** 2).sum(axis=1).mean())
    return float(np.linalg.norm(fake_2d.mean(axis=0) - real_2d.mean(axis=0)) / max(spread, 1e-12))


def nearest_real(fake, real, k: int = NEIGHBOURS, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Indices (M, k) and Euclidean distances (M, k) of each fake feature's k nearest real features."""
    x = torch.as_tensor(np.asarray(real), dtype=torch.float64)  # (N, d)
    y = torch.as_tensor(np.asarray(fake), dtype=torch.float64)  # (M, d)
    if not 1 <= k <= len(x):
        raise DataError(f"k = {k} nearest neighbours need at least {k} real samples, got {len(x)}")
    indices, distances = [], []
    for start in range(0, len(y), chunk):
        found = torch.cdist(y[start:start + chunk], x).topk(k, dim=1, largest=False)  # sorted, nearest first
        indices.append(found.indices)
        distances.append(found.values)
    return torch.cat(indices).numpy(), torch.cat(distances).numpy()


def _images_and_features(source: sources.ImageSource, extractor, progress=None, stage="samples"):
    images, values = [], []
    for batch in source.batches(extractor.batch_size):
        images.extend(np.asarray(image) for image in batch)
        values.append(extractor(batch)[0])
        if progress is not None:
            progress(stage, len(images), source.count)
    return images, np.concatenate(values)


def _images_at(source: sources.ImageSource, indices, batch_size: int = 512) -> dict[int, np.ndarray]:
    wanted, found, start = set(int(i) for i in indices), {}, 0
    for batch in source.batches(batch_size):
        for offset in range(len(batch)):
            if start + offset in wanted:
                found[start + offset] = np.asarray(batch[offset])
        start += len(batch)
        if len(found) == len(wanted):
            break
    return found


def feature_map(source, reference=None, *, n: int = 500, extractor: str | None = None, resize: str | None = None,
                seed: int = 0, k: int = NEIGHBOURS, shown: int = SHOWN, progress=None) -> dict:
    """Real and generated features in 2-d (PCA of the real ones) and the nearest real neighbours of
    the ``shown`` samples closest to a real image: the memorisation check.

    Returns {"real", "fake" (2-d points; real subsampled to SCATTER_POINTS), "explained",
    "separation", "samples" (shown, H, W, C), "neighbours" (shown, k, H, W, C), "distances" (shown, k),
    "sample_index", "neighbour_index", "ratio" (each shown sample's nearest distance over the median
    real-to-real nearest distance), "copies" (samples at distance 0), ...}"""
    setup = metrics.prepare(source, reference, n=n, seed=seed, extractor=extractor, resize=resize)
    images, fake = _images_and_features(setup.samples, setup.extractor, progress)
    ref, cached = metrics.reference_features(setup.reference, setup.extractor, progress=progress)
    real = ref.values
    projection = pca_2d(real, fake, ref.stats.cov, ref.stats.mean)
    index, distance = nearest_real(fake, real, k)
    # real-to-real: each real image's nearest other real image (a subset, for speed)
    probe = np.random.default_rng(seed).choice(len(real), min(1000, len(real)), replace=False)
    typical = float(np.median(nearest_real(real[probe], real, 2)[1][:, 1]))
    order = np.argsort(distance[:, 0], kind="stable")[:min(shown, len(fake))]
    real_images = _images_at(setup.reference, np.unique(index[order]))
    shown_real = np.random.default_rng(seed).choice(len(real), min(SCATTER_POINTS, len(real)), replace=False)
    return {
        "real": projection["real"][np.sort(shown_real)], "fake": projection["fake"],
        "explained": projection["explained"],
        "separation": separation(projection["real"], projection["fake"]),
        "samples": np.stack([images[i] for i in order]),
        "neighbours": np.stack([np.stack([real_images[int(j)] for j in index[i]]) for i in order]),
        "distances": distance[order], "sample_index": order, "neighbour_index": index[order],
        "ratio": (distance[order, 0] / max(typical, 1e-12)).tolist(), "typical_real_distance": typical,
        "copies": int((distance[:, 0] <= 1e-9).sum()), "n": len(fake), "n_reference": len(real),
        "extractor": setup.extractor.label, "reference": {**setup.reference.info, "cached": cached},
        "source": setup.samples.info,
    }


# ----------------------------------------------------------------------------- why FIDs disagree

def default_configs(reference_name: str) -> list[tuple[str, str]]:
    """(extractor, resize) pairs: the dataset's own extractor and a second one, each with PIL bicubic
    and with the network's own resize."""
    first = metrics.default_extractor(reference_name)
    second = SECOND_EXTRACTOR if first != SECOND_EXTRACTOR else "inception"
    return [(name, resize) for name in (first, second) for resize in ("pil-bicubic", "native")]


def disagreement(source, reference=None, *, n: int = 200, n_reference: int = 500, configs=None, seed: int = 0,
                 progress=None) -> dict:
    """The same ``n`` samples and the same ``n_reference`` real images through each (extractor, resize)
    of ``configs``: FID and KID under each, and a sentence on why they differ."""
    setup = metrics.prepare(source, reference, n=n, seed=seed)
    if configs is None:
        configs = default_configs(reference if reference is not None else sources.training_data(setup.meta))
    fake = [np.asarray(image) for batch in setup.samples.batches(256) for image in batch]
    total = setup.reference.count
    if n_reference < 2 or n < 2:
        raise DataError(f"compare at least 2 samples with at least 2 real images, got n={n}, n_reference={n_reference}")
    keep = np.sort(np.random.default_rng(seed).choice(total, min(n_reference, total), replace=False))
    real_by_index = _images_at(setup.reference, keep)
    real = [real_by_index[int(i)] for i in keep]
    rows = []
    for step, (name, resize) in enumerate(configs):
        extractor = feature_nets.get_extractor(name, resize)
        values = []
        for label, images in (("samples", fake), ("real", real)):
            out = []
            for start in range(0, len(images), extractor.batch_size):
                out.append(extractor(images[start:start + extractor.batch_size])[0])
                if progress is not None:
                    progress(f"{extractor.label} ({step + 1}/{len(configs)}): {label}",
                             min(start + extractor.batch_size, len(images)), len(images))
            values.append(np.concatenate(out))
        size = min(len(values[0]), len(values[1]), metrics.KID_SUBSET_SIZE)
        kid = measures.kid(values[0], values[1], subsets=20, subset_size=size, seed=seed)
        rows.append({"extractor": extractor.name, "resize": extractor.resize, "label": extractor.label,
                     "dim": extractor.dim, "fid": measures.fid(values[0], values[1]), "kid": kid["value"]})
    fids = [row["fid"] for row in rows]
    low, high = min(fids), max(fids)
    sentence = (f"The same {len(fake)} samples against the same {len(real)} real images give FIDs from {low:.4g} "
                f"to {high:.4g}{f' (a factor of {high / low:.3g})' if low > 0 else ''}. Each extractor measures "
                "distance in its own feature space, with its own dimension, scale and notion of what matters "
                "(digit classes for the MNIST classifier, ImageNet objects for the others), and the resize "
                "changes the pixels the network sees (bicubic against antialiased bilinear): FIDs compare "
                "only under the same extractor, resize, reference and N.")
    return {"rows": rows, "n": len(fake), "n_reference": len(real), "seed": seed, "sentence": sentence,
            "notes": [measures.small_n_note(len(fake))]}
