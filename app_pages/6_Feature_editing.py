"""Feature editing: add or remove an attribute by moving z, with a classifier as the guide.

The classifier gradient and the linear (InterFaceGAN) direction run side by side on the same seed;
both come from ``studio.api.edit`` (the Gradio tab's /edit), so the two UIs show the same numbers.
"""

from __future__ import annotations

import streamlit as st

from app_pages import _shared as shared
from studio import api, ideas
from studio.checkpoints import zoo
from studio.errors import CheckpointError, DataError
from studio.explore import editing

PREFIX = "edit"


def edit_models() -> list[str]:
    """Zoo GANs that have a fitting classifier, the faces GAN first."""
    names = []
    for entry in zoo.entries():
        if entry.task in ("unconditional",) and entry.availability != "missing" and entry.dataset in ("faces", "mnist"):
            names.append(entry.name)
    return sorted(names, key=lambda n: (n != api.DEFAULT_EDIT_MODEL, not n.startswith("faces"), n))


@st.cache_resource(max_entries=4, show_spinner="Loading the model and its classifier…")
def attribute_names(model: str) -> list[str]:
    _, loaded = api.load_model(model)
    return api.edit_models(loaded)[1].names


@st.cache_data(max_entries=64, show_spinner=False)
def run_edit(model, seed, target, direction, method, steps, strength, keep_weight, keep, eight):
    return api.edit(model, seed, target, direction, method, steps, strength, keep_weight, keep, eight)


st.title("Feature editing")
models = edit_models()
if not models:
    st.warning("No GAN with a fitting classifier is bundled yet: train faces-dcgan or mnist-dcgan.")
    shared.explain_idea(ideas.FEATURE_EDITING)
    st.stop()

rejected = shared.url_state(PREFIX, {
    "model": (models[0], shared.one_of(models)),
    "seed": (0, shared.bounded_int(0, 2**31 - 9)),
    "target": ("", str),
    "direction": ("add", shared.one_of(list(api.EDIT_DIRECTIONS))),
    "steps": (10, shared.bounded_int(1, api.MAX_EDIT_STEPS)),
    "strength": (1.0, float),
    "keep_weight": (0.0, float),
    "keep": ("", str),
    "eight": (False, lambda text: text == "True"),
})
if rejected:
    st.warning(f"Ignored link values the page cannot use: {rejected}", icon=":material/link_off:")

controls, idea_column = st.columns([3, 2], gap="large")
with idea_column:
    shared.explain_idea(ideas.FEATURE_EDITING)

with controls:
    model = st.selectbox("Model", models, key=f"{PREFIX}_model")
    try:
        names = attribute_names(model)
    except (CheckpointError, DataError) as err:
        st.error(str(err))
        st.stop()
    if st.session_state[f"{PREFIX}_target"] not in names:
        st.session_state[f"{PREFIX}_target"] = "hat" if "hat" in names else names[min(3, len(names) - 1)]
    a, b, c = st.columns(3)
    seed = a.number_input("Seed", min_value=0, max_value=2**31 - 9, step=1, key=f"{PREFIX}_seed")
    target = b.selectbox("Target attribute", names, key=f"{PREFIX}_target")
    direction = c.radio("Direction", list(api.EDIT_DIRECTIONS), horizontal=True, key=f"{PREFIX}_direction")
    a, b = st.columns(2)
    steps = a.slider("Steps", 1, api.MAX_EDIT_STEPS, key=f"{PREFIX}_steps")
    strength = b.slider("Strength", 0.1, 3.0, step=0.1, key=f"{PREFIX}_strength")
    a, b = st.columns(2)
    keep_weight = a.slider("Keep other attributes (λ, gradient)", 0.0, 20.0, step=0.5, key=f"{PREFIX}_keep_weight")
    keep_default = [k for k in st.session_state[f"{PREFIX}_keep"].split(",") if k in names and k != target]
    keep = b.multiselect("Keep (conditional direction)", [n for n in names if n != target], default=keep_default)
    eight = st.toggle("8 seeds at once (success and side-effect rates)", key=f"{PREFIX}_eight")
    st.session_state[f"{PREFIX}_keep"] = ",".join(keep)
    shared.sync_url(PREFIX, {"model": model, "seed": int(seed), "target": target, "direction": direction,
                             "steps": steps, "strength": strength, "keep_weight": keep_weight, "keep": ",".join(keep),
                             "eight": eight})

methods = [("Classifier gradient", "gradient", ""), ("Linear direction (InterFaceGAN)", "linear", "")]
if keep:
    methods.append((f"Conditional direction (keeps {', '.join(keep)})", "conditional", ",".join(keep)))
columns = st.columns(len(methods))
for column, (title, method, kept) in zip(columns, methods):
    with column:
        st.subheader(title)
        try:
            with st.spinner("Editing…"):
                result = run_edit(model, int(seed), target, direction, method, steps, strength,
                                  keep_weight if method == "gradient" else 0.0, kept, eight)
        except (CheckpointError, DataError) as err:
            st.error(str(err))
            continue
        before, after = st.columns(2)
        with before:
            shared.show_image(result.before, width=128, caption="before")
        with after:
            shared.show_image(result.after, width=128, caption="after")
        shared.show_image(result.strips, width=480, caption="trajectory (one row per seed)")
        st.plotly_chart(result.chart, config={"displayModeBar": False}, key=f"chart_{method}")
        rates = result.rates
        text = f"success {100 * rates['success']:.0f}% of {rates['seeds']} seed(s)"
        if rates["side_effect"] is not None:
            text += f" · side effect {100 * rates['side_effect']:.0f}%"
            flipped = ", ".join(f"{k} {100 * v:.0f}%" for k, v in rates["flipped"].items() if v)
            text += f" ({flipped})" if flipped else ""
        st.markdown(f"**{text}**")
        d1, d2 = st.columns(2)
        # encoded when clicked, not at every slider move; a click does not rerun the page (its edit is drawn
        # already, and a rerun could cancel a second download started at once)
        d1.download_button("PNG", lambda strips=result.strips: shared.png(strips), file_name=f"edit-{method}.png",
                           mime="image/png", key=f"png_{method}", on_click="ignore")
        d2.download_button("GIF", lambda result=result: result.gif, file_name=f"edit-{method}.gif", mime="image/gif",
                           key=f"gif_{method}", on_click="ignore")
st.caption(f"The judge is the {editing.JUDGES.get('faces')} classifier for faces and mnist-classifier for digits.")
