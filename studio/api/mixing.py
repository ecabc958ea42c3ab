"""Endpoints for StyleGAN style mixing: the seed matrix, crossover, psi and its shareable recipe."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from studio import checkpoints, explore
from studio.api.common import MAX_SEED, check_int, load_model
from studio.errors import DataError

DEFAULT_STYLEGAN = "mnist-stylegan"
PSI_RANGE = (-1.0, 2.0)


def stylegan_model(text: str | None) -> tuple[str, checkpoints.Loaded]:
    source, loaded = load_model(text, DEFAULT_STYLEGAN)
    explore.mixing.require_stylegan(loaded.model)
    return source, loaded


def check_crossover(model, crossover) -> list[int]:
    """"coarse" / "middle" / "fine" (the model's presets) or resolutions such as "4, 8" -> resolutions."""
    presets = explore.mixing.presets(model)
    text = str(crossover or "").strip().lower()
    if text in presets:
        return list(presets[text])
    parts = [p for p in text.replace("x", ",").replace(" ", ",").split(",") if p.strip()]
    if not parts:
        raise DataError(f"crossover: name a preset ({', '.join(presets)}) or resolutions such as 4, 8")
    resolutions = sorted({check_int("each crossover resolution", p, 4, 1024) for p in parts})
    unknown = [r for r in resolutions if r not in model.resolutions]
    if unknown:
        raise DataError(f"crossover: this model has no layers at {unknown}; its resolutions are {list(model.resolutions)}")
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


def style_mix_recipe(text: str | bytes) -> StyleMix:
    """/style_mix_recipe: open a saved recipe JSON and draw it again (the same pixels)."""
    recipe = explore.mixing.MixRecipe.from_json(text)
    _, loaded = stylegan_model(recipe.model)
    matrix = explore.mixing.render_recipe(loaded.model, recipe)
    return StyleMix(matrix.grid(), recipe.to_json(), f"reproduced from the recipe (weights {recipe.weights})")
