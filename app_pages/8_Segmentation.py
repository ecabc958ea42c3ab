"""Segmentation with a U-Net beside pix2pix's map of the same tile (course 3, week 2).

A held-out satellite tile (test split, tile number chosen on the page) goes through the bundled
maps-unet (supervised per-pixel classes) and the bundled maps-pix2pix (an adversarial map image,
read back into classes by the nearest palette colour). The page shows the tile, the true classes,
both predictions and per-class IoU, computed by ``studio.apply.segment_tile``.
"""

from __future__ import annotations

import streamlit as st

from app_pages import _shared as shared
from studio import checkpoints, ideas
from studio.apply import segment_tile
from studio.errors import CheckpointError

PREFIX = "seg"
UNET, PIX2PIX = "maps-unet", "maps-pix2pix"
MAX_TILE = 999


@st.cache_resource(show_spinner="Loading the segmentation models…")
def models() -> tuple:
    unet = checkpoints.load(UNET).model
    try:
        pix2pix = checkpoints.load(PIX2PIX).model
    except CheckpointError:
        pix2pix = None
    return unet, pix2pix


def iou_table(report: dict, other: dict | None) -> None:
    rows = [{"class": name, "U-Net IoU": round(v, 3),
             **({"pix2pix IoU": round(other["class_iou"].get(name, float("nan")), 3)} if other else {})}
            for name, v in report["class_iou"].items()]
    st.dataframe(rows, hide_index=True, width="stretch")


st.title("Segmentation: U-Net vs pix2pix")
shared.explain_idea(ideas.SEGMENTATION)
rejected = shared.url_state(PREFIX, {"tile": (0, shared.bounded_int(0, MAX_TILE))})
if rejected:
    st.warning(f"The link's tile {rejected['tile']!r} is not a whole number from 0 to {MAX_TILE}: showing tile 0.")
tile = st.number_input("Held-out tile", 0, MAX_TILE, key=f"{PREFIX}_tile",
                       help="A tile of the test split: neither model trained on it")
shared.sync_url(PREFIX, {"tile": tile})
try:
    unet, pix2pix = models()
except CheckpointError as error:
    st.error(f"The bundled U-Net cannot be loaded: {error}. Train it with `python -m training.bundle maps-unet`.")
    st.stop()
shown = segment_tile(unet, int(tile), pix2pix)
u, p = shown["unet"], shown.get("pix2pix_report")
columns = st.columns(5 if p else 3)
shared_width = 200
with columns[0]:
    shared.show_image(shown["satellite"], width=shared_width, caption="Satellite tile (input)")
with columns[1]:
    shared.show_image(shown["truth"], width=shared_width, caption="True classes")
with columns[2]:
    shared.show_image(shown["predicted"], width=shared_width, caption="U-Net classes")
if p:
    with columns[3]:
        shared.show_image(shown["pix2pix"], width=shared_width, caption="pix2pix map (its image)")
    with columns[4]:
        shared.show_image(shown["pix2pix_classes"], width=shared_width, caption="pix2pix map read as classes")
metric_columns = st.columns(4)
metric_columns[0].metric("U-Net mean IoU", f"{u['mean_iou']:.3f}")
metric_columns[1].metric("U-Net pixel accuracy", f"{100 * u['pixel_accuracy']:.1f}%")
if p:
    metric_columns[2].metric("pix2pix mean IoU", f"{p['mean_iou']:.3f}")
    metric_columns[3].metric("pix2pix pixel accuracy", f"{100 * p['pixel_accuracy']:.1f}%")
st.markdown("**IoU per class on this tile** (classes absent from both truth and prediction are left out)")
iou_table(u, p)
st.caption(f"The U-Net works at {unet.image_size} px"
           + (f", pix2pix at {pix2pix.image_size} px (the same scene drawn larger)" if pix2pix else "")
           + ". Read: the U-Net is trained to put the right class on each pixel, so its errors are class "
             "confusions; pix2pix is trained to draw a map that a discriminator accepts, so it can draw "
             "plausible roads and buildings that are not exactly where the true ones are.")
