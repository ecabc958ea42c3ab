"""Image-to-image translation: a satellite photo to a map (pix2pix), a horse to a zebra (CycleGAN).

Choose a translation model (zoo entry, weights file or Hub id, through the shared chooser of
``_shared.py``), a direction and an input: a ready-made sample or any uploaded image, which
``studio.translate`` converts to what the model takes with a note for every change. Input, output
and, for paired data, the ground truth are shown side by side; the output downloads as a PNG.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from app_pages import _shared as shared
from studio import ideas, imaging, translate
from studio.checkpoints import sources, zoo
from studio.errors import CheckpointError, DataError

PREFIX = "tr"
IMAGE_TYPES = ["png", "jpg", "jpeg", "gif", "bmp", "tif", "tiff", "webp"]
SOURCES = {"sample": "A sample", "upload": "Upload an image"}
SHOWN_PX = 256  # small images are enlarged (nearest neighbour) to about this width
LAST_UPLOAD = f"{PREFIX}_last_upload"  # (file name, image, notes) of the last upload that decoded


def idea() -> None:
    shared.explain_idea(ideas.TRANSLATION)


def translation_entries() -> list[zoo.ZooEntry]:
    try:
        return [entry for entry in zoo.entries() if entry.task == "translation"]
    except CheckpointError as err:
        st.error(f"The zoo list cannot be read: {err}")
        return []


def chooser(expanded: bool) -> None:
    """The shared checkpoint chooser, limited to what this page can use."""
    with st.expander("Choose a translation model", expanded=expanded, icon=":material/swap_horiz:"):
        zoo_tab, file_tab, hub_tab = st.tabs(["Model zoo", "Weights file", "Hugging Face Hub"])
        with zoo_tab:
            entries = translation_entries()
            if entries:
                by_name = {entry.name: entry for entry in entries}
                name = st.selectbox("Zoo model", list(by_name), key=f"{PREFIX}_zoo",
                                    format_func=lambda n: f"{by_name[n].title} ({by_name[n].availability})")
                missing = by_name[name].availability == "missing"
                st.button("Load", key=f"{PREFIX}_zoo_load", on_click=shared.choose, args=(name,), disabled=missing,
                          help="Not trained yet" if missing else None)
            else:
                st.caption("The zoo lists no translation model.")
        with file_tab:
            st.file_uploader(
                "A studio checkpoint (.safetensors) or a public pix2pix / CycleGAN generator (latest_net_G.pth)",
                type=[suffix.lstrip(".") for suffix in sources.UPLOAD_SUFFIXES],
                key=f"{PREFIX}_weights",
                max_upload_size=sources.MAX_UPLOAD_MB,
                on_change=shared.choose_upload,
                args=(f"{PREFIX}_weights",),
            )
            st.caption("Read safely (safetensors, or torch.load with weights_only=True): a file holding "
                       "pickled code is refused, never run.")
        with hub_tab:
            st.text_input("Hub model id", key=f"{PREFIX}_hub_id", placeholder="org/repo or org/repo@revision")
            st.button("Load from the Hub", key=f"{PREFIX}_hub_load", on_click=shared.choose_hub,
                      args=(f"{PREFIX}_hub_id",))


@st.cache_data(max_entries=8, show_spinner=False)
def samples(meta: dict, direction: str) -> list[translate.Sample]:
    return translate.sample_inputs(meta, direction)


@st.cache_data(max_entries=16, show_spinner=False)
def decoded(data: bytes, channels: int, name: str) -> tuple[np.ndarray, list[str]]:
    return translate.read_image(data, channels=channels, name=name)


@st.cache_data(max_entries=32, show_spinner="Translating…")
def translated(source: str, version: float, direction: str, image: np.ndarray, compile: bool,
               _model) -> tuple[np.ndarray, list[str]]:
    # source and version key the cache; _model (unhashed) is the loaded model they name
    return translate.translate_image(_model, image, direction, compile=compile)


def uploaded_input(channels: int) -> tuple[str, np.ndarray, list[str]] | None:
    """The uploaded image, decoded, with its notes. A file that is not an image shows an error and
    changes nothing else: the last good upload stays on the page."""
    upload = st.file_uploader("Image (PNG, JPEG, GIF, BMP, TIFF or WebP; any size and mode)", type=IMAGE_TYPES,
                              key=f"{PREFIX}_image", max_upload_size=translate.MAX_UPLOAD_BYTES // 2**20)
    if upload is None:
        st.session_state.pop(LAST_UPLOAD, None)
        return None
    try:
        image, notes = decoded(upload.getvalue(), channels, upload.name)
    except DataError as err:
        st.error(f"{err}. Nothing was translated.", icon=":material/broken_image:")
        last = st.session_state.get(LAST_UPLOAD)
        return last if last is not None and last[1].shape[2] == channels else None
    st.session_state[LAST_UPLOAD] = (upload.name, image, notes)
    return upload.name, image, notes


st.title("Image-to-image translation")
# The session's model if it translates, else the bundled maps model: the page opens with a sample translated.
current_source, loaded = shared.model_for_page(translate.translation_problem, ("translation",), prefer="maps")
current_source = current_source or ""
problem = translate.translation_problem(loaded.model if loaded else None)
controls, explanation = st.columns(2, gap="large")
with explanation:
    idea()
with controls:
    chooser(expanded=problem is not None)
    if problem:
        st.info(f"{problem} Pick a translation model above, or on the **Model zoo** page.", icon=":material/info:")
        st.stop()
    model, meta = loaded
    others = [e for e in translation_entries() if e.availability == "bundled" and e.name != current_source]
    if others:
        switch = st.columns(len(others))
        for column, entry in zip(switch, others):
            column.button(f"Try {entry.title}", key=f"{PREFIX}_try_{entry.name}", on_click=shared.choose,
                          args=(entry.name,), icon=":material/swap_horiz:", width="stretch")
    options = translate.directions(model, meta)
    if st.session_state.get(f"{PREFIX}_direction") not in options:
        st.session_state[f"{PREFIX}_direction"] = options[0]  # left over from another model
    direction = st.radio("Direction", options, key=f"{PREFIX}_direction", horizontal=True,
                         format_func=lambda d: translate.direction_label(d, meta))
    if model.family == "cyclegan" and options == ["a2b"]:
        st.caption("This file holds the A → B generator only: its B → A generator was never trained.")
    channels_in, channels_out = translate.io_channels(model, direction)
    st.caption(f"{sources.display_name(current_source, meta)} · `{meta.get('family')}` · trained at "
               f"{meta.get('image_size')} px · {channels_in} → {channels_out} channel(s)")

    source = st.radio("Input", list(SOURCES), key=f"{PREFIX}_source", horizontal=True, format_func=SOURCES.get)
    truth = None
    if source == "sample":
        try:
            choices = samples(meta, direction)
        except DataError as error:  # e.g. a Space without animal-mnist: uploads still work
            st.info(f"No sample pictures here: {error}")
            st.stop()
        index = st.selectbox("Sample", range(len(choices)), key=f"{PREFIX}_sample",
                             format_func=lambda i: choices[i].name)
        name, image, truth = choices[min(index, len(choices) - 1)]
        input_notes: list[str] = []
    else:
        upload = uploaded_input(channels_in)
        if upload is None:
            st.caption("Upload an image to translate it.")
            st.stop()
        name, image, input_notes = upload
    compile_ = False  # pix2pix gains nothing: its eager path already packs its weights the way compile does
    if model.family == "cyclegan":
        compile_ = st.toggle("Compile the generator (torch.compile)", key=f"{PREFIX}_compile",
                             help="Fuses the ResNet's InstanceNorm, ReLU and padding: later runs take about a "
                                  "fifth less time, but the first run at each image size takes 5 to 15 s.")

output, notes = translated(current_source, sources.source_version(current_source), direction, image, compile_, model)
notes = input_notes + notes
if notes:
    st.info("**Converted for the model:** " + "; ".join(notes) + ".", icon=":material/transform:")

label = translate.direction_label(direction, meta)
columns = st.columns(3 if truth is not None else 2)
with columns[0]:
    shared.show_image(image, width=SHOWN_PX, fit="stretch", caption=f"Input: {name}")
with columns[1]:
    shared.show_image(output, width=SHOWN_PX, fit="stretch", caption=f"Output: {label}")
if truth is not None:
    with columns[2]:
        shared.show_image(truth, width=SHOWN_PX, fit="stretch", caption="Ground truth (the paired target)")

download, score = st.columns([1, 2])
stem = "".join(c if c.isalnum() else "-" for c in name).strip("-") or "image"
download.download_button("Download the output (PNG)", imaging.png_bytes(output), f"{stem}-{direction}.png",
                         "image/png", icon=":material/download:", on_click="ignore")
if truth is not None and translate.dataset_kind(meta) == "maps" and direction == "a2b" and output.shape == truth.shape:
    score.metric("Per-pixel map accuracy", f"{translate.per_pixel_map_accuracy(output, truth):.1%}",
                 help="The share of pixels whose nearest map colour (road, park, water, building...) is the "
                      "true map's.")

shared.sync_url(PREFIX, {})  # the address bar holds the checkpoint: a copied link reopens this model
