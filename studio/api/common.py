"""Argument checks and model loading shared by every endpoint: a user's model text becomes a
loaded checkpoint (zoo name, ``hf://`` id, run folder or upload; any other server path refused)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from studio import checkpoints, explore, imaging, translate
from studio.checkpoints import sources, zoo
from studio.errors import CheckpointError, DataError

DEFAULT_MODEL = "mnist-dcgan"
DEFAULT_TRANSLATION_MODEL = "horse2zebra-cyclegan"
DEFAULT_RECIPE = "mnist-dcgan"
MAX_SEED = 2**31 - 1
MAX_SAMPLES = 64
TRUNCATION_RANGE = (0.1, 3.0)  # the pages' slider; 0 or None means no truncation
MAX_FRAMES = 64
MAX_KEY_SEEDS = 8
MAX_FPS = 30
MAX_TRAIN_STEPS = 100_000
DIRECTIONS = translate.DIRECTIONS
MODEL_CACHE_SIZE = 6



def check_int(name: str, value, low: int, high: int) -> int:
    """``value`` as a whole number in [low, high], else DataError naming ``name``."""
    if isinstance(value, bool) or value is None:
        raise DataError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DataError(f"{name} must be a whole number from {low} to {high}, got {value!r}") from None
    if not number.is_integer() or not low <= number <= high:
        raise DataError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
    return int(number)


def check_truncation(value) -> float | None:
    """0 / None / "" -> None (no truncation); else a threshold in TRUNCATION_RANGE."""
    if value in (None, "", 0, 0.0):
        return None
    low, high = TRUNCATION_RANGE
    try:
        threshold = float(value)
    except (TypeError, ValueError):
        raise DataError(f"truncation must be 0 (none) or a number from {low} to {high}, got {value!r}") from None
    if not low <= threshold <= high:
        raise DataError(f"truncation must be 0 (none) or a number from {low} to {high}, got {value!r}")
    return threshold


def parse_seeds(text) -> list[int]:
    """``"0, 1, 2"`` (or a list) -> 2 to MAX_KEY_SEEDS seeds in [0, MAX_SEED]."""
    parts = text if isinstance(text, (list, tuple)) else str(text or "").replace(" ", ",").split(",")
    seeds = [check_int("each seed", part, 0, MAX_SEED) for part in parts if str(part).strip()]
    if not 2 <= len(seeds) <= MAX_KEY_SEEDS:
        raise DataError(f"pick 2 to {MAX_KEY_SEEDS} key seeds, comma separated; got {len(seeds)}")
    return seeds


# ----------------------------------------------------------------------------- models


def model_source(text: str | None, default: str = DEFAULT_MODEL) -> str:
    """What a client named -> a source ``checkpoints.load`` reads; CheckpointError for anything else."""
    text = (text or "").strip() or default
    if text.startswith(checkpoints.HUB_PREFIX) or text.startswith("https://huggingface.co/"):
        return sources.hub_source(text)
    names = zoo.names()
    if text in names:
        return text
    path = Path(text).resolve()
    for allowed in (sources.uploads_root().resolve(), sources.runs_root().resolve()):
        if path.parent == allowed or path.parent.parent == allowed:  # runs/<id>, uploads/<hash>/<file>
            if path.exists():
                return str(path)
    raise CheckpointError(f"unknown model {text!r}: name a zoo model ({', '.join(names)}), a Hub id "
                          "(hf://org/repo), a training run, or upload a checkpoint")


_models: OrderedDict[tuple[str, float], checkpoints.Loaded] = OrderedDict()
_models_lock = threading.Lock()


def load_model(text: str | None, default: str = DEFAULT_MODEL) -> tuple[str, checkpoints.Loaded]:
    """(source, loaded model) for what a client named; the last MODEL_CACHE_SIZE stay loaded.

    Every failure of an untrusted file (a foreign layout, a corrupt archive) becomes a
    CheckpointError: the server goes on answering.
    """
    source = model_source(text, default)
    key = (source, sources.source_version(source))
    with _models_lock:
        if key in _models:
            _models.move_to_end(key)
            return source, _models[key]
        try:
            loaded = checkpoints.load(source)
        except CheckpointError:
            raise
        except Exception as err:  # noqa: BLE001 - see the docstring
            raise CheckpointError(f"could not load {text!r}: {type(err).__name__}: {err}") from err
        _models[key] = loaded
        while len(_models) > MODEL_CACHE_SIZE:
            _models.popitem(last=False)
    return source, loaded


def save_checkpoint_upload(path: str | Path) -> str:
    """A checkpoint file a client uploaded (a temp path) -> its private copy's source string."""
    path = Path(path)
    if path.stat().st_size > sources.MAX_UPLOAD_BYTES:
        raise CheckpointError(f"{path.name!r} is over the upload limit of {sources.MAX_UPLOAD_MB} MB")
    return str(sources.save_upload(path.name, path.read_bytes()))


def model_card(source: str, loaded: checkpoints.Loaded) -> str:
    """A short Markdown card: title, description, family, data, size, classes, metrics."""
    model, meta = loaded
    facts = sources.card_facts(model, meta)
    lines = [f"#### {sources.display_name(source, meta)}"]
    if meta.get("description"):
        lines.append(str(meta["description"]))
    lines.append("\n".join(f"- **{k}:** {v}" for k, v in facts.items() if v))
    if fid := sources.sample_metrics_line(meta):
        lines.append(fid)
    return "\n\n".join(lines)


def latent_model(text: str | None) -> tuple[str, checkpoints.Loaded]:
    source, loaded = load_model(text)
    problem = explore.latent_page_problem(loaded.model)
    if problem:
        raise DataError(problem)
    return source, loaded


def preview(text: str | None) -> tuple[str, str, np.ndarray | None]:
    """/load: (source, Markdown card, 16 samples at seed 0 for a model with a z, else None)."""
    source, loaded = load_model(text)
    images = None
    if explore.latent_page_problem(loaded.model) is None:
        images = imaging.grid(explore.samples(loaded.model, 16, seed=0), nrow=4)
    return source, model_card(source, loaded), images
