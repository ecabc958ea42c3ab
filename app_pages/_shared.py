"""Streamlit glue every page shares: the loaded checkpoint, URL state, messages, images.

Not a page (app.py lists only the numbered files of app_pages/). Everything here is about Streamlit:
what to compute lives in ``studio`` so the Gradio app can call the same functions.

Session state keys:
    checkpoint   the source string of the loaded model (None before the first load)
    flash        (level, text): the outcome of the last load, shown once
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import streamlit as st

from studio import checkpoints, explore, ideas, imaging
from studio.checkpoints import sources, zoo
from studio.errors import CheckpointError

CHECKPOINT = "checkpoint"
FLASH = "flash"
HOME_HINT = "Choose one on the **Model zoo** page (first in the sidebar)."


# ----------------------------------------------------------------------------- the checkpoint


@st.cache_resource(max_entries=6, show_spinner="Loading checkpoint…")
def _load(source: str, version: float) -> checkpoints.Loaded:
    # ``version`` only keys the cache: a training run reloads once it writes a newer checkpoint.
    return checkpoints.load(source)


@st.cache_resource(show_spinner=False)
def configure_process() -> int:
    """Once per server process: torch's thread count for interactive requests."""
    return explore.set_interactive_threads()


def _default_source() -> str | None:
    """The first bundled zoo entry, so the studio opens with something to explore."""
    try:
        return next((e.name for e in zoo.entries() if e.availability == "bundled"), None)
    except CheckpointError:
        return None  # a broken zoo.toml is reported on the Model zoo page


def init_session() -> None:
    """Run by app.py before every page: load the URL's checkpoint (or the default) once per session."""
    configure_process()
    if CHECKPOINT in st.session_state:
        return
    st.session_state[CHECKPOINT] = None
    requested = st.query_params.get("checkpoint")
    if requested and choose(requested, announce=False):
        return
    default = _default_source()  # also after a link's checkpoint failed (its error is shown)
    if default:
        flash = st.session_state.get(FLASH)
        choose(default, announce=False)
        if flash:
            st.session_state[FLASH] = flash


def choose(source: str, *, announce: bool = True, label: str | None = None) -> bool:
    """Load ``source`` and make it the session's model; on failure keep the previous one.

    Used as a widget callback, so it reports through a flash message instead of returning UI;
    ``label`` names the source in that message (an upload's file name, not its temp path).
    """
    try:
        loaded = _load(source, sources.source_version(source))
    # Any failure of an untrusted file (a foreign layout, a corrupt archive) must leave the
    # studio running with its previous model, so everything is reported, not only CheckpointError.
    except Exception as err:  # noqa: BLE001
        text = str(err) if isinstance(err, CheckpointError) else f"{type(err).__name__}: {err}"
        _fail(f"Could not load **{label or source}**: {text}")
        return False
    st.session_state[CHECKPOINT] = source
    if announce:
        st.session_state[FLASH] = ("success", f"Loaded **{sources.display_name(source, loaded.meta)}**.")
    return True


def _fail(text: str) -> None:
    kept = f"\n\n**{current_title()}** stays loaded." if current_source() else ""
    st.session_state[FLASH] = ("error", text + kept)


def choose_hub(text_key: str) -> None:
    """Callback of the Hub id box: validate what was typed, then load it."""
    try:
        choose(sources.hub_source(st.session_state.get(text_key, "")))
    except CheckpointError as err:
        _fail(str(err))


def choose_upload(uploader_key: str) -> None:
    """Callback of the file uploader: save the file privately, then load it."""
    uploaded = st.session_state.get(uploader_key)
    if uploaded is None:
        return
    try:
        path = sources.save_upload(uploaded.name, uploaded.getvalue())
    except CheckpointError as err:
        _fail(str(err))
        return
    choose(str(path), label=uploaded.name)


def current() -> checkpoints.Loaded | None:
    """The session's loaded model (from the resource cache), or None."""
    source = st.session_state.get(CHECKPOINT)
    if not source:
        return None
    try:
        return _load(source, sources.source_version(source))
    except Exception as err:  # noqa: BLE001 - e.g. a run directory deleted since it was loaded
        st.session_state[CHECKPOINT] = None
        st.error(f"The loaded checkpoint **{source}** cannot be read any more: {err}")
        return None


def current_source() -> str | None:
    return st.session_state.get(CHECKPOINT)


def current_title() -> str:
    loaded = current()
    return sources.display_name(current_source() or "", loaded.meta if loaded else None) if loaded else "nothing"


def show_flash() -> None:
    """Show (once) the outcome of the last load attempt."""
    level, text = st.session_state.pop(FLASH, (None, None))
    if level == "error":
        st.error(text, icon=":material/error:")
    elif level == "success":
        st.success(text, icon=":material/check_circle:")


def _bundled_fallback(tasks: tuple[str, ...], problem_of: Callable, prefer: str = "") -> str | None:
    """The first bundled zoo entry of one of ``tasks`` (``prefer`` in its name first) that loads and fits."""
    try:
        entries = [e for e in zoo.entries() if e.availability == "bundled" and e.task in tasks]
    except CheckpointError:
        return None
    for entry in sorted(entries, key=lambda e: prefer not in e.name):
        try:
            if problem_of(_load(entry.name, sources.source_version(entry.name)).model) is None:
                return entry.name
        except Exception:  # noqa: BLE001 - a broken bundled file: try the next one
            continue
    return None


def model_for_page(problem_of: Callable, tasks: tuple[str, ...], *, prefer: str = "",
                   ) -> tuple[str | None, checkpoints.Loaded | None]:
    """(source, loaded) for a page: the session's model when it fits (``problem_of(model)`` is None),
    else a fitting bundled model, with a note saying so. The session's choice is left as it is:
    the other pages keep showing it."""
    loaded, source = current(), current_source()
    if loaded is not None and problem_of(loaded.model) is None:
        return source, loaded
    fallback = _bundled_fallback(tasks, problem_of, prefer)
    if fallback is None:
        return source, loaded
    shown = _load(fallback, sources.source_version(fallback))
    if loaded is not None:
        st.caption(f":material/info: **{sources.display_name(source or '', loaded.meta)}** (loaded) does not fit this "
                   f"page, so it shows the bundled **{sources.display_name(fallback, shown.meta)}**; your choice "
                   "stays loaded for the other pages.")
    return fallback, shown


def require_latent_model(idea: Callable[[], None]) -> checkpoints.Loaded:
    """The loaded model if it has a latent z, else a bundled one that has; if none, say why not,
    show the page's ``idea`` and stop."""
    _, loaded = model_for_page(explore.latent_page_problem, ("unconditional", "conditional"))
    problem = explore.latent_page_problem(loaded.model if loaded else None)
    if problem:
        st.info(f"{problem} {HOME_HINT}", icon=":material/info:")
        idea()
        st.stop()
    return loaded


def sidebar_status() -> None:
    """A short card in the sidebar: what is loaded now."""
    loaded = current()
    with st.sidebar.container(border=True):
        if loaded is None:
            st.markdown("**No model loaded**")
            st.caption(HOME_HINT)
            return
        meta = loaded.meta
        st.markdown(f"**{sources.display_name(current_source(), meta)}**")
        st.caption(f"{meta.get('family', '?')} · {meta.get('task', '?')} · {meta.get('kind', '')}")


# ----------------------------------------------------------------------------- URL state


def url_state(prefix: str, spec: dict[str, tuple[Any, Callable[[str], Any]]]) -> dict[str, Any]:
    """Seed widget keys ``f"{prefix}_{name}"`` from the URL, else from the last visit, else defaults.

    ``spec`` maps a query-parameter name to (default, parse); parse raises ValueError for a
    value it rejects. Returns the parameters whose URL values were rejected (shown as a warning).
    Widgets are then created with ``key=f"{prefix}_{name}"`` and no ``value=``.
    """
    saved = st.session_state.get(f"_{prefix}_saved", {})
    rejected = {}
    for name, (default, parse) in spec.items():
        key = f"{prefix}_{name}"
        if key in st.session_state:
            continue
        # The link wins; else what sync_url wrote on the last visit (the same text as a link).
        text = st.query_params.get(name, saved.get(name))
        value = default
        if text is not None:
            try:
                value = parse(text)
            except (ValueError, TypeError):
                if name in st.query_params:
                    rejected[name] = text
        st.session_state[key] = value
    return rejected


def sync_url(prefix: str, values: dict[str, Any]) -> None:
    """Write the page's state to the URL (so a copied link reproduces it) and remember it."""
    texts = {name: format_value(value) for name, value in values.items()}
    st.session_state[f"_{prefix}_saved"] = texts
    wanted = {"checkpoint": current_source() or "", **texts}
    for name in [n for n in st.query_params if n not in wanted]:
        del st.query_params[name]  # another page's state
    for name, text in wanted.items():
        if st.query_params.get(name) != text:
            st.query_params[name] = text


def format_value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def parse_int_list(text: str) -> list[int]:
    """``"3, 17,42"`` -> [3, 17, 42]; anything else raises ValueError."""
    parts = [p for p in text.replace(" ", ",").split(",") if p]
    return [int(p) for p in parts]


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise ValueError(f"{value} is outside [{low}, {high}]")
        return value

    return parse


def one_of(options) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in options:
            raise ValueError(f"{text!r} is not one of {options}")
        return text

    return parse


# ----------------------------------------------------------------------------- display


def explain(text: str, *, formula: str | None = None, papers: list[tuple[str, str]] = ()) -> None:
    """The idea of a page in a bordered box: a few sentences, a formula, the papers."""
    with st.container(border=True):
        st.markdown("**The idea**")
        st.markdown(text)
        if formula:
            st.latex(formula)
        for title, url in papers:
            st.markdown(f":material/description: [{title}]({url})")


def explain_idea(idea: ideas.Idea) -> None:
    """A page's idea from ``studio.ideas`` (the text the Gradio tabs show too)."""
    explain(idea.text, formula=idea.formula, papers=idea.papers)


def png(image: np.ndarray, width: int = 480) -> bytes:
    """PNG bytes of a uint8 (H, W, C) image enlarged (nearest neighbour) to about ``width`` pixels.

    Small digits are enlarged here rather than in the browser, which would blur them; the PNG
    is passed as bytes so Streamlit does not re-encode it (it turns arrays into JPEG).
    """
    factor = max(1, width // image.shape[1])
    return imaging.png_bytes(imaging.upscale(image, factor))


def show_image(image: np.ndarray, *, width: int = 480, caption: str | None = None, fit: str = "content") -> None:
    """Show a uint8 image enlarged to about ``width`` pixels; ``fit="stretch"`` fills the column."""
    st.image(png(image, width), caption=caption, output_format="PNG", width=fit)
