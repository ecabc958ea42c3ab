"""What the Gradio app and its HTTP API compute: one function per endpoint, plain data in and out.

Every argument an HTTP client can send is checked here, with a ``DataError`` / ``CheckpointError``
whose message the client sees; every argument has a default, so a bare call shows what an
endpoint does. The results are what the Streamlit pages show, from the same ``studio`` functions
(``explore.truncated``, ``explore.walk``, ``translate.translate_image``, ``live.start_run``, ...):
numpy uint8 images, bytes of PNG / GIF / MP4 files, dicts and plotly figures. Nothing here knows
Gradio; ``gradio_app.py`` only lays these out and turns the errors into ``gr.Error``.

Models are named as a user types them: a zoo name, an ``hf://org/repo`` id, a training run
folder (under ``runs/``) or a checkpoint uploaded through ``save_checkpoint_upload``. Any other
server path is refused: an HTTP client must not make the server read files of its choosing.
"""

from __future__ import annotations

import math
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from studio import checkpoints, explore, imaging, live, translate
from studio import training_charts
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
UPLOADS = Path(tempfile.gettempdir()) / "gan-studio-uploads"  # where sources.save_upload writes
MODEL_CACHE_SIZE = 6


# ----------------------------------------------------------------------------- checking arguments


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
    for allowed in (UPLOADS.resolve(), sources.runs_root().resolve()):
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
    facts = {
        "Family": f"`{meta.get('family')}` ({meta.get('task')})",
        "Dataset": meta.get("dataset"),
        "Image": f"{meta.get('image_size')} px, {meta.get('channels')} channel(s)",
        "Latent size": getattr(model, "latent_dim", None),
        "Classes": ", ".join(meta.get("class_names") or []) or None,
        "License": meta.get("license"),
        "Source": f"`{meta.get('source')}` ({meta.get('kind')})",
    }
    lines = [f"#### {sources.display_name(source, meta)}"]
    if meta.get("description"):
        lines.append(str(meta["description"]))
    lines.append("\n".join(f"- **{k}:** {v}" for k, v in facts.items() if v))
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


# ----------------------------------------------------------------------------- latent space


def grid_rows(n: int) -> int:
    return math.ceil(math.sqrt(n))


def generate(model: str | None = DEFAULT_MODEL, seed=0, n=16, truncation=0, label=None) -> np.ndarray:
    """/generate: ``n`` samples from ``seed`` (z truncated at ``truncation``, 0 = none) as one grid."""
    _, loaded = latent_model(model)
    seed = check_int("seed", seed, 0, MAX_SEED)
    n = check_int("n", n, 1, MAX_SAMPLES)
    threshold = check_truncation(truncation)
    label = _label(loaded.model, label)
    return imaging.grid(explore.truncated(loaded.model, threshold, n=n, seed=seed, label=label), nrow=grid_rows(n))


def _label(model, label) -> int | None:
    if label in (None, "", -1) or not model.num_classes:
        return None
    return check_int("class", label, 0, model.num_classes - 1)


@dataclass(frozen=True)
class Interpolation:
    strip: np.ndarray  # (H, W, C) uint8: the frames side by side
    frames: np.ndarray  # (F, H, W, C) uint8
    gif: bytes
    mp4: bytes
    note: str


def interpolate(model: str | None = DEFAULT_MODEL, seeds="0, 1, 2", frames=16, method="slerp", fps=8,
                space="z") -> Interpolation:
    """/interpolate: the walk through the seeds' latents, as a strip, a GIF and an MP4 (the page's three).
    ``space="w"`` (StyleGANs): lerp between the seeds' w instead of walking z."""
    _, loaded = latent_model(model)
    seeds = parse_seeds(seeds)
    frames = max(check_int("frames", frames, 2, MAX_FRAMES), len(seeds))
    fps = check_int("fps", fps, 1, MAX_FPS)
    if method not in explore.METHODS:
        raise DataError(f"method must be one of {', '.join(explore.METHODS)}, got {method!r}")
    if space not in explore.SPACES:
        raise DataError(f"space must be one of {', '.join(explore.SPACES)}, got {space!r}")
    if space == "w" and not explore.mixing.is_stylegan(loaded.model):
        raise DataError(f"space='w' needs a StyleGAN; {loaded.model.family} models walk in z only")
    classes = [i % loaded.model.num_classes for i in range(len(seeds))] if loaded.model.num_classes else None
    walk = explore.walk(loaded.model, seeds, frames=frames, method=method, classes=classes, space=space)
    strip = imaging.grid(walk.frames, nrow=min(frames, 16))
    movie = imaging.upscale(walk.frames, max(1, 256 // walk.frames.shape[2]))  # crisp pixels, as on the page
    how = "lerp in W" if space == "w" else method
    note = f"{frames} frames, {how}, seeds {', '.join(map(str, seeds))}" + (f". {walk.note}" if walk.note else "")
    return Interpolation(strip, walk.frames, imaging.gif_bytes(movie, fps=fps), imaging.mp4_bytes(movie, fps=fps), note)


@dataclass(frozen=True)
class Truncation:
    grid: np.ndarray  # 16 samples at the threshold
    diversity: float
    sweep: np.ndarray  # the same seed at explore.SWEEP_THRESHOLDS, grids side by side
    chart: object  # plotly figure: diversity and D score against the threshold


def truncate(model: str | None = DEFAULT_MODEL, seed=0, threshold=0.7, n=16) -> Truncation:
    """/truncate: samples at ``threshold``, their diversity, and the side-by-side sweep (the page's)."""
    from studio import charts

    _, loaded = latent_model(model)
    seed = check_int("seed", seed, 0, MAX_SEED)
    n = check_int("n", n, 2, MAX_SAMPLES)
    threshold = check_truncation(threshold)
    images = explore.truncated(loaded.model, threshold, n=n, seed=seed)
    sweep = explore.truncation_sweep(loaded.model, n=n, seed=seed)
    columns = [imaging.grid(c.images, nrow=grid_rows(n)) for c in sweep]
    chart = charts.truncation_chart([c.threshold for c in sweep], [c.diversity for c in sweep], [c.score for c in sweep])
    return Truncation(imaging.grid(images, nrow=grid_rows(n)), explore.mean_pairwise_distance(images),
                      imaging.grid(np.stack(columns), nrow=len(columns), padding=8, pad_value=255), chart)


# ----------------------------------------------------------------------------- translation


def translation_model(text: str | None) -> tuple[str, checkpoints.Loaded]:
    source, loaded = load_model(text, DEFAULT_TRANSLATION_MODEL)
    problem = translate.translation_problem(loaded.model)
    if problem:
        raise DataError(problem)
    return source, loaded


def read_upload(path: str | Path, channels: int) -> tuple[np.ndarray, list[str]]:
    """An uploaded image file -> (uint8 (H, W, channels), notes); DataError for a non-image or an oversize file."""
    path = Path(path)
    size = path.stat().st_size
    if size > translate.MAX_UPLOAD_BYTES:
        raise DataError(f"{path.name!r} is {size / 2**20:.1f} MB, over the limit of "
                        f"{translate.MAX_UPLOAD_BYTES // 2**20} MB")
    return translate.read_image(path.read_bytes(), channels=channels, name=path.name)


def translate_file(model: str | None = DEFAULT_TRANSLATION_MODEL, image: str | Path | None = None,
                   direction: str = "a2b") -> tuple[np.ndarray, np.ndarray, list[str]]:
    """/translate: (input as the model took it, output, notes). No image: the first ready sample."""
    _, loaded = translation_model(model)
    direction = direction or "a2b"
    options = translate.directions(*loaded)
    if direction not in options:
        raise DataError(f"this model translates {' and '.join(options)} only, not {direction!r}")
    if image is None:
        picture, notes = translate.sample_inputs(loaded.meta, direction, count=1)[0].image, []
    else:
        picture, notes = read_upload(image, translate.io_channels(loaded.model, direction)[0])
    output, more = translate.translate_image(loaded.model, picture, direction)
    return picture, output, notes + more


def sample_files(model: str | None = DEFAULT_TRANSLATION_MODEL, direction: str = "a2b", count: int = 4) -> list[Path]:
    """The model's ready samples written as PNG files (for examples a browser can pick)."""
    _, loaded = translation_model(model)
    folder = Path(tempfile.gettempdir()) / "gan-studio-samples" / f"{translate.dataset_kind(loaded.meta)}-{direction}"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for sample in translate.sample_inputs(loaded.meta, direction, count):
        path = folder / ("".join(c if c.isalnum() else "-" for c in sample.name) + ".png")
        if not path.exists():
            path.write_bytes(imaging.png_bytes(sample.image))
        paths.append(path)
    return paths


# ----------------------------------------------------------------------------- training


def train_recipes() -> list[str]:
    """The recipes a client may start: every GAN recipe with a bundled dataset (no server folders)."""
    return [name for name, recipe in live.gan_recipes().items() if recipe.dataset != "folder"]


def find_run(run_id: str | None) -> live.Run:
    """A run of this server by id (default: the newest); DataError for an unknown id."""
    runs = live.list_runs()
    if not run_id and runs:
        return runs[0]
    for run in runs:
        if run.id == run_id:
            return run
    known = f"runs: {', '.join(r.id for r in runs[:8])}" if runs else "start one with /train_start"
    raise DataError(f"no run {run_id!r} on this server; {known}" if run_id else f"no training run yet: {known}")


def train_start(recipe: str = DEFAULT_RECIPE, steps=200) -> live.Run:
    """/train_start: launch ``python -m training`` for ``recipe`` in its own process; returns the run."""
    if recipe not in train_recipes():
        raise DataError(f"unknown recipe {recipe!r}: choose from {', '.join(train_recipes())}")
    steps = check_int("steps", steps, 1, MAX_TRAIN_STEPS)
    return live.start_run(recipe, {}, steps=steps, device=live.devices()[0])


def train_stop(run_id: str | None = None) -> live.Run:
    """/train_stop: ask the run to stop (it finishes the step and checkpoints)."""
    run = find_run(run_id)
    if run.live:
        live.stop_run(run.path)
    return live.read_run(run.path)


def train_resume(run_id: str | None = None, steps=None) -> live.Run:
    run = find_run(run_id)
    steps = None if steps in (None, "", 0) else check_int("steps", steps, 1, MAX_TRAIN_STEPS)
    return live.resume_run(run.path, steps=steps)


_logs: dict[str, live.EventLog] = {}


def run_status(run: live.Run) -> dict:
    """What a client polls: status, step, the last losses and scores, checkpoints."""
    log = _logs.setdefault(str(run.path), live.EventLog(run.path))
    log.update()
    last = log.snapshot()["last"]
    keys = ("loss_g", "loss_d", "d_real", "d_fake", "images_per_s", "resolution", "alpha", "fid", "fid_step")
    fid = training_charts.fid_points(log.snapshot()["markers"])
    if fid["fid"]:
        last = {**last, "fid": fid["fid"][-1], "fid_step": fid["step"][-1]}
    return {"run": run.id, "recipe": run.recipe, "status": run.status, "step": int(last.get("step", run.step)),
            "steps": run.steps, "checkpoints": list(run.checkpoints), "message": run.message,
            **{k: last[k] for k in keys if last.get(k) is not None}}


def run_curves(run: live.Run):
    """The losses chart of the training page, from the run's events."""
    log = _logs.setdefault(str(run.path), live.EventLog(run.path))
    log.update()
    snapshot = log.snapshot()
    steps, columns = snapshot["steps"], snapshot["columns"]
    band = live.BANDS.get(run.config.get("loss", "nonsat"))
    series = {label: (steps, columns[name]) for label, name in (("G", "loss_g"), ("D", "loss_d")) if name in columns}
    stages = training_charts.phases(steps, columns["resolution"], columns.get("alpha", [None] * len(steps))) \
        if "resolution" in columns else ()
    return training_charts.curves_chart("Losses", series, smoothing=0.6, stages=stages,
                                        band=(band.low, band.high, "balanced D loss") if band else None)


def run_samples(run: live.Run) -> np.ndarray | None:
    """The newest sample grid the run saved, or None before the first."""
    from PIL import Image

    samples = _logs.setdefault(str(run.path), live.EventLog(run.path)).samples()
    if not samples:
        return None
    with Image.open(samples[-1][1]) as picture:
        return np.asarray(picture.convert("RGB"))


# ----------------------------------------------------------------------------- feature editing and bias audit

DEFAULT_EDIT_MODEL = "faces-dcgan"
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
    gif: bytes  # the first seed's trajectory, there and back
    chart: object  # plotly: every attribute's probability along the first seed's edit
    rates: dict  # success and side-effect rates over the seeds
    attributes: list[str]


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
    return Edit(trajectory.images[0, 0], trajectory.images[-1, 0], strips, trajectory.gif(0),
                editing.probability_chart(trajectory), trajectory.rates(), judge.names)


@dataclass(frozen=True)
class Audit:
    table: list[dict]  # per other attribute: covariance, slope, the GAN's sample correlation, the world's
    charts: list  # plotly: one association scatter per other attribute, strongest first
    fairness: dict | None  # setting -> fairness_report (faces GANs only)
    fairness_chart: object | None
    note: str


_fairness_cache: dict[tuple, dict] = {}


def bias_audit(model: str | None = DEFAULT_EDIT_MODEL, target="hat", n=256, k=20, fairness=True, progress=None) -> Audit:
    """/bias_audit: implicit associations of ``target`` (N samples, K steps each way) next to the world's
    true correlations; and the smiling classifier's fairness by skin group, before and after de-biasing."""
    from studio.audit import bias
    from studio.data.faces import WORLDS

    _, loaded = load_model(model, DEFAULT_EDIT_MODEL)
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


# ----------------------------------------------------------------------------- style mixing (StyleGAN)

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


# ----------------------------------------------------------------------------- applying GANs (issue 17)

SEGMENTATION_MODELS = ("maps-unet", "maps-pix2pix")
EXPERIMENT_KS = (10, 50, 100)
MAX_WAIT_S = 600


def check_float(name: str, value, low: float, high: float) -> float:
    """``value`` as a finite number in [low, high], else DataError naming ``name``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DataError(f"{name} must be a number from {low} to {high}, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(number) or not low <= number <= high:
        raise DataError(f"{name} must be a number from {low} to {high}, got {value!r}")
    return number


def segment(tile=0) -> dict:
    """/segment: held-out map tile ``tile`` through the bundled U-Net and pix2pix: uint8 images
    (satellite, truth, predicted, pix2pix, pix2pix_classes) and the per-class IoU of both."""
    from studio.apply import segment_tile

    tile = check_int("tile", tile, 0, 999)
    unet = load_model(SEGMENTATION_MODELS[0])[1].model
    try:
        pix2pix = load_model(SEGMENTATION_MODELS[1])[1].model
    except CheckpointError:
        pix2pix = None
    return segment_tile(unet, tile, pix2pix)


def _experiment_ks(ks) -> list[int]:
    if isinstance(ks, (int, float, str)):
        ks = [part for part in str(ks).replace(" ", "").split(",") if part]
    try:
        values = sorted({check_int("K", k, 1, 100) for k in ks})
    except TypeError:
        raise DataError(f"ks must be a list of K values from {EXPERIMENT_KS}, got {ks!r}") from None
    if not values or set(values) - set(EXPERIMENT_KS):
        raise DataError(f"ks must be some of {', '.join(map(str, EXPERIMENT_KS))}, got {ks!r}")
    return values


def _verdict(kind: str, result: dict) -> str:
    from studio import apply

    verdicts = {"augmentation": apply.augmentation_verdict, "transfer": apply.transfer_verdict,
                "semisupervised": apply.semisupervised_verdict}
    return verdicts[kind](result)


def _experiment(kind: str, settings: dict, wait_s) -> dict:
    """Start (or find) the background job, wait up to ``wait_s`` seconds, report where it is."""
    from studio import apply

    wait_s = check_int("wait_s", wait_s, 0, MAX_WAIT_S)
    job = apply.start_job(kind, settings).wait(wait_s)
    out = {"kind": kind, "settings": settings, "status": job.status, "progress": round(job.progress, 3),
           "message": job.message, "elapsed_s": round(job.elapsed, 1), "cached": job.cached}
    if job.status == "failed":
        raise DataError(f"the {kind} experiment failed: {job.error}")
    if job.status == "done":
        out.update(summary=job.result["summary"], reference=job.result.get("reference"),
                   verdict=_verdict(kind, job.result))
    return out


def augment(ks="10", seeds=1, ratio=1.0, steps=None, wait_s=120) -> dict:
    """/augment: a classifier on K real digits per class, real / + classic / + cGAN / + both.

    Runs as a background job (cached by its settings); the call waits up to ``wait_s`` s and
    otherwise returns status "running" with its progress: call again with the same settings.
    ``steps`` (10-300; default the page's) keeps a call short."""
    from studio.apply import augmentation

    settings = {"ks": _experiment_ks(ks), "seeds": check_int("seeds", seeds, 1, 5),
                "ratio": check_float("ratio", ratio, 0.25, 4.0)}
    if steps not in (None, "", 0):
        steps = check_int("steps", steps, 10, 300)
        if steps != augmentation.DEFAULTS["steps"]:
            settings["steps"] = steps
    return _experiment("augmentation", settings, wait_s)


def transfer(ks="10", seeds=1, source="mnist-dcgan", steps=None, wait_s=120) -> dict:
    """/transfer: a linear head on the frozen discriminator of ``source`` vs the same network from
    scratch, K labels per class; a background job like /augment."""
    from studio.apply import transfer as experiment

    if source not in experiment.SOURCES:
        raise DataError(f"source must be one of {', '.join(experiment.SOURCES)}, got {source!r}")
    settings = {"ks": _experiment_ks(ks), "seeds": check_int("seeds", seeds, 1, 5), "source": source}
    if steps not in (None, "", 0):
        steps = check_int("steps", steps, 10, 300)
        if steps != experiment.DEFAULTS["steps"]:
            settings["steps"] = steps
    return _experiment("transfer", settings, wait_s)


def semisupervised(ks="10", seeds=1, steps=None, unsup_weight=1.0, wait_s=120) -> dict:
    """/semisupervised: the K+1-class semi-supervised GAN (Salimans et al. 2016) against its own
    discriminator trained on the K labels per class only; a background job like /augment.
    ``unsup_weight`` (0-4): the weight of the unlabelled real/fake loss."""
    from studio.apply import semisupervised as experiment

    settings = {"ks": _experiment_ks(ks), "seeds": check_int("seeds", seeds, 1, 5)}
    if steps not in (None, "", 0):
        steps = check_int("steps", steps, 10, 3000)
        if steps != experiment.DEFAULTS["steps"]:
            settings["steps"] = steps
    weight = check_float("unsup_weight", 1.0 if unsup_weight in (None, "") else unsup_weight, 0.0, 4.0)
    if weight != experiment.DEFAULTS["unsup_weight"]:
        settings["unsup_weight"] = weight
    return _experiment("semisupervised", settings, wait_s)


def experiment_chart(result: dict):
    """The plotly chart of an /augment, /transfer or /semisupervised answer (None while it runs)."""
    from studio.apply.augmentation import LABELS, accuracy_chart
    from studio.apply.semisupervised import LABELS as SGAN_LABELS
    from studio.apply.transfer import LABELS as TRANSFER_LABELS

    if result.get("status") != "done":
        return None
    labels = {"augmentation": LABELS, "transfer": TRANSFER_LABELS, "semisupervised": SGAN_LABELS}[result["kind"]]
    return accuracy_chart(result["summary"], "condition", labels, "Held-out accuracy against K (95% intervals)",
                          reference=result.get("reference"))


# ----------------------------------------------------------------------------- evaluation (issue 15)

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
