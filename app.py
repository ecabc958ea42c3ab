"""GAN Studio, the Streamlit multipage app (and the Hugging Face Space's app_file).

Run with ``streamlit run app.py``. This file is the router and the home page:
- the router loads the session's checkpoint once (``app_pages/_shared.py``), lists the pages
  and shows what is loaded in the sidebar; every numbered file in ``app_pages/`` is one page,
  in number order (``1_Latent_interpolation.py`` -> "Latent interpolation");
- the home page is the model zoo: the zoo's cards, and the four ways to choose a
  checkpoint (zoo entry, Hub id, local training run, uploaded file).

Pages only read widgets, call ``studio`` and show numpy images and plotly figures.

The folder is deliberately not called ``pages/``: while a ``pages/`` folder exists, Streamlit
runs a server's first session in its legacy folder mode, so a direct link to a page such as
``/truncation-trick`` opens with a spurious "Page not found" dialog before st.navigation takes over.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import streamlit as st
from PIL import Image

from app_pages import _shared as shared
from studio import explore, imaging
from studio.checkpoints import sources, zoo
from studio.errors import CheckpointError

PAGES_DIR = Path(__file__).resolve().parent / "app_pages"
HOME_TITLE = "Model zoo"
QUALITY_METRICS = ("fid", "kid", "is", "inception_score", "precision", "recall", "accuracy", "test_accuracy")
AVAILABILITY_BADGES = {  # zoo availability -> (label, colour, icon)
    "bundled": ("bundled", "green", ":material/inventory_2:"),
    "cached": ("cached", "blue", ":material/download_done:"),
    "needs network": ("needs network", "orange", ":material/cloud_download:"),
    "missing": ("not trained yet", "gray", ":material/hourglass_empty:"),
}


def loaded_panel() -> None:
    """What is loaded now: 16 samples and the checkpoint's card facts."""
    loaded = shared.current()
    with st.container(border=True):
        if loaded is None:
            st.markdown("**No model loaded yet.** Pick one below: a zoo card, a Hub id, a training run or a file.")
            return
        model, meta = loaded
        samples_column, facts_column = st.columns([1, 2])
        with samples_column:
            if explore.latent_page_problem(model) is None:
                grid = imaging.grid(explore.samples(model, 16, seed=0), nrow=4)
                shared.show_image(grid, width=300, caption="16 samples (seed 0)")
            else:
                st.caption(f"A {meta.get('task', '?')} model: it does not draw samples from noise.")
        with facts_column:
            st.markdown(f"#### {sources.display_name(shared.current_source(), meta)}")
            # What it does and how good it is first; how it was trained and chosen behind an expander.
            card = sources.card_sections(meta.get("description"))
            if card["summary"]:
                st.markdown(card["summary"])
            if card["quality"]:
                st.markdown("**How good it is:** " + card["quality"])
            facts = sources.card_facts(model, meta)
            st.markdown("\n".join(f"- **{k}:** {v}" for k, v in facts.items() if v))
            metrics = {k: v for k, v in (meta.get("metrics") or {}).items() if isinstance(v, (int, float))}
            if metrics:
                # Quality metrics first; a training run's checkpoint also carries its last losses.
                shown = sorted(metrics, key=lambda k: (k.lower() not in QUALITY_METRICS, k))[:6]
                st.caption("Metrics: " + " · ".join(f"{k} {metrics[k]:.4g}" for k in shown))
            if fid := sources.sample_metrics_line(meta):
                st.caption(fid)
            if card["how_made"]:
                with st.expander("How it was made", icon=":material/construction:"):
                    st.markdown(card["how_made"])


def zoo_cards() -> None:
    try:
        entries = zoo.entries()
    except CheckpointError as err:
        st.error(f"The zoo list cannot be read: {err}")
        return
    columns = st.columns(3)
    for i, entry in enumerate(entries):
        with columns[i % 3].container(border=True):
            thumbnail = sources.zoo_thumbnail(entry)
            if thumbnail is not None:
                shared.show_image(np.asarray(Image.open(thumbnail).convert("RGB")), width=220)
            else:
                st.caption(":material/image_not_supported: no samples on this machine yet")
            st.markdown(f"**{entry.title}**")
            label, color, icon = AVAILABILITY_BADGES.get(entry.availability, (entry.availability, "gray", None))
            st.badge(label, color=color, icon=icon)
            st.caption(entry.description)
            st.caption(
                f"family `{entry.family}` · dataset {entry.dataset or '?'} · "
                f"license {entry.license or 'not stated'}  \nsource `{entry.source}`"
            )
            is_current = shared.current_source() == entry.name
            st.button(
                "Loaded" if is_current else "Download and load" if entry.availability == "needs network" else "Load",
                key=f"zoo_load_{entry.name}",
                on_click=shared.choose,
                args=(entry.name,),
                disabled=is_current or entry.availability == "missing",
                type="secondary" if is_current else "primary",
                width="stretch",
            )


def hub_tab() -> None:
    st.text_input("Hub model id", key="hub_id", placeholder="org/repo or org/repo@revision")
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        st.caption("HF_HUB_OFFLINE is set: only repos already in the local Hugging Face cache can load.")
    st.button("Load from the Hub", key="hub_load", on_click=shared.choose_hub, args=("hub_id",))


def runs_tab() -> None:
    runs = sources.list_runs()
    if not runs:
        st.info(f"No training run with a checkpoint in `{sources.runs_root()}/` yet.", icon=":material/info:")
        return
    run = st.selectbox("Training run", runs, format_func=lambda r: r.label, key="run_choice")
    st.button("Load its newest checkpoint", key="run_load", on_click=shared.choose, args=(str(run.path),))


def upload_tab() -> None:
    st.file_uploader(
        "Checkpoint file",
        type=[suffix.lstrip(".") for suffix in sources.UPLOAD_SUFFIXES],
        key="upload",
        max_upload_size=sources.MAX_UPLOAD_MB,
        on_change=shared.choose_upload,
        args=("upload",),
    )
    st.caption(
        f"Up to {sources.MAX_UPLOAD_MB} MB. Read safely: safetensors, or `torch.load(weights_only=True)` "
        "for .pth/.pt/.bin, so a file that holds pickled code is refused, never run. A plain state dict "
        "of a known layout (pix2pix, CycleGAN, DCGAN) is rebuilt into a studio model."
    )


def model_zoo() -> None:
    st.title("GAN Studio")
    st.markdown(
        "Load a generative adversarial network, then explore it on the pages in the sidebar: "
        "walk between latent vectors, or trade diversity for fidelity with truncation."
    )
    loaded_panel()
    st.subheader("Choose a checkpoint")
    shared.show_flash()
    tabs = st.tabs(["Model zoo", "Hugging Face Hub", "Training runs", "Upload a file"])
    with tabs[0]:
        zoo_cards()
    with tabs[1]:
        hub_tab()
    with tabs[2]:
        runs_tab()
    with tabs[3]:
        upload_tab()


def page_title(path: Path) -> str:
    """``2_Truncation_trick.py`` -> "Truncation trick"."""
    return path.stem.split("_", 1)[1].replace("_", " ")


def numbered_pages() -> list[Path]:
    pages = [p for p in PAGES_DIR.glob("*.py") if p.stem.split("_", 1)[0].isdigit()]
    return sorted(pages, key=lambda p: int(p.stem.split("_", 1)[0]))


def main() -> None:
    st.set_page_config(page_title="GAN Studio", page_icon=":material/blur_on:", layout="wide")
    shared.init_session()
    pages = [st.Page(model_zoo, title=HOME_TITLE, icon=":material/apps:", default=True)]
    pages += [
        st.Page(f"app_pages/{p.name}", title=page_title(p), url_path=page_title(p).lower().replace(" ", "-"))
        for p in numbered_pages()
    ]
    page = st.navigation(pages)
    shared.sidebar_status()
    if page.title != HOME_TITLE:
        shared.show_flash()  # the home page shows it next to the checkpoint chooser
    page.run()


main()
