"""Training: start a GAN training run from the browser and watch it learn, live.

The page never trains in its own script run. Start launches ``python -m training`` as a separate
process (``studio.live``) that writes ``runs/<id>/``; the page only reads that folder, and its live
part reruns once a second on its own (``st.fragment(run_every=1.0)``). Closing the tab, refreshing
or a second viewer therefore changes nothing, and reopening shows the full curves.
"""

from __future__ import annotations

import time

import numpy as np
import streamlit as st
from PIL import Image

from app_pages import _shared as shared
from studio import ideas, live
from studio import training_charts as charts
from studio.errors import CheckpointError, DataError

PREFIX = "train"
INTERPOLATION_PAGE = "app_pages/1_Latent_interpolation.py"
REFRESH_S = 1.0
LOSS_LABELS = {"nonsat": "BCE (non-saturating)", "minimax": "BCE (minimax, saturating)", "wgan-gp": "WGAN-GP",
               "wgan": "WGAN (weight clipping)", "hinge": "Hinge", "lsgan": "Least squares"}
STATUS_COLORS = {"running": "blue", "starting": "gray", "finished": "green", "stopped": "orange", "failed": "red",
                 "died": "red"}
SOURCES = {"recipe": "A recipe's dataset", "folder": "A folder on the server", "upload": "Upload a zip"}
ADVANCED = {"model.width": "Width", "model.latent_dim": "Latent size", "sample_every": "Sample every",
            "checkpoint_every": "Checkpoint every", "seed": "Seed"}
KEEP = dict(persist_state="session")  # the form survives a visit to another page


def key(name: str) -> str:
    return f"{PREFIX}_{name.replace('.', '_')}"


# ----------------------------------------------------------------------------- cached readers


@st.cache_resource(max_entries=16)
def event_log(run_dir: str) -> live.EventLog:
    """One incremental reader per run, shared by every viewer of it."""
    return live.EventLog(run_dir)


@st.cache_resource(show_spinner=False)
def classifier():
    return live.load_classifier()


@st.cache_data(max_entries=64, show_spinner="Measuring the newest checkpoint's samples…")
def checkpoint_quality(checkpoint: str, with_classifier: bool) -> dict:
    # keyed by the checkpoint's path, which names its step: computed once per checkpoint
    return live.checkpoint_quality(checkpoint, classifier() if with_classifier else None)


# ----------------------------------------------------------------------------- start form


def recipe_name() -> str:
    return st.session_state[key("recipe")] if st.session_state[key("source")] == "recipe" else live.FOLDER_RECIPE


def load_defaults() -> None:
    """Fill the form with the chosen recipe's values (callback of the recipe and data choices)."""
    for field, value in live.recipe_defaults(recipe_name()).items():
        st.session_state[key(field)] = value


def form_values(*, save_upload: bool) -> tuple[str, dict, int]:
    """(recipe, --set overrides, steps) from the form. A folder path is checked; an uploaded zip is
    saved only when the run starts (``save_upload``), the preview names it instead."""
    name = recipe_name()
    values = {field: st.session_state.get(key(field), default) for field, default in live.recipe_defaults(name).items()}
    source = st.session_state[key("source")]
    if source == "folder":
        values["data_path"] = str(live.check_data_path(st.session_state.get(key("folder"), "")))
    elif source == "upload":
        uploaded = st.session_state.get(key("upload"))
        if uploaded is None:
            raise DataError("upload a .zip of images first")
        values["data_path"] = (str(live.save_data_upload(uploaded.name, uploaded.getvalue())) if save_upload
                               else f"<{uploaded.name}>")
    return name, live.overrides_for(name, values), int(values["steps"])


def start() -> None:
    try:
        name, overrides, steps = form_values(save_upload=True)
        run = live.start_run(name, overrides, steps=steps, device=st.session_state[key("device")])
    except (ValueError, DataError, live.LaunchError) as error:  # RecipeError is a ValueError
        st.session_state[key("flash")] = ("error", f"Could not start: {error}")
        return
    st.session_state[key("run")] = run.id
    st.session_state[key("flash")] = ("success", f"Started **{run.id}** in its own process; it keeps training "
                                                 "if you close this tab.")


def start_form(reason_busy: str | None) -> None:
    if key("source") not in st.session_state:
        st.session_state[key("source")] = "recipe"
        st.session_state[key("recipe")] = "mnist-dcgan"
        st.session_state[key("device")] = live.devices()[0]
        load_defaults()
    recipes = live.gan_recipes()
    st.radio("Data", list(SOURCES), format_func=SOURCES.get, key=key("source"), **KEEP, horizontal=True, on_change=load_defaults)
    source = st.session_state[key("source")]
    if source == "recipe":
        names = [n for n, r in recipes.items() if r.dataset != "folder"]
        st.selectbox("Recipe", names, key=key("recipe"), **KEEP, on_change=load_defaults,
                     format_func=lambda n: f"{n} · {recipes[n].description}")
    elif source == "folder":
        st.text_input("Folder (or .zip) of images on the server", key=key("folder"), **KEEP, placeholder="/data/my-photos")
    else:
        st.file_uploader("A .zip of images (subfolders become classes)", type=["zip"], key=key("upload"),
                         max_upload_size=live.MAX_DATA_UPLOAD_MB)
        st.caption(f"Up to {live.MAX_DATA_UPLOAD_MB} MB; kept in `{live.runs_root() / live.UPLOADS_DIR}` so a resumed "
                   "run finds it again. Read member by member, never extracted.")
    if source != "recipe":
        st.radio("Colours", [1, 3], key=key("channels"), **KEEP, horizontal=True,
                 format_func={1: "grayscale", 3: "colour"}.get)

    loss = st.session_state[key("loss")]
    critic = loss in ("wgan-gp", "wgan")
    columns = st.columns(3)
    columns[0].selectbox("Loss", list(LOSS_LABELS), format_func=LOSS_LABELS.get, key=key("loss"), **KEEP)
    columns[1].number_input("Steps", min_value=1, max_value=1_000_000, key=key("steps"), **KEEP)
    columns[2].number_input("Batch size", min_value=1, max_value=4096, key=key("batch_size"), **KEEP)
    columns = st.columns(4)
    columns[0].number_input("G learning rate", min_value=1e-6, max_value=1.0, step=1e-5, format="%.5f", key=key("lr_g"), **KEEP)
    columns[1].number_input("D learning rate", min_value=1e-6, max_value=1.0, step=1e-5, format="%.5f", key=key("lr_d"), **KEEP)
    columns[2].number_input("Adam β₁", min_value=0.0, max_value=0.999, step=0.1, format="%.3f", key=key("beta1"), **KEEP)
    columns[3].number_input("Adam β₂", min_value=0.0, max_value=0.9999, step=0.001, format="%.4f", key=key("beta2"), **KEEP)
    columns = st.columns(3)
    columns[0].selectbox("Image size", live.IMAGE_SIZES, key=key("image_size"), **KEEP)
    columns[1].number_input("n_critic", min_value=1, max_value=20, key=key("n_critic"), **KEEP,
                            help="D (critic) steps per G step; WGAN critics usually take 5, with Adam(0, 0.9).")
    columns[2].number_input("λ (gradient penalty)", min_value=0.0, max_value=1000.0, step=1.0, key=key("gp_weight"),
                            **KEEP, disabled=loss != "wgan-gp", help="WGAN-GP's weight of the gradient penalty.")
    st.radio("Device", live.devices(), key=key("device"), **KEEP, horizontal=True,
             help="CUDA when this server has a GPU, else the CPU.")

    st.markdown("**GAN-training tricks**" + (" · label smoothing and flipping apply to BCE losses only" if critic else ""))
    columns = st.columns(2)
    columns[0].slider("One-sided label smoothing", 0.0, 0.3, step=0.05, key=key("label_smoothing"), **KEEP,
                      disabled=critic, help="D's target for real images is 1 − this (Salimans et al. 2016).")
    columns[1].slider("Label flipping", 0.0, 0.3, step=0.01, key=key("d_label_flip"), **KEEP, disabled=critic,
                      help="Probability of swapping a D target: noisy labels keep D from certainty.")
    columns = st.columns(2)
    columns[0].slider("Instance noise σ", 0.0, 1.0, step=0.05, key=key("instance_noise"), **KEEP,
                      help="Gaussian noise on D's inputs (Sønderby et al. 2016): real and fake overlap, D's gradients stay useful.")
    columns[1].number_input("Noise annealed to 0 over steps (0: constant)", min_value=0, key=key("instance_noise_steps"), **KEEP)
    with st.expander("Model size, samples and checkpoints"):
        fields = [f for f in ADVANCED if f in live.recipe_defaults(recipe_name())]
        for column, field in zip(st.columns(len(fields)), fields):
            column.number_input(ADVANCED[field], min_value=1 if field.startswith("model.") else 0, key=key(field), **KEEP)

    problem = None
    try:
        name, overrides, steps = form_values(save_upload=False)
        live.resolve(name, overrides, steps, check_data=source != "upload")
        command = live.build_command(name, overrides, out=live.runs_root(), run_id="RUN_ID", steps=steps,
                                     device=st.session_state[key("device")])
        st.code(live.command_text(command), language="bash", wrap_lines=True)
    except (ValueError, DataError) as error:
        problem = str(error)
        st.error(problem, icon=":material/error:")
    if reason_busy:
        st.info(reason_busy, icon=":material/hourglass_top:")
    st.button("Start training", key=key("start"), type="primary", icon=":material/play_arrow:", on_click=start,
              disabled=bool(problem or reason_busy))


# ----------------------------------------------------------------------------- one run


def resume(run_dir: str) -> None:
    try:
        live.resume_run(run_dir, steps=int(st.session_state[key("resume_steps")]))
    except live.LaunchError as error:
        st.session_state[key("flash")] = ("error", f"Could not resume: {error}")
    else:
        st.session_state[key("flash")] = ("success", "Resumed from the newest checkpoint.")


def run_controls(run: live.Run) -> None:
    """Status, stop / resume / open the checkpoint, and what to do about a dead process."""
    started = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.started)) if run.started else "not yet"
    message = f" · {run.message}" if run.message and run.status in ("finished", "stopped") else ""
    st.markdown(f":{STATUS_COLORS.get(run.status, 'gray')}-badge[{run.status}] `{run.recipe}` on "
                f"{run.device or 'its device'}, started {started}{message}")
    if run.status == "died":
        last = f"its last checkpoint is step {run.checkpoints[-1]}" if run.checkpoints else "it has no checkpoint yet"
        st.error(f"**The training process (pid {run.pid}) is gone** while run.json says running: it crashed or was "
                 f"killed. Nothing is lost up to the last checkpoint; {last}. Resume below.", icon=":material/heart_broken:")
    elif run.status == "failed":
        st.error(f"**The run failed:** {run.message}", icon=":material/error:")
    row = st.container(horizontal=True, vertical_alignment="bottom")
    if run.live:
        stopping = (run.path / "STOP").exists()
        row.button("Stopping…" if stopping else "Stop", key=key("stop"), icon=":material/stop:",
                   on_click=live.stop_run, args=(run.path,), disabled=stopping,
                   help="Finishes the step, writes a checkpoint and exits.")
    if run.can_resume:
        default = run.steps if run.step < run.steps else run.steps + max(run.steps // 2, 1)
        if key("resume_steps") not in st.session_state or st.session_state.get(key("resume_for")) != (run.id, run.step):
            st.session_state[key("resume_steps")], st.session_state[key("resume_for")] = default, (run.id, run.step)
        row.number_input("Train until step", min_value=1, key=key("resume_steps"), width=150)
        row.button("Resume", key=key("resume"), icon=":material/play_arrow:", on_click=resume,
                   args=(str(run.path),), type="primary" if run.status == "died" else "secondary")
    if row.button("Open its checkpoint in Latent interpolation", key=key("open"), icon=":material/open_in_new:",
                  disabled=not run.checkpoints):
        if shared.choose(str(run.path)):
            st.switch_page(INTERPOLATION_PAGE, query_params={"checkpoint": str(run.path)})
        shared.show_flash()
    if run.status in ("failed", "died"):
        with st.expander("The process's last output (log.txt)"):
            st.code(live.tail_log(run.path) or "(empty)", language="text")


def metric_row(run: live.Run, last: dict) -> None:
    step = last.get("step", run.step)
    names = [("Step", f"{step} / {run.steps}", "s"), ("G loss", last.get("loss_g"), ".3g"), ("D loss", last.get("loss_d"), ".3g"),
             ("D(x)", last.get("d_real"), ".3g"), ("D(G(z))", last.get("d_fake"), ".3g"),
             ("images/s", last.get("images_per_s"), ",.0f")]
    if last.get("resolution") is not None:  # progressive growing: the stage G and D are at
        names[-1:-1] = [("Resolution", f"{int(last['resolution'])}x{int(last['resolution'])}", "s"),
                        ("Fade-in α", last.get("alpha"), ".2f")]
    for column, (label, value, spec) in zip(st.columns(len(names)), names):
        column.metric(label, "–" if value is None else format(value, spec))
    st.progress(min(step / run.steps, 1.0) if run.steps else 0.0)


def curve_charts(run: live.Run, log: dict, smoothing: float, log_y: bool) -> None:
    steps, columns = log["steps"], log["columns"]
    loss = run.config.get("loss", "nonsat")
    band = live.BANDS.get(loss)

    def series(**names: str) -> dict:
        return {label: (steps, columns[name]) for label, name in names.items() if name in columns}

    probabilities = band is not None
    # a progressive (StyleGAN) run: its resolutions and fade-ins shaded along the steps
    stages = charts.phases(steps, columns["resolution"], columns.get("alpha", [None] * len(steps))) \
        if "resolution" in columns else ()
    figures = [
        charts.curves_chart("Losses", series(G="loss_g", D="loss_d"), smoothing=smoothing, log_y=log_y,
                            band=(band.low, band.high, "balanced D loss") if band else None, stages=stages),
        charts.curves_chart("D(x) and D(G(z))" if probabilities else "Critic scores and the Wasserstein estimate",
                            series(**{"D(x)": "d_real", "D(G(z))": "d_fake", "Wasserstein": "wasserstein"}),
                            smoothing=smoothing, reference=(0.5, "½: D cannot tell") if probabilities else None),
        charts.curves_chart("Gradient norms", series(G="grad_norm_g", D="grad_norm_d"), smoothing=smoothing, log_y=log_y),
        charts.curves_chart("Throughput", series(**{"images/s": "images_per_s"}), smoothing=smoothing),
    ]
    fid = charts.fid_points(log.get("markers", []))
    if fid["fid"]:  # the run's cheap FID trend (recipes with fid_every)
        figures.append(charts.fid_chart(fid))
    elif fid["error"]:
        st.caption(f"No FID for this run: {fid['error']}")
    sure = charts.sure_points(log.get("markers", []))
    if sure["step"]:  # the trainer's verdict on each checkpoint (digit runs of recipes with fid_every)
        figures.append(charts.sure_chart(sure))
    for index, figure in enumerate(figures):
        if index % 2 == 0:
            pair = st.columns(2)
        with pair[index % 2]:
            st.plotly_chart(figure, key=key(f"chart_{index}"), config={"displayModeBar": False})


def follow_latest() -> None:
    st.session_state[key("follow")] = st.session_state[key("sample_step")] == st.session_state.get(key("latest"))


def sample_grids(event_log_: live.EventLog, run: live.Run) -> None:
    samples = event_log_.samples()
    st.markdown("**Samples from the fixed z**")
    if not samples:
        every = run.config.get("sample_every")
        st.caption(f"No sample grid yet: the first comes at step {every}." if every else "This run saves no samples.")
        return
    steps = [step for step, _ in samples]
    st.session_state[key("latest")] = steps[-1]
    if st.session_state.get(key("follow"), True) or st.session_state.get(key("sample_step")) not in steps:
        st.session_state[key("sample_step")] = steps[-1]
    if len(steps) > 1:
        st.select_slider("Scrub through the saved grids (step)", steps, key=key("sample_step"), on_change=follow_latest)
    step = st.session_state[key("sample_step")]
    image = np.asarray(Image.open(dict(samples)[step]).convert("RGB"))
    shared.show_image(image, width=420, caption=f"step {step}" + (" (latest)" if step == steps[-1] else ""))


def device_panel(run: live.Run, last: dict) -> None:
    stats = live.device_stats(run, last)
    st.markdown(f"**Device** · {stats['name']}")
    mb = lambda v: "–" if v is None else f"{v:,.0f} MB"  # noqa: E731
    if stats["kind"] == "cuda":
        rows = {"allocated (torch)": mb(stats.get("memory_allocated_mb")), "reserved (torch)": mb(stats.get("memory_reserved_mb")),
                "used / total (GPU)": f"{mb(stats.get('memory_used_mb'))} / {mb(stats.get('memory_total_mb'))}",
                "utilization": "–" if stats.get("utilization_percent") is None else f"{stats['utilization_percent']:.0f}%"}
    else:
        cpu = stats.get("process_cpu_percent")
        rows = {"trainer CPU": "not running" if not run.live else "–" if cpu is None else f"{cpu:.0f}% (100% = one core)",
                "trainer memory": mb(stats.get("process_rss_mb")),
                "machine RAM used": f"{stats['ram_used_percent']:.0f}% of {stats['ram_total_mb'] / 1024:.1f} GB"}
    st.markdown("\n".join(f"- {label}: **{value}**" for label, value in rows.items()))
    if stats.get("note"):
        st.caption(stats["note"])


def health_panel(run: live.Run, log: dict) -> None:
    st.markdown("**Health**")
    quality = None
    checkpoint = run.latest_checkpoint
    mnist = live.judged_as_digits(run.config.get("dataset"), run.config.get("channels"))
    logged = live.logged_quality(log.get("markers", []), run.checkpoints[-1]) if checkpoint is not None else None
    if logged is not None:  # the trainer judged its own checkpoint (recipes with fid_every)
        quality = logged
        if mnist and "histogram" not in logged:
            st.caption("The run found no digit classifier (checkpoints/mnist-classifier) to judge its checkpoints, so "
                       "there is no class histogram; the diversity score stands in.")
    elif checkpoint is not None:
        with_classifier = False
        if mnist:
            try:
                classifier()
                with_classifier = True
            except CheckpointError:
                st.caption("The digit classifier (checkpoints/mnist-classifier) is not trained yet, so there is no "
                           "class histogram; the diversity score stands in.")
        try:
            quality = checkpoint_quality(str(checkpoint), with_classifier)
        except (CheckpointError, OSError) as error:  # rotated away between listing and loading
            st.caption(f"Could not measure checkpoint {checkpoint.name}: {error}")
    for signal in live.health(log, run, quality):
        show = {"error": st.error, "warning": st.warning, "ok": st.success}[signal.level]
        show(f"**{signal.title}**  \n{signal.why}")
    if quality and quality.get("histogram"):
        st.plotly_chart(charts.class_histogram_chart(quality["histogram"], title=f"Classes in {quality['samples']:,} samples, "
                        f"step {run.checkpoints[-1]}"), key=key("histogram"), config={"displayModeBar": False})
        st.caption(live.recognisable_text(quality["confident_share"], quality["real_confident_share"],
                                          quality["histogram"]))
    if quality:
        early = run.checkpoints[-1] < live.COLLAPSE_MIN_STEP
        st.caption(f"Diversity of {quality.get('diversity_samples', quality['samples']):,} samples at step {run.checkpoints[-1]}: **{quality['diversity']:.3f}** "
                   "(mean pairwise RMS distance; near 0 means every z gives the same image)."
                   + (f" Too early to call a collapse: before step {live.COLLAPSE_MIN_STEP} an untrained G draws "
                      "near-identical images." if early else ""))
    elif checkpoint is None:
        st.caption("Sample statistics appear with the first checkpoint.")


def controls_state(run: live.Run) -> tuple[str, bool]:
    """What the controls outside the live panel depend on."""
    return run.status, bool(run.checkpoints)


def live_panel(run_dir: str, seen: tuple[str, bool]) -> None:
    """The part that refreshes itself: everything read from the run's folder."""
    run = live.read_run(run_dir)
    if controls_state(run) != seen:
        st.rerun()  # the run stopped, died or wrote its first checkpoint: the controls above change too
    reader = event_log(str(run.path))
    reader.update()
    log = reader.snapshot()
    metric_row(run, log["last"])
    smooth_column, scale_column, note_column = st.columns([2, 1, 3], vertical_alignment="bottom")
    smoothing = smooth_column.slider("Smoothing (EMA)", 0.0, 0.99, 0.6, step=0.01, key=key("smoothing"))
    log_y = scale_column.toggle("Log scale", key=key("log_y"))
    note_column.caption(f"Refreshed {time.strftime('%H:%M:%S')}" + (" · live, every second" if run.live else ""))
    if not log["steps"]:
        st.info("Waiting for the first step… (loading data and building the model)", icon=":material/hourglass_top:")
    curve_charts(run, log, smoothing, log_y)
    samples_column, health_column, device_column = st.columns([4, 4, 3], gap="large")
    with samples_column:
        sample_grids(reader, run)
    with health_column:
        health_panel(run, log)
    with device_column:
        device_panel(run, log["last"])


# ----------------------------------------------------------------------------- the page


st.title("Training")
level, text = st.session_state.pop(key("flash"), (None, None))
if level:
    (st.error if level == "error" else st.success)(text)

runs = live.list_runs()
try:
    busy = live.busy()
except live.LaunchError as error:
    busy = str(error)
controls, idea = st.columns([3, 2], gap="large")
with idea:
    shared.explain_idea(ideas.TRAINING)
with controls:
    with st.expander("Start a new run", expanded=not any(r.live for r in runs), icon=":material/add:"):
        start_form(busy)
    if not runs:
        st.info("No training run yet. Start one above: it trains in its own process, so you can close this tab "
                "and come back.", icon=":material/info:")
        st.stop()
    ids = [r.id for r in runs]
    by_id = {r.id: r for r in runs}
    if st.session_state.get(key("run")) not in ids:
        requested = st.query_params.get("run")
        st.session_state[key("run")] = requested if requested in ids else next((r.id for r in runs if r.live), ids[0])
    st.subheader("Runs")
    chosen = st.selectbox("Run", ids, key=key("run"),
                          format_func=lambda i: f"{i} · {by_id[i].recipe}")
    if st.query_params.get("run") != chosen:
        st.query_params["run"] = chosen  # a refresh or a shared link opens this run
    with st.expander(f"All {len(runs)} runs on this server"):
        st.dataframe(
            [{"run": r.id, "recipe": r.recipe, "status": r.status, "step": r.step, "of": r.steps,
              "checkpoints": len(r.checkpoints), "device": r.device,
              "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(r.started)) if r.started else ""} for r in runs],
            hide_index=True,
        )
    run = by_id[chosen]
    run_controls(run)
st.fragment(run_every=REFRESH_S if run.live else None)(live_panel)(str(run.path), controls_state(run))
