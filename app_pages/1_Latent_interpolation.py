"""Latent interpolation: walk from one seed's latent vector to the next (lerp or slerp).

The page state (checkpoint, seeds, method, frames, fps, classes, space) lives in the URL, so a
copied link reproduces the walk exactly. With a StyleGAN loaded, a radio walks in W (lerp between
the seeds' w) instead of z.
"""

from __future__ import annotations

import streamlit as st

from app_pages import _shared as shared
from studio import charts, explore, ideas, imaging

PREFIX = "interp"
MAX_SEEDS = 8
MAX_SEED = 2**31 - 1
CANDIDATES = 8


def parse_seeds(text: str) -> list[int]:
    seeds = shared.parse_int_list(text)
    if not 2 <= len(seeds) <= MAX_SEEDS:
        raise ValueError(f"pick 2 to {MAX_SEEDS} seeds, got {len(seeds)}")
    if any(not 0 <= s <= MAX_SEED for s in seeds):
        raise ValueError(f"seeds are whole numbers from 0 to {MAX_SEED}")
    return seeds


def add_seed(seed: int, class_index: int | None) -> None:
    """Callback of a candidate's button: append its seed (and class) to the key points."""
    try:
        seeds = shared.parse_int_list(st.session_state[f"{PREFIX}_seeds"])
    except ValueError:
        seeds = []
    if len(seeds) >= MAX_SEEDS:
        seeds = seeds[1:]  # keep the newest MAX_SEEDS
    seeds.append(seed)
    st.session_state[f"{PREFIX}_seeds"] = ", ".join(map(str, seeds))
    if class_index is not None:
        classes = st.session_state.get(f"{PREFIX}_classes") or []
        st.session_state[f"{PREFIX}_classes"] = [*classes[: len(seeds) - 1], class_index]
        for i, c in enumerate(st.session_state[f"{PREFIX}_classes"]):
            st.session_state[f"{PREFIX}_class_{i}"] = c


def idea() -> None:
    """The page's idea, formula and papers (also shown when no fitting model is loaded)."""
    shared.explain_idea(ideas.INTERPOLATION)


st.title("Latent interpolation")
model, meta = shared.require_latent_model(idea)
names = explore.class_names(model, meta)

rejected = shared.url_state(
    PREFIX,
    {
        "seeds": ("0, 1, 2", lambda text: ", ".join(map(str, parse_seeds(text)))),
        "method": ("slerp", shared.one_of(explore.METHODS)),
        "frames": (16, shared.bounded_int(2, 64)),
        "fps": (8, shared.bounded_int(1, 30)),
        "start": (0, shared.bounded_int(0, MAX_SEED - CANDIDATES)),
        "classes": ([], shared.parse_int_list),
        "space": ("z", shared.one_of(explore.SPACES)),
    },
)
if rejected:
    st.warning(f"Ignored link values the page cannot use: {rejected}", icon=":material/link_off:")

controls, idea_column = st.columns(2, gap="large")
with idea_column:
    idea()

with controls:
    st.text_input(
        "Key seeds",
        key=f"{PREFIX}_seeds",
        help=f"2 to {MAX_SEEDS} whole numbers, comma separated; or add candidates below.",
    )
    try:
        seeds = parse_seeds(st.session_state[f"{PREFIX}_seeds"])
    except ValueError as err:
        st.error(f"Key seeds: {err}.", icon=":material/error:")
        st.stop()
    classes: list[int] = []
    if model.num_classes:
        saved = st.session_state.get(f"{PREFIX}_classes") or []
        class_columns = st.columns(len(seeds))
        for i, (column, seed) in enumerate(zip(class_columns, seeds)):
            key = f"{PREFIX}_class_{i}"
            if st.session_state.get(key) not in range(model.num_classes):
                fits = i < len(saved) and saved[i] in range(model.num_classes)
                st.session_state[key] = saved[i] if fits else i % model.num_classes
            label = f"Class at seed {seed}"
            classes.append(column.selectbox(label, range(model.num_classes), format_func=names.__getitem__, key=key))
        st.session_state[f"{PREFIX}_classes"] = classes
    method_column, frames_column, fps_column = st.columns(3)
    space = "z"
    if explore.mixing.is_stylegan(model):
        space = st.radio(
            "Space", explore.SPACES, key=f"{PREFIX}_space", horizontal=True,
            format_func={"z": "z (the method below)", "w": "W (lerp between the seeds' w)"}.__getitem__,
            help="A StyleGAN's mapping network turns z into w; a straight line in W is the path the paper measures.",
        )
    method = method_column.radio("Method", explore.METHODS, key=f"{PREFIX}_method", horizontal=True,
                                 disabled=space == "w")
    frames = frames_column.slider("Frames", 2, 64, key=f"{PREFIX}_frames")
    fps = fps_column.slider("Speed (frames/s)", 1, 30, key=f"{PREFIX}_fps")
    if frames < len(seeds):
        st.caption(f"{len(seeds)} key seeds need at least {len(seeds)} frames: using {len(seeds)}.")
        frames = len(seeds)

    st.markdown("**Candidates** · click to add a seed to the walk")
    start_column, class_column = st.columns(2)
    start = start_column.number_input(
        "First candidate seed", min_value=0, max_value=MAX_SEED - CANDIDATES, step=CANDIDATES, key=f"{PREFIX}_start"
    )
    candidate_class = None
    if model.num_classes:
        candidate_class = class_column.selectbox(
            "Candidates' class", range(model.num_classes), format_func=names.__getitem__,
            key=f"{PREFIX}_candidate_class",
        )
    candidate_seeds = list(range(int(start), int(start) + CANDIDATES))
    images = explore.candidates(model, candidate_seeds, candidate_class)
    candidate_columns = st.columns(CANDIDATES // 2)
    for i, (seed, image) in enumerate(zip(candidate_seeds, images)):
        with candidate_columns[i % len(candidate_columns)]:
            shared.show_image(image, width=112, fit="stretch")
            st.button(
                f"Add {seed}",
                key=f"{PREFIX}_add_{seed}",
                on_click=add_seed,
                args=(seed, candidate_class),
                disabled=seed in seeds,
                width="stretch",
            )

st.subheader("Walk")
walk = explore.walk(model, seeds, frames=frames, method=method, classes=classes or None, space=space)
if walk.note:
    st.caption(walk.note)
how = "lerp in W" if space == "w" else method
strip = imaging.grid(walk.frames, nrow=min(frames, 16))
shared.show_image(strip, width=1100, caption=f"{frames} frames, {how}, seeds {', '.join(map(str, seeds))}")

# Enlarged with nearest neighbour, so the exported animation shows crisp pixels.
movie = imaging.upscale(walk.frames, max(1, 256 // walk.frames.shape[2]))
gif = imaging.gif_bytes(movie, fps=fps)
animation_column, chart_column = st.columns([1, 2], gap="large")
with animation_column:
    st.image(gif, caption="Animated GIF")
with chart_column:
    norm_chart = charts.latent_norm_chart(walk.norms, model.latent_dim, chosen=method)
    st.plotly_chart(norm_chart, config={"displayModeBar": False})

stem = f"walk-{'w-lerp' if space == 'w' else method}-{'-'.join(map(str, seeds))}"
png_column, gif_column, mp4_column, _ = st.columns([1, 1, 1, 3])
png_column.download_button(
    "Download PNG", shared.png(strip, 1100), f"{stem}.png", "image/png", icon=":material/download:", on_click="ignore"
)
gif_column.download_button(
    "Download GIF", gif, f"{stem}.gif", "image/gif", icon=":material/download:", on_click="ignore"
)
mp4_column.download_button(
    "Download MP4",
    lambda: imaging.mp4_bytes(movie, fps=fps),  # encoded only when asked for
    f"{stem}.mp4",
    "video/mp4",
    icon=":material/download:",
    on_click="ignore",
)
st.caption(":material/link: The address bar holds these settings: copy the link to share this exact walk.")

shared.sync_url(
    PREFIX,
    {"seeds": seeds, "method": method, "frames": frames, "fps": fps, "start": int(start)}
    | ({"classes": classes} if classes else {})
    | ({"space": space} if space != "z" else {}),
)
