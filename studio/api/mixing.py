"""Endpoints for StyleGAN style mixing: the seed matrix, crossover, psi and its shareable recipe;
truncation in W beside the course's truncation in z; stochastic variation (noise draws); AdaIN's
droplets (what each style layer hands to its normalisation)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from studio import checkpoints, explore, imaging
from studio.api.common import MAX_SEED, check_int, check_truncation, load_model
from studio.errors import DataError

DEFAULT_STYLEGAN = "mnist-stylegan"
PSI_RANGE = (-1.0, 2.0)


def stylegan_model(text: str | None) -> tuple[str, checkpoints.Loaded]:
    source, loaded = load_model(text, DEFAULT_STYLEGAN)
    explore.mixing.require_stylegan(loaded.model)
    return source, loaded


def model_resolutions(model, text: str, key: str, what: str) -> list[int]:
    """Resolutions written as "4, 8", "4 8" or "4x4, 8x8", sorted, each one the model draws at ([] for
    none written); ``key`` and ``what`` name the argument in the messages."""
    parts = [p for p in text.replace("x", ",").replace(" ", ",").split(",") if p.strip()]
    resolutions = sorted({check_int(f"each {what} resolution", p, 4, 1024) for p in parts})
    unknown = [r for r in resolutions if r not in model.resolutions]
    if unknown:
        raise DataError(f"{key}: this model has no layers at {unknown}; its resolutions are {list(model.resolutions)}")
    return resolutions


def check_crossover(model, crossover) -> list[int]:
    """"coarse" / "middle" / "fine" (the model's presets) or resolutions such as "4, 8" -> resolutions."""
    presets = explore.mixing.presets(model)
    text = str(crossover or "").strip().lower()
    if text in presets:
        return list(presets[text])
    resolutions = model_resolutions(model, text, "crossover", "crossover")
    if not resolutions:
        raise DataError(f"crossover: name a preset ({', '.join(presets)}) or resolutions such as 4, 8")
    return resolutions


def check_psi(value) -> float:
    low, high = PSI_RANGE
    try:
        psi = float(value)
    except (TypeError, ValueError):
        raise DataError(f"psi must be a number from {low} to {high}, got {value!r}") from None
    if not (math.isfinite(psi) and low <= psi <= high):
        raise DataError(f"psi must be a number from {low} to {high}, got {value!r}")
    return psi


def check_cutoff(model, value) -> int | None:
    """None / "" / -1 -> None (every layer); else a layer count in [0, num_ws]."""
    if value in (None, "", -1, "-1"):
        return None
    return check_int("cutoff", value, 0, model.num_ws)


def parse_matrix_seeds(text, name: str) -> list[int]:
    parts = text if isinstance(text, (list, tuple)) else str(text or "").replace(" ", ",").split(",")
    seeds = [check_int(f"each {name} seed", part, 0, MAX_SEED) for part in parts if str(part).strip()]
    if not 1 <= len(seeds) <= explore.mixing.MAX_SEEDS:
        raise DataError(f"pick 1 to {explore.mixing.MAX_SEEDS} {name} seeds, comma separated; got {len(seeds)}")
    return seeds


@dataclass(frozen=True)
class StyleMix:
    grid: np.ndarray  # the matrix: column sources on top, row sources on the left
    recipe: str  # the JSON recipe that reproduces it
    note: str  # which layers came from the columns


def mix_recipe(model: str | None = DEFAULT_STYLEGAN, rows="0, 1, 2, 3", columns="4, 5, 6, 7", crossover="coarse",
               psi=1.0, cutoff=None, noise_mode="const", noise_seed=0) -> explore.mixing.MixRecipe:
    """The checked recipe of a /style_mix call (also what the page writes)."""
    source, loaded = stylegan_model(model)
    m = loaded.model
    if noise_mode not in explore.mixing.NOISE_MODES:
        raise DataError(f"noise_mode must be one of {', '.join(explore.mixing.NOISE_MODES)}, got {noise_mode!r}")
    return explore.mixing.MixRecipe(
        model=source, weights=explore.mixing.weights_hash(m), row_seeds=parse_matrix_seeds(rows, "row"),
        column_seeds=parse_matrix_seeds(columns, "column"), resolutions=check_crossover(m, crossover),
        psi=check_psi(psi), cutoff=check_cutoff(m, cutoff), noise_mode=noise_mode,
        noise_seed=check_int("noise_seed", noise_seed, 0, MAX_SEED))


def style_mix(model: str | None = DEFAULT_STYLEGAN, rows="0, 1, 2, 3", columns="4, 5, 6, 7", crossover="coarse",
              psi=1.0, cutoff=None, noise_mode="const", noise_seed=0) -> StyleMix:
    """/style_mix: rows x columns, each cell the row's styles with the column's at the crossover resolutions."""
    recipe = mix_recipe(model, rows, columns, crossover, psi, cutoff, noise_mode, noise_seed)
    _, loaded = stylegan_model(recipe.model)
    matrix = explore.mixing.render_recipe(loaded.model, recipe)
    shown = ", ".join(f"{r}x{r}" for r in recipe.resolutions)
    note = f"layers {matrix.layers} (drawing at {shown}) come from the column seeds; the rest from the row seeds"
    return StyleMix(matrix.grid(), recipe.to_json(), note)


MAX_RECIPE_BYTES = 64 * 1024  # a recipe is a few hundred bytes


def style_mix_recipe(text: str | bytes | None = None) -> StyleMix:
    """/style_mix_recipe: open a saved recipe JSON and draw it again (the same pixels); none: the
    recipe of /style_mix's defaults."""
    if text is None or (isinstance(text, str) and not text.strip()):
        recipe = mix_recipe()
    elif len(text) > MAX_RECIPE_BYTES:
        raise DataError(f"a recipe is a small JSON file; this one has {len(text):,} characters (at most {MAX_RECIPE_BYTES:,})")
    else:
        recipe = explore.mixing.MixRecipe.from_json(text)
    _, loaded = stylegan_model(recipe.model)
    matrix = explore.mixing.render_recipe(loaded.model, recipe)
    return StyleMix(matrix.grid(), recipe.to_json(), f"reproduced from the recipe (weights {recipe.weights})")


SIDE = 16  # images in each of the W / z grids and noise draws: 4 x 4, as on the page


@dataclass(frozen=True)
class WTruncation:
    w_grid: np.ndarray  # seeds seed .. seed + 15, w truncated: w_avg + psi (w - w_avg) on the first cutoff layers
    z_grid: np.ndarray  # the same seeds' z truncated to |z_i| <= threshold (the course's trick)
    note: str


def w_truncation(model: str | None = DEFAULT_STYLEGAN, seed=0, psi=0.7, cutoff=None, threshold=0.7) -> WTruncation:
    """/w_truncation: truncation in W (psi, cutoff) beside truncation in z (threshold) for the same seeds."""
    _, loaded = stylegan_model(model)
    m = loaded.model
    seed = check_int("seed", seed, 0, MAX_SEED - SIDE)
    psi, layers = check_psi(psi), check_cutoff(m, cutoff)
    tau = check_truncation(threshold)
    w_images = explore.mixing.w_truncated(m, seed, psi, layers, n=SIDE)
    z_images = explore.mixing.z_truncated(m, seed, tau, n=SIDE)
    cut = "every layer" if layers is None else f"the first {layers} of {m.num_ws} layers"
    note = (f"W: w' = w_avg + {psi:g} (w - w_avg) on {cut}, seeds {seed}-{seed + SIDE - 1}. "
            f"z: the same seeds' z with every |z_i| <= {'inf (none)' if tau is None else f'{tau:g}'} (entries "
            "outside redrawn); at psi 1 and no threshold the two grids are the same images")
    return WTruncation(imaging.grid(w_images, nrow=4), imaging.grid(z_images, nrow=4), note)


def check_noise_at(model, value) -> list[int] | None:
    """"all" / "" / None -> None (noise at every resolution); "none" -> []; or resolutions such as "16, 32"."""
    text = str(value if value is not None else "").strip().lower()
    if text in ("", "all"):
        return None
    if text == "none":
        return []
    return model_resolutions(model, text, "noise_at", "noise")


@dataclass(frozen=True)
class StochasticVariation:
    draws: np.ndarray  # one w under 16 noise draws, 4 x 4
    std_map: np.ndarray  # per-pixel standard deviation over the draws, as a heat image
    std_max: float  # its largest value (pixels in [0, 1])
    note: str


def stochastic_variation(model: str | None = DEFAULT_STYLEGAN, seed=0, noise_seed=0, noise_at="all", psi=1.0,
                         cutoff=None) -> StochasticVariation:
    """/stochastic_variation: the same w (seed) under 16 random noise draws, noise on only at ``noise_at``."""
    _, loaded = stylegan_model(model)
    m = loaded.model
    seed = check_int("seed", seed, 0, MAX_SEED)
    noise_seed = check_int("noise_seed", noise_seed, 0, MAX_SEED)
    resolutions = check_noise_at(m, noise_at)
    variation = explore.mixing.stochastic_variation(m, seed, n=SIDE, noise_seed=noise_seed, noise_resolutions=resolutions,
                                                    psi=check_psi(psi), cutoff=check_cutoff(m, cutoff))
    where = ("every resolution" if resolutions is None else "no resolution" if not resolutions
             else ", ".join(f"{r}x{r}" for r in resolutions))
    top = float(variation.std.max())
    note = (f"One w (seed {seed}), {SIDE} noise draws (noise seed {noise_seed}), noise on at {where}: per-pixel "
            f"standard deviation up to {top:.3f} (pixels in [0, 1]; 0 means the noise changed nothing)")
    return StochasticVariation(imaging.grid(variation.images, nrow=4), explore.mixing.std_image(variation.std), top, note)


DROPLET_COLUMNS = explore.mixing.DROPLET_COLUMNS


@dataclass(frozen=True)
class Droplets:
    rows: list[dict]  # one per style layer, keyed by DROPLET_COLUMNS
    note: str


def droplets(model: str | None = DEFAULT_STYLEGAN, n=64, seed=0) -> Droplets:
    """/droplets: per style layer, how far the strongest pixel of the maps AdaIN normalises towers over
    their mean, and whether it sits in one place in every image (a droplet)."""
    _, loaded = stylegan_model(model)
    peaks = explore.mixing.adain_peaks(loaded.model, check_int("n", n, 4, 256), check_int("seed", seed, 0, MAX_SEED))
    return Droplets(explore.mixing.droplet_rows(peaks), explore.mixing.droplet_text(peaks))
