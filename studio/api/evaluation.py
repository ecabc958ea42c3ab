"""Endpoints for evaluation: FID/KID/IS/precision-recall tables, FID curves, feature maps."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from studio import checkpoints, imaging
from studio.api.common import DEFAULT_MODEL, MAX_SEED, check_int, load_model
from studio.checkpoints import zoo
from studio.errors import CheckpointError, DataError

EVAL_N = (20, 5000)
DEFAULT_EVAL_N = 500
EVAL_MAX_MODELS = 4
EVAL_EXTRACTORS = ("classifier:mnist-classifier", "efficientnet-lite0", "inception")
EVAL_BOOTSTRAP = 30
DISAGREEMENT_N = (20, 1000)


def check_extractor(value) -> str | None:
    """"" / None / "default" -> None (the dataset's own: the MNIST classifier for digits); else one of
    EVAL_EXTRACTORS or ``classifier:<a zoo classifier>``."""
    text = str(value or "").strip()
    if text in ("", "default"):
        return None
    classifiers = [f"classifier:{e.name}" for e in zoo.entries() if e.task == "classifier"]
    if text not in EVAL_EXTRACTORS and text not in classifiers:
        raise DataError(f"unknown feature extractor {text!r}: choose {', '.join(dict.fromkeys([*EVAL_EXTRACTORS, *classifiers]))}"
                        " (or leave it empty for the dataset's own)")
    return text


def eval_models(models) -> list[tuple[str, checkpoints.Loaded]]:
    """"mnist-dcgan, mnist-wgangp" (or a list) -> 1 to EVAL_MAX_MODELS loaded generators of z."""
    from studio.audit import sources as image_sources

    parts = models if isinstance(models, (list, tuple)) else str(models or DEFAULT_MODEL).split(",")
    names = list(dict.fromkeys(str(p).strip() for p in parts if str(p).strip())) or [DEFAULT_MODEL]
    if len(names) > EVAL_MAX_MODELS:
        raise DataError(f"evaluate 1 to {EVAL_MAX_MODELS} checkpoints at once, got {len(names)}")
    found = []
    for name in names:
        source, loaded = load_model(name)
        if getattr(loaded.model, "task", "") not in image_sources.GENERATOR_TASKS:
            raise CheckpointError(f"{name} is a {loaded.meta.get('task', '?')} model: sample metrics need a "
                                  "generator of z such as mnist-dcgan")
        found.append((source, loaded))
    return found


def _as_generator(source: str, loaded: checkpoints.Loaded):
    return loaded.model, {**loaded.meta, "source": source}


@dataclass(frozen=True)
class Evaluation:
    table: list[dict]  # model, metric, value, low, high, n, extractor: one row per (model, metric)
    chart: object  # plotly: one panel per metric, a bar per model with its interval
    notes: list[str]
    results: list[dict]  # metrics.evaluate's answer for each model


def evaluate(models="mnist-dcgan", n=DEFAULT_EVAL_N, extractor="", seed=0, progress=None) -> Evaluation:
    """/evaluate: FID, KID, classifier score, precision/recall, density/coverage of each model's N
    samples against its training data, each with a 95% bootstrap interval."""
    from studio.audit import evaluation, evaluation_charts

    found = eval_models(models)
    n, seed = check_int("N", n, *EVAL_N), check_int("seed", seed, 0, MAX_SEED)
    extractor = check_extractor(extractor)
    out = evaluation.compare([_as_generator(*pair) for pair in found], n=n, extractor=extractor, seed=seed,
                             bootstrap=EVAL_BOOTSTRAP, progress=progress)
    return Evaluation(out["table"], evaluation_charts.metric_bars(out["table"]), out["notes"], out["results"])


@dataclass(frozen=True)
class Chart:
    result: dict  # plain data
    chart: object  # plotly figure


def fid_curve(model=DEFAULT_MODEL, n=DEFAULT_EVAL_N, extractor="", seed=0, progress=None) -> Chart:
    """/fid_curve: FID of random subsets against N (N/5 .. N, 5 draws each, with the band) and FID∞."""
    from studio.audit import evaluation_charts, metrics

    (pair,) = eval_models([model or DEFAULT_MODEL])
    n, seed = check_int("N", n, max(EVAL_N[0], 50), EVAL_N[1]), check_int("seed", seed, 0, MAX_SEED)
    curve = metrics.fid_vs_n(_as_generator(*pair), n=n, extractor=check_extractor(extractor), seed=seed,
                             progress=progress)
    return Chart(curve, evaluation_charts.fid_curve_chart(curve))


def truncation_metrics(model=DEFAULT_MODEL, n=DEFAULT_EVAL_N, extractor="", seed=0, progress=None) -> Chart:
    """/truncation_metrics: FID, precision and recall as the truncation moves (τ in z; ψ in W for a StyleGAN)."""
    from studio.audit import evaluation, evaluation_charts

    (pair,) = eval_models([model or DEFAULT_MODEL])
    n, seed = check_int("N", n, *EVAL_N), check_int("seed", seed, 0, MAX_SEED)
    found = evaluation.sweep(_as_generator(*pair), n=n, extractor=check_extractor(extractor), seed=seed,
                             progress=progress)
    return Chart(found, evaluation_charts.sweep_chart(found))


@dataclass(frozen=True)
class FeatureMap:
    result: dict  # evaluation.feature_map's answer (points, distances, ratios)
    chart: object  # the 2-d scatter
    neighbours: np.ndarray  # one row per shown sample: the sample, then its nearest real images


def feature_map(model=DEFAULT_MODEL, n=DEFAULT_EVAL_N, extractor="", seed=0, progress=None) -> FeatureMap:
    """/feature_map: real and generated features in 2-d (PCA) and the nearest real neighbours of the
    samples closest to a real image (the memorisation check)."""
    from studio.audit import evaluation, evaluation_charts

    (pair,) = eval_models([model or DEFAULT_MODEL])
    n, seed = check_int("N", n, *EVAL_N), check_int("seed", seed, 0, MAX_SEED)
    found = evaluation.feature_map(_as_generator(*pair), n=n, extractor=check_extractor(extractor), seed=seed,
                                   progress=progress)
    rows = [np.concatenate([sample[None], neighbours]) for sample, neighbours in zip(found["samples"], found["neighbours"])]
    grid = imaging.grid(np.concatenate(rows), nrow=1 + found["neighbours"].shape[1])
    return FeatureMap(found, evaluation_charts.feature_scatter(found), grid)


def fid_disagreement(model=DEFAULT_MODEL, n=200, n_reference=500, seed=0, progress=None) -> Chart:
    """/fid_disagreement: the same samples and real images under two extractors and two resizes."""
    from studio.audit import evaluation, evaluation_charts

    (pair,) = eval_models([model or DEFAULT_MODEL])
    n, seed = check_int("N", n, *DISAGREEMENT_N), check_int("seed", seed, 0, MAX_SEED)
    n_reference = check_int("n_reference", n_reference, *DISAGREEMENT_N)
    found = evaluation.disagreement(_as_generator(*pair), n=n, n_reference=n_reference, seed=seed, progress=progress)
    return Chart(found, evaluation_charts.disagreement_chart(found))
