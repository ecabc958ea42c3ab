"""Endpoints for classifier-guided feature editing and the bias audit."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from studio import checkpoints, explore, imaging
from studio.api.common import MAX_SEED, check_int, load_model
from studio.errors import CheckpointError, DataError

DEFAULT_EDIT_MODEL = "faces-dcgan"
# the audit's default: the faces GAN that reproduces the world's shares and bias (its card's bar), on which
# de-biasing with GAN pairs measurably narrows the smiling classifier's gap; faces-dcgan, below that bar,
# weakened the bias it learned and is the editing page's default because conditional editing works on it
DEFAULT_AUDIT_MODEL = "faces-dcgan-sharp"
EDIT_DIRECTIONS = {"add": 1, "remove": -1}
MAX_EDIT_STEPS = 40
AUDIT_N, AUDIT_K = (8, 1024), (1, 50)


def edit_models(loaded: checkpoints.Loaded):
    """(generator, judge) for a GAN with a fitting classifier; CheckpointError saying why not."""
    from studio.explore import editing

    problem = explore.latent_page_problem(loaded.model)
    if problem:
        raise CheckpointError(problem)
    _, judge = load_model(editing.judge_name(loaded.meta))
    return loaded.model, editing.make_judge(judge.model, judge.meta)


@dataclass(frozen=True)
class Edit:
    before: np.ndarray  # (H, W, C) the first seed at step 0
    after: np.ndarray  # ... at the last step
    strips: np.ndarray  # every seed's trajectory, one row each
    chart: object  # plotly: every attribute's probability along the first seed's edit
    rates: dict  # success and side-effect rates over the seeds
    attributes: list[str]
    trajectory: object  # studio.explore.editing.Trajectory

    @functools.cached_property
    def gif(self) -> bytes:
        """The first seed's trajectory as a GIF, encoded when first asked for (a page that only offers
        it for download need not pay ~10 ms at every slider move)."""
        return self.trajectory.gif(0)


def edit(model: str | None = DEFAULT_EDIT_MODEL, seed=0, target="hat", direction="add", method="gradient", steps=10,
         strength=1.0, keep_weight=0.0, keep="", eight_seeds=False) -> Edit:
    """/edit: move ``seed``'s z to add or remove ``target`` (gradient, linear or conditional), as the page does.

    ``keep``: comma-separated attributes the conditional direction keeps; ``eight_seeds``: seeds
    seed .. seed + 7 at once (for the success and side-effect rates).
    """
    from studio.explore import editing

    _, loaded = load_model(model, DEFAULT_EDIT_MODEL)
    generator, judge = edit_models(loaded)
    seed = check_int("seed", seed, 0, MAX_SEED - 8)
    steps = check_int("steps", steps, 1, MAX_EDIT_STEPS)
    if direction not in EDIT_DIRECTIONS:
        raise DataError(f"direction must be 'add' or 'remove', got {direction!r}")
    try:
        strength, keep_weight = float(strength), float(keep_weight)
    except (TypeError, ValueError):
        raise DataError(f"strength and keep_weight must be numbers, got {strength!r} and {keep_weight!r}") from None
    kept = [k.strip() for k in str(keep or "").split(",") if k.strip()]
    for name in kept:
        judge.index(name)  # an unknown name gets a clear message
    seeds = list(range(seed, seed + 8)) if eight_seeds in (True, "true", "True", 1) else [seed]
    trajectory = editing.edit(generator, judge, seeds, str(target), EDIT_DIRECTIONS[direction], method=method,
                              steps=steps, strength=strength, keep_weight=keep_weight, keep=kept)
    strips = imaging.grid(trajectory.images.transpose(1, 0, 2, 3, 4).reshape(-1, *trajectory.images.shape[2:]),
                          nrow=len(trajectory.images))
    return Edit(trajectory.images[0, 0], trajectory.images[-1, 0], strips, editing.probability_chart(trajectory),
                trajectory.rates(), judge.names, trajectory)


@dataclass(frozen=True)
class Audit:
    table: list[dict]  # per other attribute: covariance, slope, the GAN's sample correlation, the world's
    charts: list  # plotly: one association scatter per other attribute, strongest first
    fairness: dict | None  # setting -> fairness_report (faces GANs only)
    fairness_chart: object | None
    note: str


_fairness_cache: dict[tuple, dict] = {}


def bias_audit(model: str | None = DEFAULT_AUDIT_MODEL, target="hat", n=256, k=20, fairness=True, progress=None) -> Audit:
    """/bias_audit: implicit associations of ``target`` (N samples, K steps each way) next to the world's
    true correlations; and the smiling classifier's fairness by skin group, before and after de-biasing."""
    from studio.audit import bias
    from studio.data.faces import WORLDS

    _, loaded = load_model(model, DEFAULT_AUDIT_MODEL)
    generator, judge = edit_models(loaded)
    n, k = check_int("N", n, *AUDIT_N), check_int("K", k, *AUDIT_K)
    dataset = str(loaded.meta.get("dataset") or "").split(":")[0]
    world = WORLDS.get("biased" if dataset == "faces" else "fair" if dataset == "faces_fair" else "", None)
    result = bias.implicit_associations(generator, judge, str(target), n=n, steps=k, world=world, progress=progress)
    table = [{"attribute": name, "covariance": round(result["covariance"][name], 4),
              "slope": round(result["regression"][name]["slope"], 3),
              "GAN samples correlation": round(result["sample_correlation"][name], 3),
              "true (world) correlation": (round(result["true_correlation"][name], 3) if world else None)}
             for name in result["ranking"]]
    charts = [bias.association_chart(result, name) for name in result["ranking"]]
    report = chart = None
    if fairness in (True, "true", "True", 1) and world is not None:
        key = (id(generator), id(judge.classifier))
        if key not in _fairness_cache:
            _fairness_cache[key] = bias.fairness_study(generator, judge, n_boot=100)
        report = _fairness_cache[key]
        chart = bias.fairness_chart(report)
    note = ("The classifier is the judge: its errors enter every number here. "
            f"{n} samples, {k} gradient steps each way.")
    return Audit(table, charts, report, chart, note)
