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


@pytest.fixture
def faces_zoo(monkeypatch, tmp_path):
    """A zoo with an untrained tiny faces GAN and the bundled faces-attributes classifier."""
    import shutil

    from studio import checkpoints
    from studio.checkpoints import zoo
    from studio.models import DCGAN

    root = tmp_path / "zoo"
    shutil.copytree(zoo.ZOO_FILE.parent / "faces-attributes", root / "faces-attributes")
    torch.manual_seed(0)
    generator = DCGAN(latent_dim=8, image_size=32, channels=3, width=4).eval()
    for weight in generator.generator.parameters():  # visible images from an untrained G
        if weight.dim() > 1:
            torch.nn.init.normal_(weight, 0.0, 0.5)
    checkpoints.save(generator, root / "faces-dcgan", metadata={"title": "Tiny faces", "dataset": "faces"})
    entries = [("faces-dcgan", "dcgan", "unconditional"), ("faces-attributes", "attributes", "classifier")]
    (root / "zoo.toml").write_text("".join(
        f'[[checkpoint]]\nname = "{name}"\ntitle = "{name}"\nfamily = "{family}"\ntask = "{task}"\n'
        f'source = "{name}"\ndataset = "faces"\nlicense = "MIT"\n\n' for name, family, task in entries))
    isolate_studio(monkeypatch, tmp_path, root / "zoo.toml")
    from studio import api

    api._models.clear()
    yield root
    api._models.clear()


def test_bias_page_reads_the_association_next_to_the_worlds_true_value(faces_zoo):
    at = open_page(BIAS, {"target": "hat", "n": "16", "k": "2"})
    no_exception(at)
    table = at.dataframe[0].value
    assert list(table["attribute"])[0] in ("glasses", "smiling", "beard", "dark_skin")
    glasses = table[table["attribute"] == "glasses"].iloc[0]
    assert glasses["true (world) correlation"] == pytest.approx(0.612, abs=0.01)  # the biased world's hat-glasses
    assert "classifier is the judge" in texts(at)
    assert len(at.get("plotly_chart")) == 4
    at.slider(key="bias_n").set_value(24).run()
    no_exception(at)
    assert at.query_params["n"] in ("24", ["24"])


def test_bias_page_refuses_n_out_of_range_in_the_link(faces_zoo):
    at = open_page(BIAS, {"n": "5000", "k": "2"})
    no_exception(at)
    assert "Ignored link values" in texts(at) and at.slider(key="bias_n").value == 256


def test_editing_page_works_on_the_faces_gan(faces_zoo):
    at = open_page(EDITING, {"target": "glasses", "steps": "3", "keep": "hat"})
    no_exception(at)
    assert at.selectbox(key="edit_target").value == "glasses"
    assert len(at.get("download_button")) == 6  # gradient, linear, conditional (keeps hat)
    assert "side effect" in texts(at)
