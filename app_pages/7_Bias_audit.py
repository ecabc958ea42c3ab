"""Bias audit: what the faces GAN associates with an attribute, against the world it learned from;
and how fair a "smiling" classifier trained on biased faces is, before and after de-biasing.

Both come from ``studio.api.bias_audit`` (the Gradio tab's /bias_audit).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages import _shared as shared
from studio import api, ideas
from studio.audit import bias
from studio.checkpoints import zoo
from studio.errors import CheckpointError, DataError

PREFIX = "bias"
ATTRIBUTES = ["hat", "glasses", "smiling", "beard", "dark_skin"]


def face_models() -> list[str]:
    """The faces GANs at hand, the audit's default first."""
    names = [e.name for e in zoo.entries() if e.task == "unconditional" and e.dataset == "faces"
             and e.availability != "missing"]
    return sorted(names, key=lambda name: name != api.DEFAULT_AUDIT_MODEL)


@st.cache_data(max_entries=16, show_spinner=False)
def associations(model: str, target: str, n: int, k: int):
    bar = st.progress(0.0, text="Auditing…")
    result = api.bias_audit(model, target, n, k, False, progress=lambda f, text: bar.progress(f, text=text))
    bar.empty()
    return result


@st.cache_resource(show_spinner=False)
def fairness(model: str):
    bar = st.progress(0.0, text="Training the smiling classifiers…")
    from studio.audit import bias as audit

    _, loaded = api.load_model(model)
    generator, judge = api.edit_models(loaded)
    result = audit.fairness_study(generator, judge, n_boot=100, progress=lambda f, text: bar.progress(f, text=text))
    bar.empty()
    return result


st.title("Bias audit")
models = face_models()
idea_column = st.container()
if not models:
    st.warning("The faces GAN (faces-dcgan) is not bundled yet: train it with `python -m training.bundle faces-dcgan`.")
    shared.explain_idea(ideas.BIAS_AUDIT)
    st.stop()

rejected = shared.url_state(PREFIX, {
    "model": (models[0], shared.one_of(models)),
    "target": ("hat", shared.one_of(ATTRIBUTES)),
    "n": (256, shared.bounded_int(*api.AUDIT_N)),
    "k": (20, shared.bounded_int(*api.AUDIT_K)),
})
if rejected:
    st.warning(f"Ignored link values the page cannot use: {rejected}", icon=":material/link_off:")

controls, idea_column = st.columns([3, 2], gap="large")
with idea_column:
    shared.explain_idea(ideas.BIAS_AUDIT)
with controls:
    a, b = st.columns(2)
    model = a.selectbox("Model", models, key=f"{PREFIX}_model")
    target = b.selectbox("Target attribute", ATTRIBUTES, key=f"{PREFIX}_target")
    a, b = st.columns(2)
    n = a.slider("N samples", api.AUDIT_N[0], api.AUDIT_N[1], step=8, key=f"{PREFIX}_n")
    k = b.slider("K steps each way", api.AUDIT_K[0], api.AUDIT_K[1], key=f"{PREFIX}_k")
    shared.sync_url(PREFIX, {"model": model, "target": target, "n": n, "k": k})

st.subheader("Implicit associations")
try:
    audit = associations(model, target, n, k)
except (CheckpointError, DataError) as err:
    st.error(str(err))
    st.stop()
st.warning(audit.note, icon=":material/gavel:")
st.dataframe(pd.DataFrame(audit.table), hide_index=True)
top = audit.table[0]
st.markdown(
    f"Strongest association with **{target}**: **{top['attribute']}** (covariance {top['covariance']:+.4f}). "
    f"In the training world their true correlation is **{top['true (world) correlation']}**; among the GAN's "
    f"own samples the classifier sees **{top['GAN samples correlation']}**.")
for column, chart in zip(st.columns(2) * ((len(audit.charts) + 1) // 2), audit.charts):
    with column:
        st.plotly_chart(chart, config={"displayModeBar": False})

st.subheader("Fairness of a smiling classifier, by skin group")
st.caption("Logistic regression on the pixels, trained on 4,000 faces; evaluated on 2,000 held-out faces of the "
           "biased world with their true labels. De-biasing adds 2,000 GAN images in latent pairs (Ramaswamy et al.).")
if st.toggle("Run the fairness study (a few minutes the first time on 2 busy cores; then cached)", key=f"{PREFIX}_fair"):
    try:
        study = fairness(model)
    except (CheckpointError, DataError) as err:
        st.error(str(err))
        st.stop()
    rows = []
    for setting, report in study.items():
        row = {"trained on": setting}
        for metric in bias.FAIRNESS_METRICS:
            low, high = report["interval"][metric]
            row[metric.replace("_", " ")] = f"{report[metric]:.3f} [{low:.3f}, {high:.3f}]"
        rows.append(row)
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    st.plotly_chart(bias.fairness_chart(study), config={"displayModeBar": False})
