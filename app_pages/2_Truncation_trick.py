"""Truncation trick: redraw large latent entries and watch fidelity trade against diversity.

The threshold slider reruns only its fragment (grid + number), so moving it feels immediate;
the side-by-side sweep below depends on the seed and class only.
"""

from __future__ import annotations

import streamlit as st

from app_pages import _shared as shared
from studio import charts, explore, ideas, imaging

PREFIX = "trunc"
SAMPLES = 16
RANDOM_CLASSES = -1


def parse_threshold(text: str) -> float:
    value = round(float(text), 2)
    if not 0.1 <= value <= 3.0:
        raise ValueError(f"threshold {value} is outside [0.1, 3.0]")
    return value


def threshold_label(threshold: float | None) -> str:
    return "no truncation" if threshold is None else f"τ = {threshold:g}"


def idea() -> None:
    """The page's idea, formula and papers (also shown when no fitting model is loaded)."""
    shared.explain_idea(ideas.TRUNCATION)


st.title("Truncation trick")
model, meta = shared.require_latent_model(idea)
names = explore.class_names(model, meta)

rejected = shared.url_state(
    PREFIX,
    {
        "threshold": (0.7, parse_threshold),
        "seed": (0, shared.bounded_int(0, 2**31 - 1)),
        "class": (RANDOM_CLASSES, shared.bounded_int(RANDOM_CLASSES, max(model.num_classes - 1, RANDOM_CLASSES))),
    },
)
if rejected:
    st.warning(f"Ignored link values the page cannot use: {rejected}", icon=":material/link_off:")

controls, idea_column = st.columns([3, 2], gap="large")
with idea_column:
    idea()

with controls:
    seed_column, class_column = st.columns(2)
    seed = seed_column.number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key=f"{PREFIX}_seed")
    label = None
    if model.num_classes:
        if st.session_state[f"{PREFIX}_class"] not in range(RANDOM_CLASSES, model.num_classes):
            st.session_state[f"{PREFIX}_class"] = RANDOM_CLASSES  # left over from a model with more classes
        choice = class_column.selectbox(
            "Class",
            [RANDOM_CLASSES, *range(model.num_classes)],
            format_func=lambda c: "random classes" if c == RANDOM_CLASSES else names[c],
            key=f"{PREFIX}_class",
        )
        label = None if choice == RANDOM_CLASSES else choice

    @st.fragment
    def interactive_grid() -> None:
        threshold = st.slider("Threshold τ", 0.1, 3.0, step=0.1, key=f"{PREFIX}_threshold")
        images = explore.truncated(model, threshold, n=SAMPLES, seed=int(seed), label=label)
        diversity = explore.mean_pairwise_distance(images)
        caption = f"{SAMPLES} samples at τ = {threshold:g} · diversity {diversity:.3f}"
        shared.show_image(imaging.grid(images, nrow=4), width=360, caption=caption)
        shared.sync_url(
            PREFIX, {"threshold": threshold, "seed": int(seed), "class": RANDOM_CLASSES if label is None else label}
        )

    interactive_grid()

st.subheader("Side by side: the same seed at several thresholds")
sweep = explore.truncation_sweep(model, n=SAMPLES, seed=int(seed), label=label)
for column, result in zip(st.columns(len(sweep)), sweep):
    with column:
        shared.show_image(
            imaging.grid(result.images, nrow=4),
            width=240,
            fit="stretch",
            caption=f"{threshold_label(result.threshold)} · diversity {result.diversity:.3f}",
        )
st.plotly_chart(
    charts.truncation_chart(
        [c.threshold for c in sweep], [c.diversity for c in sweep], [c.score for c in sweep]
    ),
    config={"displayModeBar": False},
)

st.subheader("w-space truncation (ψ) and style mixing")
if explore.mixing.is_stylegan(model):
    # StyleGAN: truncate w (after the mapping network) instead of z, for the same seeds
    psi_column, cutoff_column = st.columns(2)
    psi = psi_column.slider("ψ (w-space truncation)", -1.0, 2.0, 0.7, step=0.05, key=f"{PREFIX}_psi")
    cutoff = cutoff_column.selectbox("Cutoff", [None, *range(model.num_ws + 1)], key=f"{PREFIX}_cutoff",
                                     format_func=lambda c: "none: every layer" if c is None else f"the first {c} layers")
    w_column, z_column = st.columns(2)
    with w_column:
        shared.show_image(imaging.grid(explore.mixing.w_truncated(model, int(seed), psi, cutoff, n=SAMPLES), nrow=4),
                          width=300, caption=f"w space: w' = w̄ + ψ (w − w̄), ψ = {psi:g} (seeds {int(seed)}-{int(seed) + SAMPLES - 1})")
    with z_column:
        shared.show_image(imaging.grid(explore.mixing.z_truncated(model, int(seed), 0.7, n=SAMPLES), nrow=4), width=300,
                          caption=f"z space: the course's truncation at τ = 0.7, the same seeds ({int(seed)}-{int(seed) + SAMPLES - 1})")
    st.caption("The style-mixing page mixes these styles by resolution.")
else:
    st.info(
        "Comes with StyleGAN. Its mapping network turns z into a style vector w; truncation then pulls w "
        "toward the average style w̄ (ψ = 1 changes nothing, ψ = 0 gives the average image), and style "
        "mixing feeds the coarse layers one w and the fine layers another. These controls appear here once "
        "a StyleGAN checkpoint is loaded.",
        icon=":material/construction:",
    )
st.latex(r"w' = \bar{w} + \psi\,(w - \bar{w})")
st.markdown(":material/description: [Karras et al. 2019, StyleGAN](https://arxiv.org/abs/1812.04948)")
