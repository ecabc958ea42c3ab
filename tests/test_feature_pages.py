"""The Feature editing and Bias audit pages, driven headless with AppTest on the bundled checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from support import isolate_studio
from test_app import no_exception, pixels, texts

APP = Path(__file__).resolve().parent.parent / "app.py"
EDITING = "app_pages/6_Feature_editing.py"
BIAS = "app_pages/7_Bias_audit.py"


@pytest.fixture(autouse=True)
def studio_env(monkeypatch, tmp_path):
    """The bundled zoo (mnist-dcgan, its digit classifier, the faces models once trained)."""
    from studio.checkpoints import zoo

    isolate_studio(monkeypatch, tmp_path, zoo.ZOO_FILE)
    monkeypatch.setenv("GAN_STUDIO_THREADS", str(torch.get_num_threads()))


def open_page(page: str, query: dict) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=240)
    at.run()
    at.switch_page(page)
    at.query_params.update(query)
    return at.run()


def test_editing_page_makes_a_digit_look_more_like_a_3_and_the_strength_changes_it():
    at = open_page(EDITING, {"model": "mnist-dcgan", "target": "3", "seed": "2", "steps": "6"})
    no_exception(at)
    assert at.selectbox(key="edit_target").value == "3"
    assert "success" in texts(at) and at.get("plotly_chart")
    assert len(at.get("download_button")) == 4  # PNG and GIF for both methods
    after = pixels(at, 1)  # before, after, strip of the first method
    at.slider(key="edit_strength").set_value(2.0).run()
    no_exception(at)
    assert at.query_params["strength"] == ["2.0"] or at.query_params["strength"] == "2.0"
    assert not (pixels(at, 1) == after).all()


def test_editing_page_ignores_an_unknown_model_in_the_link():
    at = open_page(EDITING, {"model": "no-such-gan"})
    no_exception(at)
    assert "Ignored link values" in texts(at)
