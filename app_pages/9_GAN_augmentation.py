"""Apply GANs to few labels: data augmentation with the conditional GAN, discriminator transfer,
and the K+1-class semi-supervised GAN.

Three experiments from ``studio.apply``, each a background job (``studio.apply.jobs``): the button
starts it in a server thread, the page polls its progress once a second, and the result is cached
on disk by its settings, so a refresh, a second tab or a later visit finds the same job or result.
Each section shows a plotly chart of held-out accuracy against K (95% intervals over seeds) and
the measured numbers.
"""

from __future__ import annotations

import streamlit as st

from app_pages import _shared as shared
from studio import apply, ideas
from studio.apply import augmentation, semisupervised, transfer

K_CHOICES = (10, 50, 100)


def seconds_hint(runs: int, per_run: float) -> str:
    return f"about {max(1, round(runs * per_run / 60))} min on 2 busy CPU cores"


def show_job(kind: str, settings: dict, chart, verdict, hint: str) -> None:
    """Start button, progress while running (polled), then the chart and the numbers."""
    job = apply.get_job(kind, settings)
    if st.button("Run the experiment" if job is None else "Run again with these settings" if job.status == "failed"
                 else "Running…" if job.status == "running" else "Measured (cached)",
                 key=f"{kind}_run", type="primary", disabled=job is not None and job.status != "failed"):
        job = apply.start_job(kind, settings)
    if job is None:
        st.info(f"Not measured yet with these settings: press **Run the experiment** ({hint}). It runs in the "
                "background: you can leave the page and come back.")
        return
    render(kind, settings, chart, verdict)


def render(kind: str, settings: dict, chart, verdict) -> None:
    job = apply.get_job(kind, settings)
    if job.status == "running":
        poll(kind, settings)
        return
    if job.status == "failed":
        st.error(f"The experiment failed: {job.error}")
        return
    st.plotly_chart(chart(job.result), key=f"{kind}_chart")
    st.markdown(verdict(job.result))
    where = "from the cache" if job.cached else "just now"
    st.caption(f"Measured {where} in {job.elapsed:.0f} s; accuracy on the 1,000 held-out test digits.")


@st.fragment(run_every=1.0)
def poll(kind: str, settings: dict) -> None:
    job = apply.get_job(kind, settings)
    if job is None or job.status != "running":
        st.rerun()  # the whole page shows the result
    st.progress(min(1.0, job.progress), text=f"{job.message} ({job.elapsed:.0f} s so far)")


st.title("Apply GANs to few labels")
st.markdown("Three measured answers: how much generated digits help a classifier that has only K real digits per "
            "class, how much a GAN discriminator's features help with the same few labels, and how well a GAN "
            "whose discriminator *is* the classifier learns from them.")

st.header("1. Data augmentation with a conditional GAN")
shared.explain_idea(ideas.AUGMENTATION)
left, middle, right = st.columns(3)
ks = left.multiselect("K real digits per class", K_CHOICES, default=[10], key="aug_ks")
seeds = middle.slider("Seeds", 1, 5, augmentation.DEFAULTS["seeds"], key="aug_seeds")
ratio = right.select_slider("Generated digits per real one", [0.25, 0.5, 1.0, 2.0, 4.0],
                            value=augmentation.DEFAULTS["ratio"], key="aug_ratio")
if not ks:
    st.warning("Choose at least one K.")
else:
    aug_settings = {"ks": sorted(ks), "seeds": seeds, "ratio": ratio}
    show_job("augmentation", aug_settings, apply.augmentation_chart, apply.augmentation_verdict,
             seconds_hint(len(ks) * seeds * 4, 15))

st.header("2. Discriminator transfer")
shared.explain_idea(ideas.TRANSFER)
left, middle, right = st.columns(3)
t_ks = left.multiselect("K labelled digits per class", K_CHOICES, default=[10], key="tr_ks")
t_seeds = middle.slider("Seeds", 1, 5, transfer.DEFAULTS["seeds"], key="tr_seeds")
source = right.selectbox("Discriminator of", transfer.SOURCES, key="tr_source")
if not t_ks:
    st.warning("Choose at least one K.")
else:
    tr_settings = {"ks": sorted(t_ks), "seeds": t_seeds, "source": source}
    show_job("transfer", tr_settings, apply.transfer_chart, apply.transfer_verdict,
             seconds_hint(len(t_ks) * t_seeds * 2, 15))

st.header("3. The K+1-class semi-supervised GAN")
shared.explain_idea(ideas.SEMISUPERVISED)
left, middle, right = st.columns(3)
s_ks = left.multiselect("K labelled digits per class", K_CHOICES, default=[10], key="sgan_ks")
s_seeds = middle.slider("Seeds", 1, 5, semisupervised.DEFAULTS["seeds"], key="sgan_seeds")
s_weight = right.select_slider("Weight of the unlabelled real/fake loss", [0.25, 0.5, 1.0, 2.0],
                               value=semisupervised.DEFAULTS["unsup_weight"], key="sgan_weight")
if not s_ks:
    st.warning("Choose at least one K.")
else:
    sg_settings = {"ks": sorted(s_ks), "seeds": s_seeds}
    if s_weight != semisupervised.DEFAULTS["unsup_weight"]:
        sg_settings["unsup_weight"] = s_weight
    show_job("semisupervised", sg_settings, apply.semisupervised_chart, apply.semisupervised_verdict,
             seconds_hint(len(s_ks) * s_seeds, 150))
    st.caption("The same test digits and K labelled digits per (K, seed) as the two sections above: compare the "
               "K+1-class GAN with the frozen-discriminator head and the from-scratch network there.")
