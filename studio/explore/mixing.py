"""Style mixing, truncation in W and stochastic variation: what the style-mixing page computes.

After Karras, Laine & Aila 2019 ("A Style-Based Generator Architecture for Generative
Adversarial Networks", arXiv:1812.04948): figure 3 (the mixing matrix), section 2.4 (truncation
in W) and figure 4 (stochastic variation). Models are ``studio.models.StyleGAN``.

The crossover is chosen **by resolution**: layers that draw at 4x4, 8x8, ... come from the
column's w. The presets follow the paper's words, derived from the model's resolutions rather
than fixed layer indices: *coarse* the first two resolutions (4x4, 8x8: pose, shape, the digit),
*fine* the last one (and any at 64x64 or above: texture, colour, stroke), *middle* what lies between.

A :class:`MixRecipe` (JSON) names everything an image depends on, with a hash of the weights,
so opening it again reproduces the pixels exactly.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from studio import imaging
from studio.explore.latent import truncated_normal
from studio.errors import DataError

NOISE_MODES = ("const", "random", "none")
MAX_SEEDS = 8  # per side of the matrix
RECIPE_VERSION = 1


def is_stylegan(model) -> bool:
    return getattr(model, "family", "") == "stylegan"


def require_stylegan(model) -> None:
    if not is_stylegan(model):
        raise DataError(f"style mixing needs a StyleGAN; the loaded model is a {getattr(model, 'family', '?')} model")


def presets(model) -> dict[str, tuple[int, ...]]:
    """{"coarse": (4, 8), "middle": (16,), "fine": (32,)} for a 32-pixel model; empty groups left out."""
    res = list(model.resolutions)
    coarse = res[: min(2, len(res) - 1)]
    fine = [r for r in res[len(coarse):] if r >= 64] or res[-1:]
    middle = [r for r in res if r not in coarse and r not in fine]
    groups = {"coarse": tuple(coarse), "middle": tuple(middle), "fine": tuple(fine)}
    return {name: group for name, group in groups.items() if group}


def weights_hash(model) -> str:
    """sha256 (16 hex digits) over the state dict's names, shapes and bytes: which weights drew an image."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------- drawing


def _check(model, psi: float, cutoff: int | None, noise_mode: str, resolutions=()) -> None:
    require_stylegan(model)
    if not -1.0 <= float(psi) <= 2.0:
        raise DataError(f"psi must lie in [-1, 2], got {psi}")
    if cutoff is not None and not 0 <= int(cutoff) <= model.num_ws:
        raise DataError(f"cutoff must lie in [0, {model.num_ws}] (layers), got {cutoff}")
    if noise_mode not in NOISE_MODES:
        raise DataError(f"noise mode must be one of {', '.join(NOISE_MODES)}, got {noise_mode!r}")
    unknown = sorted(set(resolutions) - set(model.resolutions))
    if unknown:
        raise DataError(f"this model has no layers at {unknown}; its resolutions are {list(model.resolutions)}")


@torch.no_grad()
def styles(model, seeds, psi: float = 1.0, cutoff: int | None = None) -> torch.Tensor:
    """w (len(seeds), num_ws, w_dim): one z per seed, as ``model.sample_latent(1, seed)`` draws it."""
    z = torch.cat([model.sample_latent(1, int(seed)) for seed in seeds])  # (N, latent_dim)
    return model.mapping(z, psi=psi, cutoff=cutoff)


@torch.no_grad()
def draw(model, ws: torch.Tensor, noise_mode: str = "const", noise_seed: int = 0, noise_resolutions=None) -> np.ndarray:
    """Images (N, H, W, C) uint8 at image_size (a model still growing is upsampled, nearest)."""
    x = model.synthesis(ws, noise_mode=noise_mode, noise_seed=noise_seed, noise_resolutions=noise_resolutions)
    if x.shape[-1] != model.image_size:
        x = F.interpolate(x, size=model.image_size, mode="nearest")
    return imaging.to_uint8(x.cpu())


@dataclass
class MixMatrix:
    rows: np.ndarray  # (R, H, W, C): the row sources (all their styles)
    columns: np.ndarray  # (K, H, W, C): the column sources
    cells: np.ndarray  # (R, K, H, W, C): row r's styles with column k's at the chosen layers
    layers: list[int]  # the style layers taken from the columns

    def grid(self, padding: int = 2) -> np.ndarray:
        """The paper's figure: columns along the top, rows down the left, the mix in each cell."""
        blank = np.zeros_like(self.rows[0])
        tiles = [blank, *self.columns]
        for r, row in enumerate(self.rows):
            tiles += [row, *self.cells[r]]
        return imaging.grid(np.stack(tiles), nrow=len(self.columns) + 1, padding=padding)


def mixing_matrix(model, row_seeds, column_seeds, resolutions, *, psi: float = 1.0, cutoff: int | None = None,
                  noise_mode: str = "const", noise_seed: int = 0) -> MixMatrix:
    """Row seeds x column seeds; each cell takes the layers drawing at ``resolutions`` from its column."""
    _check(model, psi, cutoff, noise_mode, resolutions)
    for name, seeds in (("row", row_seeds), ("column", column_seeds)):
        if not 1 <= len(seeds) <= MAX_SEEDS:
            raise DataError(f"give 1 to {MAX_SEEDS} {name} seeds, got {len(seeds)}")
    layers = model.layers_at(resolutions)
    w_rows, w_cols = styles(model, row_seeds, psi, cutoff), styles(model, column_seeds, psi, cutoff)
    R, K = len(row_seeds), len(column_seeds)
    mixed = model.mix(w_rows.repeat_interleave(K, 0), w_cols.repeat(R, 1, 1), layers)  # (R*K, num_ws, w_dim)
    images = draw(model, torch.cat([w_rows, w_cols, mixed]), noise_mode, noise_seed)
    cells = images[R + K:]
    return MixMatrix(images[:R], images[R:R + K], cells.reshape(R, K, *cells.shape[1:]), layers)


def w_truncated(model, seed: int, psi: float, cutoff: int | None = None, n: int = 16) -> np.ndarray:
    """The ``n`` images of seeds seed..seed+n-1 with w truncated: w_avg + psi (w - w_avg) on layers [0, cutoff)."""
    _check(model, psi, cutoff, "const")
    return draw(model, styles(model, range(int(seed), int(seed) + n), psi, cutoff))


@torch.no_grad()
def z_truncated(model, seed: int, threshold: float | None, n: int = 16) -> np.ndarray:
    """The course's truncation for the seeds of ``w_truncated`` (seed .. seed+n-1): each seed's z with
    every |z_i| <= threshold (entries inside keep their values; None: untruncated), so that the W and
    z grids show the same seeds and differ only by where the truncation acts."""
    require_stylegan(model)
    z = torch.cat([truncated_normal(1, model.latent_dim, threshold, s) for s in range(int(seed), int(seed) + n)])
    return draw(model, model.mapping(z.to(model.w_avg.device)))


@dataclass
class Variation:
    images: np.ndarray  # (n, H, W, C): one w, n noise draws
    std: np.ndarray  # (H, W): per-pixel standard deviation over the draws, pixels in [0, 1]


def stochastic_variation(model, seed: int, *, n: int = 16, noise_seed: int = 0, noise_resolutions=None,
                         psi: float = 1.0, cutoff: int | None = None) -> Variation:
    """The same w under ``n`` random noise draws (only at ``noise_resolutions``; None: all)."""
    _check(model, psi, cutoff, "random", noise_resolutions or ())
    ws = styles(model, [seed], psi, cutoff).repeat(n, 1, 1)
    images = draw(model, ws, "random", noise_seed, noise_resolutions)
    std = (images.astype(np.float32) / 255.0).std(axis=0).mean(axis=-1)  # (H, W)
    return Variation(images, std)


def std_image(std: np.ndarray) -> np.ndarray:
    """The std map as a (H, W, 3) uint8 heat image, scaled to its own maximum (black: no change)."""
    top = float(std.max()) or 1.0
    grey = (np.clip(std / top, 0, 1) * 255).astype(np.uint8)
    return np.stack([grey, (grey * 0.6).astype(np.uint8), np.zeros_like(grey)], axis=-1)


# ---------------------------------------------------------------------------------------------- droplets
# AdaIN normalises each feature map by its own mean and standard deviation, so a generator can plant
# one strong spike in a map and let it set those statistics: the "droplet" that made StyleGAN2 drop
# AdaIN (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN", section 2).
# A map's peak over its mean magnitude is about 1-6 in a model without one (mnist-stylegan); a droplet
# sits at the same pixel in nearly every image and towers over the rest.
DROPLET_RATIO = 10.0  # peak / mean |x| (median over the samples) at least this ...
DROPLET_SHARE = 0.9  # ... at the same pixel in at least this share of the samples


@dataclass(frozen=True)
class LayerPeak:
    layer: int
    resolution: int
    peak_ratio: float  # median over samples of a map's largest |x| over its mean |x| (averaged over channels)
    hotspot: tuple[int, int]  # (row, column) most often the strongest pixel (|x| summed over channels)
    hotspot_share: float  # the share of samples whose strongest pixel is the hotspot

    @property
    def droplet(self) -> bool:
        return self.peak_ratio >= DROPLET_RATIO and self.hotspot_share >= DROPLET_SHARE


@torch.no_grad()
def adain_peaks(model, n: int = 64, seed: int = 0) -> list[LayerPeak]:
    """What each style layer hands to AdaIN's normalisation, for ``n`` samples (seed's z, constant
    noise): how far its strongest pixel towers over the map, and whether it sits in one place."""
    require_stylegan(model)
    seen: list[torch.Tensor] = []
    layers = list(model.synthesis_network.layers)
    hooks = [layer.norm.register_forward_pre_hook(lambda module, args: seen.append(args[0])) for layer in layers]
    try:
        model.synthesis(model.mapping(model.sample_latent(n, seed)), noise_mode="const")
    finally:
        for hook in hooks:
            hook.remove()
    peaks = []
    for index, x in enumerate(seen):  # (n, C, r, r); a model still growing runs only its first layers
        flat = x.abs().flatten(2)  # (n, C, r*r)
        ratio = (flat.amax(2) / flat.mean(2).clamp_min(1e-12)).mean(1)  # (n,)
        strongest = flat.sum(1).argmax(1)  # (n,) flat pixel index
        values, counts = torch.unique(strongest, return_counts=True)
        top = int(values[counts.argmax()])
        width = x.shape[-1]
        peaks.append(LayerPeak(index, layers[index].resolution, float(ratio.median()), (top // width, top % width),
                               float(counts.max()) / len(strongest)))
    return peaks


DROPLET_COLUMNS = ("layer", "resolution", "peak / mean", "strongest pixel", "same pixel in", "droplet")


def droplet_rows(peaks: list[LayerPeak]) -> list[dict]:
    """The table both UIs show: one row per style layer, keyed by DROPLET_COLUMNS."""
    return [dict(zip(DROPLET_COLUMNS, (p.layer, f"{p.resolution}x{p.resolution}", round(p.peak_ratio, 1), str(p.hotspot),
                                       f"{p.hotspot_share:.0%}", "yes" if p.droplet else ""))) for p in peaks]


def droplet_text(peaks: list[LayerPeak]) -> str:
    """One or two sentences on what ``adain_peaks`` found."""
    found = [p for p in peaks if p.droplet]
    if not found:
        worst = max(peaks, key=lambda p: p.peak_ratio)
        return (f"No droplet: no layer's strongest pixel towers over its map from one place (largest peak "
                f"{worst.peak_ratio:.1f}x the mean, at {worst.resolution}x{worst.resolution}).")
    where = "; ".join(f"layer {p.layer} ({p.resolution}x{p.resolution}): {p.peak_ratio:.0f}x the mean at pixel "
                      f"{p.hotspot} in {p.hotspot_share:.0%} of the samples" for p in found)
    return (f"Droplet: {where}. AdaIN divides each map by its own statistics, so this one spike sets them; "
            "look for a speck at that place in the images.")


# ---------------------------------------------------------------------------------------------- recipes


@dataclass
class MixRecipe:
    """Everything a mixing matrix depends on; JSON that reproduces the image exactly."""

    model: str  # the checkpoint's id (zoo name, Hub id, run path)
    weights: str  # weights_hash of the model that drew it
    row_seeds: list[int]
    column_seeds: list[int]
    resolutions: list[int]  # taken from the columns
    psi: float = 1.0
    cutoff: int | None = None  # None: every layer truncated
    noise_mode: str = "const"
    noise_seed: int = 0
    version: int = RECIPE_VERSION
    kind: str = field(default="gan-studio/style-mix")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str | bytes) -> MixRecipe:
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as err:
            raise DataError(f"the recipe is not JSON: {err}") from None
        if not isinstance(data, dict) or data.get("kind") != "gan-studio/style-mix":
            raise DataError("not a style-mixing recipe (its \"kind\" must be \"gan-studio/style-mix\")")
        if data.get("version") != RECIPE_VERSION:
            raise DataError(f"recipe version {data.get('version')!r} is not supported (expected {RECIPE_VERSION})")
        names = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - names)
        if unknown:
            raise DataError(f"the recipe has unknown keys: {', '.join(unknown)}")
        try:
            recipe = cls(**data)
            recipe.row_seeds = [_int(s, "seed") for s in recipe.row_seeds]
            recipe.column_seeds = [_int(s, "seed") for s in recipe.column_seeds]
            recipe.resolutions = [_int(r, "resolution") for r in recipe.resolutions]
            recipe.psi = float(recipe.psi)
            recipe.cutoff = None if recipe.cutoff is None else _int(recipe.cutoff, "cutoff")
            recipe.noise_seed = _int(recipe.noise_seed, "noise seed")
        except (TypeError, ValueError) as err:
            raise DataError(f"the recipe has a bad value: {err}") from None
        return recipe


def _int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return value


def render_recipe(model, recipe: MixRecipe) -> MixMatrix:
    """The recipe's matrix; refuses a model whose weights differ from the ones that drew it."""
    require_stylegan(model)
    if recipe.weights != weights_hash(model):
        raise DataError(f"the recipe was drawn by other weights (hash {recipe.weights}, loaded {weights_hash(model)}): "
                        f"load {recipe.model!r} first")
    return mixing_matrix(model, recipe.row_seeds, recipe.column_seeds, recipe.resolutions, psi=recipe.psi,
                         cutoff=recipe.cutoff, noise_mode=recipe.noise_mode, noise_seed=recipe.noise_seed)
