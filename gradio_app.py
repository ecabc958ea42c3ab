"""GAN Studio as a Gradio app: the Streamlit pages as tabs, and every event a named HTTP endpoint.

Run with ``python gradio_app.py`` (http://localhost:7860; GRADIO_SERVER_PORT / GRADIO_SERVER_NAME
change that); it is also the Hugging Face Space's app_file. Layout only: every handler calls one
function of ``studio.api``, which checks the arguments and calls the same ``studio`` functions as
the Streamlit pages; studio's errors come back as ``gr.Error`` with the studio's message.

Endpoints (``gradio_client``: ``Client(url).predict(..., api_name="/generate")``), each with a
default for every parameter: /load, /generate, /interpolate, /truncate, /translate,
/train_start, /train_status, /train_stop, /train_resume, /edit, /bias_audit, /style_mix, /style_mix_recipe, /w_truncation,
/stochastic_variation, /droplets, /segment, /augment, /transfer, /semisupervised, /evaluate, /fid_curve,
/truncation_metrics, /feature_map, /fid_disagreement. Heavy work runs one at a time, light
work (samples, status) a few at a time; GPU work is marked for ZeroGPU when ``spaces`` exists.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import gradio as gr

from studio import api, explore, ideas, training_charts
from studio import translate as translating
from studio.checkpoints import zoo
from studio.errors import CheckpointError, DataError
from studio.live import LaunchError, recognisable_text

try:  # on a ZeroGPU Space: a GPU is attached for the duration of each decorated call
    import spaces

    gpu = spaces.GPU
except ImportError:
    def gpu(fn):
        return fn

HEAVY = dict(concurrency_limit=1, concurrency_id="heavy")  # one at a time, across these endpoints
LIGHT = dict(concurrency_limit=4)
STATUS_EVERY_S = 2.0
LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]
# Small images (32 px digits) fill their box, enlarged without blurring.
CSS = ".pixels img { width: 100%; height: 100%; object-fit: contain; image-rendering: pixelated; }"
OUTPUTS = Path(tempfile.gettempdir()) / "gan-studio-outputs"


def studio_errors(fn):
    """Report studio's errors (bad seed, unknown model, hostile file...) to the client as gr.Error."""
    @functools.wraps(fn)
    def call(*args):
        try:
            return fn(*args)
        except (DataError, CheckpointError, LaunchError, ValueError) as err:
            raise gr.Error(str(err), print_exception=False) from err
    return call


def shown(image):
    """A uint8 (H, W, 1) image as (H, W) for gr.Image; colour images unchanged."""
    return None if image is None else image[..., 0] if image.shape[-1] == 1 else image


def picture(label: str, elem_id: str, height: int = 300) -> gr.Image:
    """An output image shown enlarged without blurring (the small grids of the StyleGAN sections)."""
    return gr.Image(label=label, format="png", interactive=False, elem_classes="pixels", elem_id=elem_id, height=height)


def output_file(data: bytes, suffix: str) -> str:
    OUTPUTS.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=OUTPUTS, suffix=suffix, delete=False) as file:
        file.write(data)
    return file.name


def idea(which: ideas.Idea) -> gr.Markdown:
    return gr.Markdown(which.markdown(), latex_delimiters=LATEX)


def zoo_names(*tasks: str) -> list[str]:
    try:
        return [e.name for e in zoo.entries() if e.task in tasks and e.availability != "missing"]
    except CheckpointError:
        return []


# ----------------------------------------------------------------------------- handlers (one studio.api call each)


@gpu
@studio_errors
def load(model=api.DEFAULT_MODEL, upload=None):
    source, card, samples = api.preview(api.save_checkpoint_upload(upload) if upload else model)
    return source, card, shown(samples)


def route(source):
    """After /load: the tabs that can use the model get it as their model."""
    _, loaded = api.load_model(source)
    latent = explore.latent_page_problem(loaded.model) is None
    translates = translating.translation_problem(loaded.model) is None
    keep = gr.skip()
    return (source if latent else keep, source if latent else keep, source if latent else keep,
            source if translates else keep)


@gpu
@studio_errors
def generate(model=api.DEFAULT_MODEL, seed=0, n=16, truncation=0):
    return shown(api.generate(model, seed, n, truncation))


@gpu
@studio_errors
def interpolate(model=api.DEFAULT_MODEL, seeds="0, 1, 2", frames=16, method="slerp", fps=8, space="z"):
    walk = api.interpolate(model, seeds, frames, method, fps, space)
    return shown(walk.strip), output_file(walk.gif, ".gif"), output_file(walk.mp4, ".mp4"), walk.note


@gpu
@studio_errors
def truncate(model=api.DEFAULT_MODEL, seed=0, threshold=0.7):
    result = api.truncate(model, seed, threshold)
    return shown(result.grid), round(result.diversity, 4), shown(result.sweep), result.chart


@gpu
@studio_errors
def translate(model=api.DEFAULT_TRANSLATION_MODEL, image=None, direction="a2b"):
    picture, output, notes = api.translate_file(model, image, direction)
    return shown(picture), shown(output), "Converted for the model: " + "; ".join(notes) + "." if notes else ""


@studio_errors
def train_start(recipe=api.DEFAULT_RECIPE, steps=200):
    run = api.train_start(recipe, steps)
    return run.id, api.run_status(run)


@studio_errors
def train_status(run_id=""):
    run = api.find_run(run_id)
    return api.run_status(run), api.run_curves(run), shown(api.run_samples(run))


def train_verdict(state):
    """The newest checkpoint's verdict in words, as the Streamlit tab writes it (digit runs only)."""
    digits = (state or {}).get("digits") if isinstance(state, dict) else None
    if not digits:
        return ""
    return (f"**Step {digits['step']:,}, {digits['samples']:,} samples:** "
            + recognisable_text(digits["sure_share"], digits["real_sure_share"], digits["histogram"]))


def train_trend(state, shown=None):
    """The sure share checkpoint by checkpoint against the bar, from /train_status's digits.trend;
    redrawn only when a checkpoint was judged since (the status changes every second)."""
    digits = (state or {}).get("digits") if isinstance(state, dict) else None
    trend = digits.get("trend") if digits else None
    if trend == shown:
        return gr.skip(), shown
    if not trend:
        return None, trend
    steps, shares, in_range = (list(column) for column in zip(*trend))
    return training_charts.sure_chart({"step": steps, "share": shares, "digits": in_range,
                                       "real": digits["real_sure_share"]}), trend


def train_tick(run_id):
    return train_status(run_id) if run_id else (gr.skip(), gr.skip(), gr.skip())


@studio_errors
def train_stop(run_id=""):
    return api.run_status(api.train_stop(run_id))


@studio_errors
def train_resume(run_id="", steps=None):
    return api.run_status(api.train_resume(run_id, steps))


# ----------------------------------------------------------------------------- feature editing and bias audit


@gpu
@studio_errors
def edit(model=api.DEFAULT_EDIT_MODEL, seed=0, target="hat", direction="add", method="gradient", steps=10,
         strength=1.0, keep_weight=0.0, keep="", eight_seeds=False):
    result = api.edit(model, seed, target, direction, method, steps, strength, keep_weight, keep, eight_seeds)
    return (shown(result.before), shown(result.after), shown(result.strips), output_file(result.gif, ".gif"),
            result.chart, result.rates)


@gpu
@studio_errors
def bias_audit(model=api.DEFAULT_AUDIT_MODEL, target="hat", n=256, k=20, fairness=False):
    result = api.bias_audit(model, target, n, k, fairness)
    table = [[row[c] for c in ("attribute", "covariance", "slope", "GAN samples correlation",
                               "true (world) correlation")] for row in result.table]
    fair = None
    if result.fairness:
        fair = {setting: {m: [round(report[m], 4), [round(x, 4) for x in report["interval"][m]]]
                          for m in api_bias_metrics()} for setting, report in result.fairness.items()}
    return table, result.charts[0], result.note, fair, result.fairness_chart


def api_bias_metrics():
    from studio.audit.bias import FAIRNESS_METRICS

    return FAIRNESS_METRICS


def feature_tabs(edit_choices: list[str]) -> None:
    """The Feature editing and Bias audit tabs, with their /edit and /bias_audit endpoints."""
    model_box = functools.partial(gr.Dropdown, label="Model", allow_custom_value=True,
                                  info="a GAN with a fitting classifier: faces-dcgan, mnist-dcgan, ...")
    default = api.DEFAULT_EDIT_MODEL if api.DEFAULT_EDIT_MODEL in edit_choices else (edit_choices or [""])[0]
    with gr.Tab("Feature editing", id="editing"):
        with gr.Row():
            with gr.Column():
                ed_model = model_box(choices=edit_choices, value=default)
                with gr.Row():
                    ed_seed = gr.Number(label="Seed", value=0, precision=0, minimum=0, maximum=api.MAX_SEED - 8)
                    ed_target = gr.Textbox(label="Target attribute", value="hat",
                                           info="faces: hat, glasses, smiling, beard, dark_skin; digits: 0-9")
                    ed_direction = gr.Radio(list(api.EDIT_DIRECTIONS), value="add", label="Direction")
                with gr.Row():
                    ed_method = gr.Radio(["gradient", "linear", "conditional"], value="gradient", label="Method")
                    ed_steps = gr.Slider(1, api.MAX_EDIT_STEPS, value=10, step=1, label="Steps")
                    ed_strength = gr.Slider(0.1, 3.0, value=1.0, step=0.1, label="Strength")
                with gr.Row():
                    ed_keep_weight = gr.Slider(0, 20, value=0, step=0.5, label="Keep other attributes (λ, gradient)")
                    ed_keep = gr.Textbox(label="Keep (conditional), comma separated", value="")
                    ed_eight = gr.Checkbox(label="8 seeds at once", value=False)
                ed_button = gr.Button("Edit", variant="primary")
                with gr.Row():
                    ed_before = gr.Image(label="Before", format="png", interactive=False, elem_classes="pixels", height=160)
                    ed_after = gr.Image(label="After", format="png", interactive=False, elem_classes="pixels", height=160,
                                        elem_id="ed-after")
                ed_strip = gr.Image(label="Trajectory (one row per seed)", format="png", interactive=False,
                                    elem_classes="pixels")
                ed_gif = gr.File(label="Trajectory GIF")
                ed_chart = gr.Plot(label="Every attribute's probability along the edit")
                ed_rates = gr.JSON(label="Success and side-effect rates")
            with gr.Column():
                idea(ideas.FEATURE_EDITING)
    with gr.Tab("Bias audit", id="bias"):
        with gr.Row():
            with gr.Column():
                face_choices = [c for c in edit_choices if c.startswith("faces")]
                audit_default = api.DEFAULT_AUDIT_MODEL if api.DEFAULT_AUDIT_MODEL in face_choices else default
                bias_model = model_box(choices=face_choices, value=audit_default)
                with gr.Row():
                    bias_target = gr.Dropdown(["hat", "glasses", "smiling", "beard", "dark_skin"], value="hat",
                                              label="Target attribute")
                    bias_n = gr.Slider(*api.AUDIT_N, value=256, step=8, label="N samples")
                    bias_k = gr.Slider(*api.AUDIT_K, value=20, step=1, label="K steps each way")
                    bias_fair = gr.Checkbox(label="Fairness study (a few minutes the first time; then cached)", value=False)
                bias_button = gr.Button("Audit", variant="primary")
                bias_table = gr.Dataframe(headers=["attribute", "covariance", "slope", "GAN samples correlation",
                                                   "true (world) correlation"], label="Associations, strongest first",
                                          elem_id="bias-table")
                bias_chart = gr.Plot(label="The strongest association")
                bias_note = gr.Markdown()
                bias_fairness = gr.JSON(label="Smiling classifier by skin group: value, [95% interval]")
                bias_fair_chart = gr.Plot(label="Fairness numbers")
            with gr.Column():
                idea(ideas.BIAS_AUDIT)
    ed_button.click(edit, [ed_model, ed_seed, ed_target, ed_direction, ed_method, ed_steps, ed_strength,
                           ed_keep_weight, ed_keep, ed_eight],
                    [ed_before, ed_after, ed_strip, ed_gif, ed_chart, ed_rates], api_name="edit", **HEAVY)
    bias_button.click(bias_audit, [bias_model, bias_target, bias_n, bias_k, bias_fair],
                      [bias_table, bias_chart, bias_note, bias_fairness, bias_fair_chart], api_name="bias_audit", **HEAVY)


# ----------------------------------------------------------------------------- applying GANs (issue 17)


@studio_errors
def segment(tile=0):
    shown_tile = api.segment(tile)
    scores = {"unet": shown_tile["unet"], "pix2pix": shown_tile.get("pix2pix_report")}
    return (shown_tile["satellite"], shown_tile["truth"], shown_tile["predicted"], shown_tile.get("pix2pix"),
            scores)


@studio_errors
def augment(ks="10", seeds=1, ratio=1.0, steps=None, wait_s=120):
    result = api.augment(ks, seeds, ratio, steps, wait_s)
    return result, api.experiment_chart(result), result.get("verdict", result["message"])


@studio_errors
def transfer(ks="10", seeds=1, source="mnist-dcgan", steps=None, wait_s=120):
    result = api.transfer(ks, seeds, source, steps, wait_s)
    return result, api.experiment_chart(result), result.get("verdict", result["message"])


@studio_errors
def semisupervised(ks="10", seeds=1, steps=None, unsup_weight=1.0, wait_s=120):
    result = api.semisupervised(ks, seeds, steps, unsup_weight, wait_s)
    return result, api.experiment_chart(result), result.get("verdict", result["message"])


def apply_tabs() -> dict:
    """The Segmentation, GAN augmentation, Discriminator transfer and Semi-supervised GAN tabs (inside the Tabs)."""
    c = {}
    with gr.Tab("Segmentation", id="segmentation"):
        with gr.Row():
            with gr.Column():
                c["seg_tile"] = gr.Number(label="Held-out tile", value=0, precision=0, minimum=0, maximum=999)
                c["seg_button"] = gr.Button("Segment", variant="primary")
                with gr.Row(elem_classes="pixels"):
                    c["seg_outputs"] = [gr.Image(label=label, format="png", interactive=False,
                                                 elem_id=f"seg-{label.split()[0].lower()}")
                                        for label in ("Satellite tile", "True classes", "U-Net classes", "pix2pix map")]
                c["seg_outputs"].append(gr.JSON(label="IoU per class (U-Net, pix2pix)"))
            with gr.Column():
                idea(ideas.SEGMENTATION)
    for kind, title, text in (("aug", "GAN augmentation", ideas.AUGMENTATION),
                              ("tr", "Discriminator transfer", ideas.TRANSFER)):
        with gr.Tab(title, id="augmentation" if kind == "aug" else "transfer"):
            with gr.Row():
                with gr.Column():
                    with gr.Row():
                        c[f"{kind}_ks"] = gr.Textbox(label="K per class (10, 50, 100; comma separated)", value="10")
                        c[f"{kind}_seeds"] = gr.Slider(1, 5, value=3, step=1, label="Seeds")
                        if kind == "aug":
                            c["aug_third"] = gr.Dropdown([0.25, 0.5, 1.0, 2.0, 4.0], value=1.0,
                                                         label="Generated digits per real one")
                        else:
                            c["tr_third"] = gr.Dropdown(["mnist-dcgan", "mnist-wgangp"], value="mnist-dcgan",
                                                        label="Discriminator of")
                    c[f"{kind}_steps"] = gr.Number(label="Training steps per classifier (10-300)", precision=0,
                                                   value=80 if kind == "aug" else 150, minimum=10, maximum=300)
                    c[f"{kind}_button"] = gr.Button("Run (background; press again to see progress)",
                                                    variant="primary")
                    c[f"{kind}_outputs"] = [gr.JSON(label="Status and numbers"), gr.Plot(label="Accuracy against K"),
                                            gr.Markdown()]
                with gr.Column():
                    idea(text)
    with gr.Tab("Semi-supervised GAN", id="semisupervised"):
        with gr.Row():
            with gr.Column():
                with gr.Row():
                    c["sgan_ks"] = gr.Textbox(label="K per class (10, 50, 100; comma separated)", value="10")
                    c["sgan_seeds"] = gr.Slider(1, 5, value=1, step=1, label="Seeds")
                    c["sgan_weight"] = gr.Number(label="Weight of the unlabelled real/fake loss (0-4)", value=1.0,
                                                 minimum=0, maximum=4)
                c["sgan_steps"] = gr.Number(label="Training steps per model (10-3000)", precision=0, value=1500,
                                            minimum=10, maximum=3000)
                c["sgan_button"] = gr.Button("Run (background; press again to see progress)", variant="primary")
                c["sgan_outputs"] = [gr.JSON(label="Status and numbers"), gr.Plot(label="Accuracy against K"),
                                     gr.Markdown()]
            with gr.Column():
                idea(ideas.SEMISUPERVISED)
    return c


# ----------------------------------------------------------------------------- evaluation (issue 15)

EVAL_COLUMNS = ("model", "metric", "value", "low", "high", "n", "extractor")


def _studio_progress(progress):
    """gr.Progress as the studio's progress callback (stage, done, total)."""
    return lambda stage, done, total: progress((done, total), desc=stage, unit="images")


def _first(models):
    return (models[0] if models else None) if isinstance(models, (list, tuple)) else models


@gpu
@studio_errors
def evaluate(models="mnist-dcgan", n=api.DEFAULT_EVAL_N, extractor="", seed=0, progress=gr.Progress()):
    result = api.evaluate(models, n, extractor, seed, progress=_studio_progress(progress))
    rows = [[row[c] for c in EVAL_COLUMNS] for row in result.table]
    return rows, result.chart, "\n".join(f"- {note}" for note in result.notes)


@gpu
@studio_errors
def fid_curve(models="mnist-dcgan", n=api.DEFAULT_EVAL_N, extractor="", seed=0, progress=gr.Progress()):
    result = api.fid_curve(_first(models), n, extractor, seed, progress=_studio_progress(progress))
    found = result.result
    return result.chart, {k: found[k] for k in ("n", "fid", "low", "high", "fid_inf", "fid_inf_interval", "fid_at_n",
                                                "extractor", "notes")}


@gpu
@studio_errors
def truncation_metrics(models="mnist-dcgan", n=api.DEFAULT_EVAL_N, extractor="", seed=0, progress=gr.Progress()):
    result = api.truncation_metrics(_first(models), n, extractor, seed, progress=_studio_progress(progress))
    found = result.result
    return result.chart, {k: found[k] for k in ("space", "parameter", "values", "fid", "precision", "recall", "n",
                                                "extractor", "notes")}


@gpu
@studio_errors
def feature_map(models="mnist-dcgan", n=api.DEFAULT_EVAL_N, extractor="", seed=0, progress=gr.Progress()):
    result = api.feature_map(_first(models), n, extractor, seed, progress=_studio_progress(progress))
    found = result.result
    note = (f"Left column: the samples closest to a real image; then their nearest real images. Nearest distance "
            f"over the typical real-to-real one: {', '.join(f'{r:.2f}' for r in found['ratio'])} (near 0: a copy). "
            f"Exact copies: {found['copies']} of {found['n']}.")
    return result.chart, shown(result.neighbours), note


@gpu
@studio_errors
def fid_disagreement(models="mnist-dcgan", n=100, n_reference=200, seed=0, progress=gr.Progress()):
    result = api.fid_disagreement(_first(models), n, n_reference, seed, progress=_studio_progress(progress))
    rows = [[row[c] for c in ("extractor", "resize", "dim", "fid", "kid")] for row in result.result["rows"]]
    return rows, result.chart, result.result["sentence"]


def evaluation_tab() -> None:
    """The Evaluation tab, with /evaluate, /fid_curve, /truncation_metrics, /feature_map, /fid_disagreement."""
    from studio.audit import sources as image_sources

    choices = [e.name for e in zoo.entries() if e.task in image_sources.GENERATOR_TASKS
               and e.availability in ("bundled", "cached")
               and str(e.dataset or "").partition(":")[0] in image_sources.REFERENCE_DATASETS]
    with gr.Tab("Evaluation", id="evaluation"):
        with gr.Row():
            with gr.Column():
                ev_models = gr.Dropdown(choices, value=[api.DEFAULT_MODEL], multiselect=True, allow_custom_value=True,
                                        max_choices=api.EVAL_MAX_MODELS, label="Checkpoints",
                                        info="zoo names or training-run folders; the sections below the metrics "
                                             "study the first")
                with gr.Row():
                    ev_n = gr.Slider(*api.EVAL_N, value=api.DEFAULT_EVAL_N, step=10, label="N samples")
                    ev_extractor = gr.Dropdown(["", *api.EVAL_EXTRACTORS], value="", label="Feature extractor",
                                               info="empty: the dataset's own (the MNIST classifier for digits); "
                                                    "inception is slow on a CPU")
                    ev_seed = gr.Number(label="Seed", value=0, precision=0, minimum=0, maximum=api.MAX_SEED)
                ev_button = gr.Button("Evaluate", variant="primary")
                ev_table = gr.Dataframe(headers=list(EVAL_COLUMNS), label="Metrics with 95% bootstrap intervals",
                                        elem_id="eval-table")
                ev_chart = gr.Plot(label="Each metric with its interval")
                ev_notes = gr.Markdown()
                with gr.Row():
                    curve_button = gr.Button("FID against N")
                    sweep_button = gr.Button("Truncation sweep")
                    map_button = gr.Button("Features and nearest neighbours")
                curve_chart = gr.Plot(label="FID against N, its band and FID∞")
                curve_json = gr.JSON(label="FID against N")
                sweep_chart = gr.Plot(label="Precision against recall, and FID, as the truncation moves")
                sweep_json = gr.JSON(label="Sweep")
                with gr.Row():
                    map_chart = gr.Plot(label="Real and generated features (PCA)")
                    map_image = gr.Image(label="Nearest real neighbours", format="png", interactive=False,
                                         elem_classes="pixels")
                map_note = gr.Markdown()
                with gr.Row():
                    dis_n = gr.Slider(*api.DISAGREEMENT_N, value=100, step=10, label="Samples")
                    dis_ref = gr.Slider(*api.DISAGREEMENT_N, value=200, step=10, label="Real images")
                dis_button = gr.Button("Why FIDs disagree (about a minute)")
                dis_table = gr.Dataframe(headers=["extractor", "resize", "dim", "fid", "kid"], label="Four ways")
                dis_chart = gr.Plot(label="FID of the same samples")
                dis_sentence = gr.Markdown()
            with gr.Column():
                idea(ideas.EVALUATION)
    inputs = [ev_models, ev_n, ev_extractor, ev_seed]
    ev_button.click(evaluate, inputs, [ev_table, ev_chart, ev_notes], api_name="evaluate", **HEAVY)
    curve_button.click(fid_curve, inputs, [curve_chart, curve_json], api_name="fid_curve", **HEAVY)
    sweep_button.click(truncation_metrics, inputs, [sweep_chart, sweep_json], api_name="truncation_metrics", **HEAVY)
    map_button.click(feature_map, inputs, [map_chart, map_image, map_note], api_name="feature_map", **HEAVY)
    dis_button.click(fid_disagreement, [ev_models, dis_n, dis_ref, ev_seed], [dis_table, dis_chart, dis_sentence],
                     api_name="fid_disagreement", **HEAVY)


# ----------------------------------------------------------------------------- layout


# ----------------------------------------------------------------------------- style mixing (StyleGAN)


@gpu
@studio_errors
def style_mix(model=api.DEFAULT_STYLEGAN, rows="0, 1, 2, 3", columns="4, 5, 6, 7", crossover="coarse", psi=1.0,
              cutoff=-1, noise_mode="const", noise_seed=0):
    result = api.style_mix(model, rows, columns, crossover, psi, cutoff, noise_mode, noise_seed)
    return shown(result.grid), result.recipe, result.note


@gpu
@studio_errors
def style_mix_recipe(recipe=""):
    result = api.style_mix_recipe(recipe)
    return shown(result.grid), result.recipe, result.note


@studio_errors
def read_recipe_file(path):
    """An uploaded recipe file's text, for the recipe box (a recipe is small; anything large is refused)."""
    if path is None:
        return ""
    size = Path(path).stat().st_size
    if size > api.MAX_RECIPE_BYTES:
        raise DataError(f"a recipe is a small JSON file; this one has {size:,} bytes")
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DataError("the recipe file is not text (a recipe is JSON)") from None


@gpu
@studio_errors
def w_truncation(model=api.DEFAULT_STYLEGAN, seed=0, psi=0.7, cutoff=-1, threshold=0.7):
    result = api.w_truncation(model, seed, psi, cutoff, threshold)
    return shown(result.w_grid), shown(result.z_grid), result.note


@gpu
@studio_errors
def stochastic_variation(model=api.DEFAULT_STYLEGAN, seed=0, noise_seed=0, noise_at="all", psi=1.0, cutoff=-1):
    result = api.stochastic_variation(model, seed, noise_seed, noise_at, psi, cutoff)
    return shown(result.draws), result.std_map, result.note


@gpu
@studio_errors
def droplets(model=api.DEFAULT_STYLEGAN, n=64, seed=0):
    result = api.droplets(model, n, seed)
    return [[row[c] for c in api.DROPLET_COLUMNS] for row in result.rows], result.note


def stylegan_names() -> list[str]:
    try:
        return [e.name for e in zoo.entries() if e.family == "stylegan" and e.availability != "missing"]
    except CheckpointError:
        return []


def build() -> gr.Blocks:
    explore.set_interactive_threads()
    latent_models = zoo_names(*explore.Z_SPACE_TASKS)
    translation_models = zoo_names("translation")
    model_box = functools.partial(gr.Dropdown, label="Model", allow_custom_value=True,
                                  info="a zoo name, hf://org/repo, or what the Model zoo tab loaded")

    with gr.Blocks(title="GAN Studio") as demo:
        gr.Markdown("# GAN Studio\nExplore, train and understand GANs. Every tab is also an HTTP endpoint: "
                    "see *Use via API* at the bottom of the page.")
        with gr.Tabs():
            with gr.Tab("Model zoo", id="zoo"):
                with gr.Row():
                    with gr.Column():
                        zoo_model = model_box(choices=latent_models + translation_models, value=api.DEFAULT_MODEL)
                        zoo_file = gr.File(label="…or upload a checkpoint (.safetensors, .pth, .pt, .bin)",
                                           file_types=[".safetensors", ".pth", ".pt", ".bin"], type="filepath")
                        load_button = gr.Button("Load", variant="primary")
                        zoo_source = gr.Textbox(label="Loaded source", interactive=False)
                        zoo_card = gr.Markdown(label="card")
                        zoo_samples = gr.Image(label="16 samples (seed 0)", format="png", interactive=False, elem_classes="pixels", elem_id="zoo-samples",
                                   height=320)
                    with gr.Column():
                        idea(ideas.MODEL_ZOO)
                gr.Examples([["mnist-cgan"], ["mnist-wgangp"], ["maps-pix2pix"], ["horse2zebra-cyclegan"]], [zoo_model])

            with gr.Tab("Generate", id="generate"):
                with gr.Row():
                    with gr.Column():
                        gen_model = model_box(choices=latent_models, value=api.DEFAULT_MODEL)
                        with gr.Row():
                            gen_seed = gr.Number(label="Seed", value=0, precision=0, minimum=0, maximum=api.MAX_SEED)
                            gen_n = gr.Slider(1, api.MAX_SAMPLES, value=16, step=1, label="Samples")
                            gen_truncation = gr.Slider(0, api.TRUNCATION_RANGE[1], value=0, step=0.1,
                                                       label="Truncation τ (0: none)")
                        gen_button = gr.Button("Generate", variant="primary")
                        gen_image = gr.Image(label="Samples", format="png", interactive=False, elem_classes="pixels", elem_id="gen-image",
                                   height=360)
                        gr.Examples([["mnist-dcgan", 0, 16, 0], ["mnist-cgan", 7, 25, 0.7], ["mnist-wgangp", 3, 64, 0]],
                                    [gen_model, gen_seed, gen_n, gen_truncation])
                    with gr.Column():
                        idea(ideas.TRUNCATION)

            with gr.Tab("Latent interpolation", id="interpolation"):
                with gr.Row():
                    with gr.Column():
                        walk_model = model_box(choices=latent_models, value=api.DEFAULT_MODEL)
                        walk_seeds = gr.Textbox(label="Key seeds", value="0, 1, 2",
                                                info=f"2 to {api.MAX_KEY_SEEDS} whole numbers, comma separated")
                        with gr.Row():
                            walk_method = gr.Radio(list(explore.METHODS), value="slerp", label="Method")
                            walk_frames = gr.Slider(2, api.MAX_FRAMES, value=16, step=1, label="Frames")
                            walk_fps = gr.Slider(1, api.MAX_FPS, value=8, step=1, label="Speed (frames/s)")
                        walk_space = gr.Radio(list(explore.SPACES), value="z", label="Space",
                                              info="w: lerp between the seeds' w (StyleGANs only)")
                        walk_button = gr.Button("Walk", variant="primary")
                        walk_note = gr.Markdown(label="note")
                        walk_strip = gr.Image(label="Strip", format="png", interactive=False, elem_classes="pixels", elem_id="walk-strip",
                                   height=120)
                        with gr.Row():
                            walk_gif = gr.Image(label="Animated GIF", type="filepath", interactive=False, height=256)
                            walk_mp4 = gr.Video(label="MP4", interactive=False)
                        gr.Examples([["mnist-dcgan", "0, 1, 2", 16, "slerp", 8], ["mnist-cgan", "3, 17, 42", 24, "lerp", 12]],
                                    [walk_model, walk_seeds, walk_frames, walk_method, walk_fps])
                    with gr.Column():
                        idea(ideas.INTERPOLATION)

            with gr.Tab("Truncation trick", id="truncation"):
                with gr.Row():
                    with gr.Column():
                        trunc_model = model_box(choices=latent_models, value=api.DEFAULT_MODEL)
                        with gr.Row():
                            trunc_seed = gr.Number(label="Seed", value=0, precision=0, minimum=0, maximum=api.MAX_SEED)
                            trunc_threshold = gr.Slider(*api.TRUNCATION_RANGE, value=0.7, step=0.1, label="Threshold τ")
                        trunc_button = gr.Button("Truncate", variant="primary")
                        with gr.Row():
                            trunc_grid = gr.Image(label="16 samples at τ", format="png", interactive=False, elem_classes="pixels", elem_id="trunc-grid",
                                   height=300)
                            trunc_diversity = gr.Number(label="Diversity (mean pairwise RMS distance)", interactive=False)
                        trunc_sweep = gr.Image(label="The same seed at τ = 0.25, 0.5, 1, 1.5, 2 and untruncated",
                                               format="png", interactive=False, elem_classes="pixels", height=200)
                        trunc_chart = gr.Plot(label="Fidelity against diversity")
                        gr.Examples([["mnist-dcgan", 0, 0.7], ["mnist-wgangp", 5, 0.3], ["mnist-cgan", 1, 1.5]],
                                    [trunc_model, trunc_seed, trunc_threshold])
                    with gr.Column():
                        idea(ideas.TRUNCATION)

            with gr.Tab("Translation", id="translation"):
                with gr.Row():
                    with gr.Column():
                        tr_model = model_box(choices=translation_models, value=api.DEFAULT_TRANSLATION_MODEL)
                        tr_direction = gr.Radio(list(api.DIRECTIONS), value="a2b", label="Direction",
                                                info="a2b: satellite → map, horse → zebra; b2a: zebra → horse")
                        # A file, not gr.Image: the studio decodes it (any mode, size limits), not Gradio's PIL call
                        tr_image = gr.File(label="Input image (empty: a ready sample)", type="filepath",
                                           file_types=["image"], height=120)
                        tr_button = gr.Button("Translate", variant="primary")
                        tr_notes = gr.Markdown(label="notes")
                        with gr.Row():
                            tr_input = gr.Image(label="Input as the model takes it", format="png", interactive=False, elem_classes="pixels", height=256)
                            tr_output = gr.Image(label="Output", format="png", interactive=False, elem_classes="pixels", elem_id="tr-output",
                                   height=256)
                        examples = []
                        for model, direction in (("horse2zebra-cyclegan", "a2b"), ("horse2zebra-cyclegan", "b2a"),
                                                 ("maps-pix2pix", "a2b")):
                            if model in translation_models:
                                examples += [[model, str(path), direction]
                                             for path in api.sample_files(model, direction, count=2)]
                        if examples:
                            gr.Examples(examples, [tr_model, tr_image, tr_direction])
                    with gr.Column():
                        idea(ideas.TRANSLATION)

            with gr.Tab("Training", id="training"):
                with gr.Row():
                    with gr.Column():
                        with gr.Row():
                            train_recipe = gr.Dropdown(api.train_recipes(), value=api.DEFAULT_RECIPE, label="Recipe")
                            train_steps = gr.Number(label="Steps", value=200, precision=0, minimum=1,
                                                    maximum=api.MAX_TRAIN_STEPS)
                        with gr.Row():
                            start_button = gr.Button("Start training", variant="primary")
                            stop_button = gr.Button("Stop")
                            resume_button = gr.Button("Resume")
                            refresh_button = gr.Button("Refresh")
                        train_run = gr.Textbox(label="Run id (empty: the newest run)", value="")
                        train_state = gr.JSON(label="Status", elem_id="train-state")
                        train_digits = gr.Markdown(elem_id="train-verdict")
                        train_trend_plot = gr.Plot(label="Recognisable digits, per checkpoint",
                                                   elem_id="train-trend")
                        train_trend_shown = gr.State(None)
                        train_chart = gr.Plot(label="Losses")
                        train_samples = gr.Image(label="Newest samples from the fixed z", format="png",
                                                 interactive=False)
                        gr.Examples([["mnist-dcgan", 200], ["mnist-wgangp", 300], ["mnist-cgan", 200]],
                                    [train_recipe, train_steps])
                    with gr.Column():
                        idea(ideas.TRAINING)
                timer = gr.Timer(STATUS_EVERY_S)
            # feature editing and bias audit (a separate block, with their own listeners)
            feature_tabs([n for n in zoo_names("unconditional") if n.startswith(("faces", "mnist"))])

            with gr.Tab("Style mixing", id="style-mixing"):
                with gr.Row():
                    with gr.Column():
                        mix_model = model_box(choices=stylegan_names(), value=api.DEFAULT_STYLEGAN)
                        with gr.Row():
                            mix_rows = gr.Textbox(label="Row seeds (keep their other styles)", value="0, 1, 2, 3")
                            mix_columns = gr.Textbox(label="Column seeds (give the chosen layers)", value="4, 5, 6, 7")
                        mix_crossover = gr.Dropdown(["coarse", "middle", "fine"], value="coarse", allow_custom_value=True,
                                                    label="Take from the columns",
                                                    info="a preset of the model's resolutions, or resolutions such as 4, 8")
                        with gr.Row():
                            mix_psi = gr.Slider(*api.PSI_RANGE, value=1.0, step=0.05, label="Truncation in W, ψ")
                            mix_cutoff = gr.Number(label="Cutoff (layers; -1: none, every layer)", value=-1, precision=0)
                        with gr.Row():
                            mix_noise = gr.Dropdown(list(explore.mixing.NOISE_MODES), value="const", label="Noise")
                            mix_noise_seed = gr.Number(label="Noise seed", value=0, precision=0, minimum=0,
                                                       maximum=api.MAX_SEED)
                        mix_button = gr.Button("Mix", variant="primary")
                        mix_grid = picture("Mixing matrix: columns on top, rows on the left", "mix-grid", height=360)
                        mix_note = gr.Markdown()
                        mix_recipe = gr.Code(label="Recipe (JSON): reproduces this matrix", language="json")
                        with gr.Accordion("Open a recipe", open=False):
                            open_text = gr.Textbox(label="Recipe JSON (paste it, or upload the file)", lines=4,
                                                   elem_id="mix-open-text")
                            with gr.Row():
                                open_file = gr.UploadButton("Upload a recipe (.json)", file_types=[".json"])
                                open_button = gr.Button("Draw the recipe")
                    with gr.Column():
                        idea(ideas.STYLE_MIXING)
                gr.Markdown("### Truncation in W next to truncation in z\n"
                            "The same 16 seeds twice: on the left w' = w_avg + ψ (w − w_avg) on the first *cutoff* "
                            "layers (ψ = 1 changes nothing, 0 is the average image); on the right the course's "
                            "trick, z redrawn until every |z_i| ≤ τ.")
                with gr.Row():
                    wt_seed = gr.Number(label="First seed", value=0, precision=0, minimum=0)
                    wt_psi = gr.Slider(*api.PSI_RANGE, value=0.7, step=0.05, label="ψ (W)")
                    wt_cutoff = gr.Number(label="Cutoff (layers; -1: none, every layer)", value=-1, precision=0)
                    wt_threshold = gr.Slider(*api.TRUNCATION_RANGE, value=0.7, step=0.1, label="τ (z)")
                wt_button = gr.Button("Truncate in W and in z")
                with gr.Row():
                    wt_w, wt_z = picture("W space: ψ and cutoff", "wt-w"), picture("z space: |z_i| ≤ τ", "wt-z")
                wt_note = gr.Markdown()
                gr.Markdown("### Stochastic variation\n"
                            "One w under 16 draws of the per-layer noise: what changes is what the noise draws "
                            "(fine details), and the standard deviation map shows where. Switch noise off at some "
                            "resolutions to see which layers draw what.")
                with gr.Row():
                    var_seed = gr.Number(label="Seed of w", value=0, precision=0, minimum=0)
                    var_noise_seed = gr.Number(label="Noise seed", value=0, precision=0, minimum=0, maximum=api.MAX_SEED)
                    var_noise_at = gr.Textbox(label="Noise on at", value="all",
                                              info="all, none, or resolutions such as 16, 32")
                var_button = gr.Button("Draw the noise")
                with gr.Row():
                    var_draws = picture("16 noise draws of one w", "var-draws")
                    var_std = picture("Per-pixel standard deviation over the draws (black: no change)", "var-std")
                var_note = gr.Markdown()
                gr.Markdown("### AdaIN's blind spot: droplets\n"
                            "AdaIN divides each feature map by its own mean and standard deviation, so a generator "
                            "can plant one strong spike that sets them (StyleGAN2's *droplets*). Per style layer: the "
                            "strongest pixel of the maps about to be normalised, over their mean, and how often it "
                            "sits at the same place.")
                with gr.Row():
                    drop_n = gr.Number(label="Samples", value=64, precision=0, minimum=4, maximum=256)
                    drop_seed = gr.Number(label="Seed", value=0, precision=0, minimum=0, maximum=api.MAX_SEED)
                drop_button = gr.Button("Look for droplets")
                drop_table = gr.Dataframe(headers=list(api.DROPLET_COLUMNS), label="Per style layer", elem_id="drop-table")
                drop_note = gr.Markdown(elem_id="drop-note")

            applied = apply_tabs()
            evaluation_tab()  # issue 15: its own listeners

        load_button.click(load, [zoo_model, zoo_file], [zoo_source, zoo_card, zoo_samples], api_name="load", **HEAVY
                          ).success(route, zoo_source, [gen_model, walk_model, trunc_model, tr_model],
                                    api_visibility="private", **LIGHT)
        gen_button.click(generate, [gen_model, gen_seed, gen_n, gen_truncation], gen_image, api_name="generate", **LIGHT)
        walk_button.click(interpolate, [walk_model, walk_seeds, walk_frames, walk_method, walk_fps, walk_space],
                          [walk_strip, walk_gif, walk_mp4, walk_note], api_name="interpolate", **HEAVY)
        trunc_button.click(truncate, [trunc_model, trunc_seed, trunc_threshold],
                           [trunc_grid, trunc_diversity, trunc_sweep, trunc_chart], api_name="truncate", **HEAVY)
        tr_button.click(translate, [tr_model, tr_image, tr_direction], [tr_input, tr_output, tr_notes],
                        api_name="translate", **HEAVY)
        start_button.click(train_start, [train_recipe, train_steps], [train_run, train_state], api_name="train_start",
                           **HEAVY)
        refresh_button.click(train_status, train_run, [train_state, train_chart, train_samples],
                             api_name="train_status", **LIGHT)
        timer.tick(train_tick, train_run, [train_state, train_chart, train_samples], api_visibility="private",
                   show_progress="hidden", trigger_mode="always_last", **LIGHT)
        train_state.change(train_verdict, train_state, train_digits, api_visibility="private", show_progress="hidden",
                           **LIGHT)
        train_state.change(train_trend, [train_state, train_trend_shown], [train_trend_plot, train_trend_shown],
                           api_visibility="private", show_progress="hidden", **LIGHT)
        stop_button.click(train_stop, train_run, train_state, api_name="train_stop", **LIGHT)
        resume_button.click(train_resume, [train_run, train_steps], train_state, api_name="train_resume", **HEAVY)
        mix_button.click(style_mix, [mix_model, mix_rows, mix_columns, mix_crossover, mix_psi, mix_cutoff, mix_noise,
                                     mix_noise_seed], [mix_grid, mix_recipe, mix_note], api_name="style_mix", **HEAVY)
        open_file.upload(read_recipe_file, open_file, open_text, api_visibility="private")
        open_button.click(style_mix_recipe, open_text, [mix_grid, mix_recipe, mix_note], api_name="style_mix_recipe",
                          **HEAVY)
        drop_button.click(droplets, [mix_model, drop_n, drop_seed], [drop_table, drop_note], api_name="droplets",
                          **HEAVY)
        wt_button.click(w_truncation, [mix_model, wt_seed, wt_psi, wt_cutoff, wt_threshold], [wt_w, wt_z, wt_note],
                        api_name="w_truncation", **HEAVY)
        var_button.click(stochastic_variation, [mix_model, var_seed, var_noise_seed, var_noise_at, mix_psi, mix_cutoff],
                         [var_draws, var_std, var_note], api_name="stochastic_variation", **HEAVY)

        applied["seg_button"].click(segment, applied["seg_tile"], applied["seg_outputs"], api_name="segment", **LIGHT)
        for kind, fn in (("aug", augment), ("tr", transfer)):
            applied[f"{kind}_button"].click(fn, [applied[f"{kind}_ks"], applied[f"{kind}_seeds"], applied[f"{kind}_third"],
                                             applied[f"{kind}_steps"]],
                                            applied[f"{kind}_outputs"], api_name="augment" if kind == "aug" else "transfer",
                                            **LIGHT)
        applied["sgan_button"].click(semisupervised, [applied["sgan_ks"], applied["sgan_seeds"], applied["sgan_steps"],
                                                      applied["sgan_weight"]], applied["sgan_outputs"],
                                     api_name="semisupervised", **LIGHT)
    return demo


demo = build()

if __name__ == "__main__":
    # GRADIO_SERVER_NAME / GRADIO_SERVER_PORT (a Space sets 0.0.0.0:7860) are read by launch itself.
    demo.queue(default_concurrency_limit=1).launch(css=CSS, allowed_paths=[str(OUTPUTS)])
