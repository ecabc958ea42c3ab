"""The translation page under Streamlit's AppTest, with tiny pix2pix / CycleGAN checkpoints in tmp.

The checkpoints are saved with studio.checkpoints.save and listed in a tiny zoo, so the page's
shared chooser loads them like bundled ones. Images are compared as decoded pixels read back from
the media store AppTest keeps in memory.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest
from support import RecordingStorage, isolate_studio

from studio import checkpoints, translate
from studio.translate import samples as translation_samples
from studio.models import CycleGAN, Pix2Pix

APP = Path(__file__).resolve().parent.parent / "app.py"
PAGE = "app_pages/3_Translation.py"


@pytest.fixture(scope="module")
def tiny_translators(tmp_path_factory) -> Path:
    """A zoo folder with a tiny maps pix2pix, a tiny horse2zebra CycleGAN and an untrained entry."""
    root = tmp_path_factory.mktemp("translation-zoo")
    torch.manual_seed(0)
    checkpoints.save(Pix2Pix(image_size=32, ngf=4, ndf=4).eval(), root / "tiny-maps",
                     metadata={"title": "Tiny maps pix2pix", "dataset": "maps", "license": "MIT"})
    checkpoints.save(CycleGAN(image_size=32, ngf=4, ndf=4, n_blocks=1).eval(), root / "tiny-horses",
                     metadata={"title": "Tiny horse2zebra", "dataset": "horse2zebra", "license": "MIT"})
    entries = [("tiny-maps", "Tiny maps pix2pix", "pix2pix"), ("tiny-horses", "Tiny horse2zebra", "cyclegan"),
               ("later", "Not trained yet", "pix2pix")]
    (root / "zoo.toml").write_text("".join(
        f'[[checkpoint]]\nname = "{name}"\ntitle = "{title}"\nfamily = "{family}"\ntask = "translation"\n'
        f'source = "{"not-trained" if name == "later" else name}"\n\n' for name, title, family in entries))
    return root


@pytest.fixture
def page_env(tiny_translators, tmp_path, monkeypatch):
    """The tiny translation zoo (none bundled first: the session starts with the maps model loaded
    only when asked), an empty runs/ folder and an offline, empty Hub cache."""
    isolate_studio(monkeypatch, tmp_path, tiny_translators / "zoo.toml")
    return tiny_translators


def open_page(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params.update(query or {})
    at.run()
    at.switch_page(PAGE)
    return at.run()


def pixels(at: AppTest, index: int) -> np.ndarray:
    url = at.image[index].value[0]
    return np.asarray(Image.open(io.BytesIO(RecordingStorage.files[url.rsplit("/", 1)[1].split(".")[0]])))


def shrink(shown: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Undo show_image's nearest-neighbour enlargement."""
    factor = shown.shape[1] // image.shape[1]
    return shown[::factor, ::factor]


def texts(at: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "caption", "info", "error", "warning", "success") for e in at.get(kind)]
    return "\n".join(str(p) for p in parts)


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def png_upload(image: np.ndarray, name: str = "photo.png") -> tuple[str, bytes, str]:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return name, buffer.getvalue(), "image/png"


def test_without_a_model_the_page_opens_on_the_bundled_maps_model(page_env):
    at = open_page()
    no_exception(at)
    assert at.session_state["checkpoint"] == "tiny-maps"  # the first bundled entry
    at.session_state["checkpoint"] = None
    at.run()
    no_exception(at)
    assert at.session_state["checkpoint"] is None  # the page borrows a model; it chooses none for the session
    assert "Tiny maps pix2pix" in texts(at) and "does not translate" not in texts(at)
    assert len(at.image) == 3  # a sample tile, its map, the true map: ready on arrival
    assert "**The idea**" in texts(at) and "PatchGAN" in texts(at) and "arxiv.org/abs/1703.10593" in texts(at)


def test_a_model_that_does_not_translate_stays_chosen_while_the_page_shows_maps(page_env, tiny_checkpoints):
    dcgan = str(tiny_checkpoints["dcgan"])
    at = open_page({"checkpoint": dcgan})
    no_exception(at)
    assert at.session_state["checkpoint"] == dcgan  # the user's choice is kept for the other pages
    assert "does not fit this page, so it shows the bundled **Tiny maps pix2pix**" in texts(at)
    assert len(at.image) == 3
    at.button(key="tr_try_tiny-horses").click().run()  # horse <-> zebra: one click away
    no_exception(at)
    assert at.session_state["checkpoint"] == "tiny-horses"
    assert len(at.radio(key="tr_direction").options) == 2  # both ways
    assert "Tiny horse2zebra" in texts(at) and "does not fit this page" not in texts(at)
    assert "tr_try_tiny-horses" not in [b.key for b in at.button] and "tr_try_tiny-maps" in [b.key for b in at.button]


def test_samples_show_input_output_and_ground_truth(page_env):
    at = open_page()
    no_exception(at)
    # load the model through the page's own chooser, as a user would
    at.selectbox(key="tr_zoo").set_value("tiny-maps")
    at.button(key="tr_zoo_load").click().run()
    no_exception(at)
    assert at.session_state["checkpoint"] == "tiny-maps"
    assert at.radio(key="tr_direction").options == ["satellite photo → map"]  # pix2pix: one way
    assert len(at.image) == 3  # input, output, ground truth
    loaded = checkpoints.load(page_env / "tiny-maps", device="cpu")
    sample = translate.sample_inputs(loaded.meta)[0]
    shown_input, shown_output, shown_truth = (pixels(at, i) for i in range(3))
    assert np.array_equal(shrink(shown_input, sample.image), sample.image)
    assert np.array_equal(shrink(shown_truth, sample.truth), sample.truth)
    expected, _ = translate.translate_image(loaded.model, sample.image)
    assert np.array_equal(shrink(shown_output, expected), expected)
    assert [image.captions[0] for image in at.image] == [
        "Input: satellite tile 1", "Output: satellite photo → map", "Ground truth (the paired target)"]
    assert at.get("download_button") and at.metric[0].label == "Per-pixel map accuracy"

    at.selectbox(key="tr_sample").set_value(2).run()  # another tile
    no_exception(at)
    other = translate.sample_inputs(loaded.meta)[2]
    assert np.array_equal(shrink(pixels(at, 0), other.image), other.image)


def test_an_upload_is_converted_with_notes_and_a_non_image_is_refused(page_env):
    at = open_page({"checkpoint": "tiny-maps"})
    at.radio(key="tr_source").set_value("upload").run()
    no_exception(at)
    assert not at.image and "Upload an image" in texts(at)

    at.file_uploader(key="tr_image").set_value(("notes.png", b"certainly not a PNG", "image/png")).run()
    no_exception(at)
    assert "notes.png is not an image" in at.error[0].value
    assert not at.image and at.session_state["checkpoint"] == "tiny-maps"

    rgba = np.random.default_rng(0).integers(0, 256, (40, 60, 4), dtype=np.uint8)
    at.file_uploader(key="tr_image").set_value(png_upload(rgba)).run()
    no_exception(at)
    assert not at.error and len(at.image) == 2  # input and output: an upload has no ground truth
    notes = at.info[0].value
    assert "alpha channel dropped" in notes and "resized from 60x40 to 32x32" in notes
    output = pixels(at, 1)

    at.file_uploader(key="tr_image").set_value(("broken.png", b"\x89PNG\r\n\x1a\n broken", "image/png")).run()
    no_exception(at)
    assert "broken.png" in at.error[0].value
    assert len(at.image) == 2 and np.array_equal(pixels(at, 1), output)  # the last good upload stays

    at.file_uploader(key="tr_image").set_value(None).run()  # removed by the user: gone
    no_exception(at)
    assert not at.image and not at.error
    assert at.query_params["checkpoint"] == "tiny-maps"  # a copied link reopens the model


def test_an_imported_reference_generator_translates_one_way(page_env):
    generator = CycleGAN(image_size=32, ngf=4, ndf=4, n_blocks=2).generator_ab  # latest_net_G.pth keys
    buffer = io.BytesIO()
    torch.save(generator.state_dict(), buffer)
    at = open_page()
    at.file_uploader(key="tr_weights").set_value(("latest_net_G.pth", buffer.getvalue(), "application/octet-stream"))
    at.run()
    no_exception(at)
    assert Path(at.session_state["checkpoint"]).name == "latest_net_G.pth"
    assert at.radio(key="tr_direction").options == ["A → B"]
    assert "A → B generator only" in texts(at)
    assert len(at.image) == 2 and at.image[0].captions[0] == "Input: horse 1"  # CycleGAN of unknown data


def test_cyclegan_directions_swap_the_samples(page_env):
    at = open_page({"checkpoint": "tiny-horses"})
    no_exception(at)
    direction = at.radio(key="tr_direction")
    assert direction.options == ["horse → zebra", "zebra → horse"]
    assert len(at.image) == 2 and at.image[0].captions[0] == "Input: horse 1"
    horse = pixels(at, 0)
    direction.set_value("b2a").run()
    no_exception(at)
    assert not np.array_equal(pixels(at, 0), horse)  # a zebra now
    assert not at.metric  # unpaired: nothing to score


@pytest.fixture
def no_animal_mnist(monkeypatch):
    """No animal-mnist package and no vendored silhouettes: no sample can be found."""
    import importlib
    import importlib.util

    import streamlit as st

    animals = importlib.import_module("studio.data.animals")  # the module (studio.data.animals is also its function)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(animals.importlib.util, "find_spec",
                        lambda name, *a: None if name == "animal_mnist" else real_find_spec(name, *a))
    monkeypatch.setattr(translation_samples, "VENDORED_SILHOUETTES", Path("/nonexistent/horse-zebra-test.npz"))
    caches = (animals._animal_arrays.cache_clear, translation_samples._samples.cache_clear, st.cache_data.clear)
    for clear in caches:
        clear()
    yield
    for clear in caches:
        clear()


def test_without_animal_mnist_samples_say_why_and_uploads_still_translate(page_env, no_animal_mnist):
    at = open_page({"checkpoint": "tiny-horses"})
    no_exception(at)
    assert "No sample pictures here" in texts(at) and "pip install" in texts(at)
    assert not at.image
    at.radio(key="tr_source").set_value("upload").run()
    horse = np.random.default_rng(1).integers(0, 256, (32, 32), dtype=np.uint8)
    at.file_uploader(key="tr_image").set_value(png_upload(horse, "horse.png")).run()
    no_exception(at)
    assert len(at.image) == 2 and not at.error  # input and translation
    expected, _ = translate.translate_image(checkpoints.load(page_env / "tiny-horses").model, horse[..., None])
    shown = shrink(pixels(at, 1), expected)  # a one-channel PNG reads back as (H, W)
    assert np.array_equal(shown.reshape(expected.shape), expected)


def test_the_real_studio_opens_translation_on_the_bundled_maps_model(tmp_path, monkeypatch):
    isolate_studio(monkeypatch, tmp_path, Path(__file__).resolve().parent.parent / "checkpoints" / "zoo.toml")
    at = open_page()
    no_exception(at)
    assert at.session_state["checkpoint"] == "mnist-dcgan"  # the studio's default, kept for the latent pages
    assert len(at.image) == 3 and "Per-pixel map accuracy" in [m.label for m in at.metric]  # a tile translated
    assert "horse2zebra-cyclegan" in {b.key.removeprefix("tr_try_") for b in at.button if b.key}  # one click away
