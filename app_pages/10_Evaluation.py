"""Evaluation: FID, KID, classifier score, precision/recall and density/coverage of checkpoints, with
intervals; FID against N; the truncation sweep; features in 2-d with nearest real neighbours; and why
FIDs disagree. Every number comes from ``studio.api`` (the Gradio tab's /evaluate, /fid_curve,
/truncation_metrics, /feature_map, /fid_disagreement), cached per setting.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages import _shared as shared
from studio import api, ideas
from studio.audit import sources as image_sources
from studio.checkpoints import sources, zoo
from studio.errors import CheckpointError, DataError

PREFIX = "eval"
SIZES = [100, 200, 500, 1000, 2000, 5000]
DEFAULT_EXTRACTOR = "default (the dataset's own)"
EXTRACTORS = [DEFAULT_EXTRACTOR, *api.EVAL_EXTRACTORS]
CHART = {"displayModeBar": False}


def evaluable_models() -> list[str]:
    """Bundled or cached generators of z whose training data is a bundled reference, then training runs."""
    try:
        entries = zoo.entries()
    except CheckpointError:
        entries = []
    names = [e.name for e in entries if e.task in image_sources.GENERATOR_TASKS
             and e.availability in ("bundled", "cached")
             and str(e.dataset or "").partition(":")[0] in image_sources.REFERENCE_DATASETS]
    return names + [str(run.path) for run in sources.list_runs()]


def label(source: str) -> str:
    return f"run {source.rsplit('/', 1)[-1]}" if "/" in source else source


class Bar:
    """A st.progress bar as the studio's progress callback (stage, done, total)."""

    def __init__(self, text: str):
        self.bar = st.progress(0.0, text=text)

    def __call__(self, stage: str, done: int, total: int) -> None:
        self.bar.progress(min(done / max(total, 1), 1.0), text=f"{stage}: {done:,} / {total:,} images")

    def done(self) -> None:
        self.bar.empty()


def _run(fn, text: str, *args):
    bar = Bar(text)
    try:
        return fn(*args, progress=bar)
    finally:
        bar.done()


@st.cache_data(max_entries=16, show_spinner=False)
def evaluate(models: tuple[str, ...], n: int, extractor: str, seed: int) -> api.Evaluation:
    return _run(api.evaluate, "Drawing samples and extracting features…", list(models), n, extractor, seed)


@st.cache_data(max_entries=16, show_spinner=False)
def fid_curve(model: str, n: int, extractor: str, seed: int) -> api.Chart:
    return _run(api.fid_curve, "FID of growing subsets…", model, n, extractor, seed)


@st.cache_data(max_entries=16, show_spinner=False)
def truncation(model: str, n: int, extractor: str, seed: int) -> api.Chart:
    return _run(api.truncation_metrics, "Sweeping the truncation…", model, n, extractor, seed)


@st.cache_data(max_entries=16, show_spinner=False)
def feature_map(model: str, n: int, extractor: str, seed: int) -> api.FeatureMap:
    return _run(api.feature_map, "Features and nearest neighbours…", model, n, extractor, seed)


@st.cache_data(max_entries=8, show_spinner=False)
def disagreement(model: str, n: int, n_reference: int, seed: int) -> api.Chart:
    return _run(api.fid_disagreement, "Four extractors and resizes…", model, n, n_reference, seed)


def show_error(err: Exception) -> None:
    st.error(str(err), icon=":material/error:")


st.title("Evaluation")
choices = evaluable_models()
if not choices:
    st.warning("No bundled generator of digits to evaluate: train one with `python -m training.bundle mnist-dcgan`.")
    shared.explain_idea(ideas.EVALUATION)
    st.stop()
default_model = api.DEFAULT_MODEL if api.DEFAULT_MODEL in choices else choices[0]


def parse_models(text: str) -> list[str]:
    names = [part for part in text.split(",") if part]
    if not names or any(name not in choices for name in names):
        raise ValueError(f"{text!r} names a checkpoint this page does not list")
    return names


rejected = shared.url_state(PREFIX, {
    "models": ([default_model], parse_models),
    "n": (500, lambda text: SIZES[SIZES.index(int(text))]),
    "extractor": (DEFAULT_EXTRACTOR, shared.one_of(EXTRACTORS)),
    "seed": (0, shared.bounded_int(0, api.MAX_SEED)),
})
if rejected:
    st.warning(f"Ignored link values the page cannot use: {rejected}", icon=":material/link_off:")

controls, idea_column = st.columns([3, 2], gap="large")
with idea_column:
    shared.explain_idea(ideas.EVALUATION)
with controls:
    chosen = st.multiselect("Checkpoints", choices, format_func=label, key=f"{PREFIX}_models",
                            max_selections=api.EVAL_MAX_MODELS)
    extra = st.text_input("…or another checkpoint (zoo name or training-run folder)", key=f"{PREFIX}_extra",
                          placeholder="e.g. runs/mnist-dcgan-2024…")
    a, b, c = st.columns(3)
    n = a.select_slider("N samples", SIZES, key=f"{PREFIX}_n")
    extractor_choice = b.selectbox("Feature extractor", EXTRACTORS, key=f"{PREFIX}_extractor")
    seed = c.number_input("Seed", min_value=0, max_value=api.MAX_SEED, step=1, key=f"{PREFIX}_seed")
    if extractor_choice in ("inception", "efficientnet-lite0"):
        st.caption(":material/hourglass_top: An ImageNet network on a CPU: about 2 (inception) to 10 "
                   "(efficientnet-lite0) images a second, and the 5,000 reference digits once (then cached). "
                   "Lower N first.")
    shared.sync_url(PREFIX, {"models": chosen, "n": n, "extractor": extractor_choice, "seed": int(seed)})

extractor = "" if extractor_choice == DEFAULT_EXTRACTOR else extractor_choice
models = tuple(dict.fromkeys([*chosen, *([extra.strip()] if extra.strip() else [])]))
if not models:
    st.info("Choose at least one checkpoint.", icon=":material/info:")
    st.stop()

st.subheader("Metrics with their intervals")
try:
    found = evaluate(models, int(n), extractor, int(seed))
except (CheckpointError, DataError) as err:
    show_error(err)
    st.stop()
table = pd.DataFrame(found.table)[["model", "metric", "value", "low", "high", "n", "extractor"]]
st.dataframe(table, hide_index=True, column_config={c: st.column_config.NumberColumn(format="%.4g")
                                                    for c in ("value", "low", "high")})
st.plotly_chart(found.chart, config=CHART)
for note in found.notes:
    st.caption(f":material/info: {note}")

model = models[0]
st.subheader("FID against N: the small-sample trap")
if len(models) > 1:
    st.caption(f"The sections below study **{label(model)}**, the first checkpoint.")
try:
    curve = fid_curve(model, int(n), extractor, int(seed))
except (CheckpointError, DataError) as err:
    show_error(err)
else:
    st.plotly_chart(curve.chart, config=CHART)
    low, high = curve.result["fid_inf_interval"]
    st.markdown(f"FID at N = {curve.result['n'][-1]:,}: **{curve.result['fid_at_n']:.4g}**; extrapolated to "
                f"infinitely many samples, **FID∞ = {curve.result['fid_inf']:.4g}** (range over draws "
                f"{low:.4g} to {high:.4g}). The same generator reads worse with fewer samples.")

st.subheader("Truncation sweep: fidelity against diversity")
try:
    sweep = truncation(model, int(n), extractor, int(seed))
except (CheckpointError, DataError) as err:
    show_error(err)
else:
    st.plotly_chart(sweep.chart, config=CHART)
    if sweep.result["space"] == "z":
        st.caption("Threshold τ in z (entries redrawn until |z_i| ≤ τ; none: plain sampling). A StyleGAN is swept "
                   "in W instead (ψ, from studio.explore.mixing); no StyleGAN is bundled yet.")
    else:
        st.caption("ψ in W: w' = w̄ + ψ (w − w̄), on every layer (ψ = 1: no truncation).")

st.subheader("Real against generated features, and nearest real neighbours")
try:
    mapped = feature_map(model, int(n), extractor, int(seed))
except (CheckpointError, DataError) as err:
    show_error(err)
else:
    scatter, neighbours = st.columns([3, 2])
    with scatter:
        st.plotly_chart(mapped.chart, config=CHART)
    with neighbours:
        result = mapped.result
        caption = (f"Left: the {len(result['ratio'])} samples closest to a real image; right: their "
                   f"{result['neighbours'].shape[1]} nearest real images (features).")
        shared.show_image(mapped.neighbours, width=320, caption=caption)
        ratios = ", ".join(f"{r:.2f}" for r in result["ratio"])
        st.caption(f"Nearest distance over the typical real-to-real distance: {ratios}. Near 0 would be a copy of a "
                   f"training image; {result['copies']} of {result['n']} samples are exact copies in feature space.")

st.subheader("Why FIDs disagree")
st.markdown("The same samples against the same real images, under the dataset's own extractor and "
            "efficientnet-lite0, each with PIL bicubic and with the network's own resize.")
a, b = st.columns(2)
dis_n = a.select_slider("Samples", [50, 100, 200], value=100, key=f"{PREFIX}_dis_n")
dis_ref = b.select_slider("Real images", [100, 200, 500], value=200, key=f"{PREFIX}_dis_ref")
if st.toggle("Compare four ways (about a minute on a busy 2-core CPU; then cached)", key=f"{PREFIX}_dis"):
    try:
        compared = disagreement(model, int(dis_n), int(dis_ref), int(seed))
    except (CheckpointError, DataError) as err:
        show_error(err)
    else:
        rows = pd.DataFrame(compared.result["rows"])[["extractor", "resize", "dim", "fid", "kid"]]
        st.dataframe(rows, hide_index=True)
        st.plotly_chart(compared.chart, config=CHART)
        st.markdown(compared.result["sentence"])
