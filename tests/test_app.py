"""The Streamlit studio driven headless with streamlit.testing.v1.AppTest.

Every page runs without an exception, changing a widget changes what is shown, and what is shown
is the picture the core computes for the page's seed, class and threshold: images are compared as
decoded pixels, read back from the media store AppTest keeps in memory. A tiny zoo (structured
tiny checkpoints, see conftest.py: different seeds and classes draw different pictures) stands in
for the bundled checkpoints. Every page's link is read back, not only written.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save as safetensors_bytes
from streamlit.testing.v1 import AppTest
from support import RecordingStorage, isolate_studio

from studio import checkpoints, explore, imaging
from studio.explore import latent

from studio.checkpoints import sources

from studio.checkpoints import zoo
from studio.errors import CheckpointError
from studio.models import DCGAN

APP = Path(__file__).resolve().parent.parent / "app.py"
INTERPOLATION = "app_pages/1_Latent_interpolation.py"
TRUNCATION = "app_pages/2_Truncation_trick.py"


@pytest.fixture
def studio_env(tiny_checkpoints, tmp_path, monkeypatch):
    """A zoo of the tiny checkpoints, an empty runs/ folder and an empty offline Hub cache."""
    root = next(iter(tiny_checkpoints.values())).parent
    zoo_file = root / "zoo.toml"
    zoo_file.write_text(
        "".join(
            f'[[checkpoint]]\nname = "tiny-{name}"\ntitle = "Tiny {name}"\nfamily = "{name}"\n'
            f'task = "{task}"\nsource = "tiny-{name}"\ndataset = "mnist"\nlicense = "MIT"\n\n'
            for name, task in [("dcgan", "unconditional"), ("cgan", "conditional"), ("classifier", "classifier")]
        )
        + '[[checkpoint]]\nname = "far-away"\ntitle = "On the Hub only"\nfamily = "dcgan"\n'
        'task = "unconditional"\nsource = "hf://org/far-away"\n'
    )
    isolate_studio(monkeypatch, tmp_path, zoo_file)
    # The app sets torch's thread count for its process, which is pytest's here: keep it unchanged.
    monkeypatch.setenv("GAN_STUDIO_THREADS", str(torch.get_num_threads()))
    return tiny_checkpoints


def start(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params.update(query or {})
    return at.run()


def pixels(at: AppTest, index: int) -> np.ndarray:
    """The decoded pixels of the index-th st.image on the page."""
    url = at.image[index].value[0]
    file_id = url.rsplit("/", 1)[1].split(".")[0]
    return np.asarray(Image.open(io.BytesIO(RecordingStorage.files[file_id])))


def assert_shows(at: AppTest, index: int, expected: np.ndarray) -> None:
    """The index-th st.image is ``expected`` (uint8 (H, W, C)), enlarged by a whole factor."""
    shown = pixels(at, index)
    expected = expected[..., 0] if expected.shape[-1] == 1 else expected  # a 1-channel PNG decodes as (H, W)
    factor = shown.shape[1] // expected.shape[1]
    assert factor >= 1 and shown.shape == (expected.shape[0] * factor, expected.shape[1] * factor, *expected.shape[2:])
    assert np.array_equal(shown[::factor, ::factor], expected)


@torch.no_grad()
def reference(model, z: torch.Tensor, labels: torch.Tensor | None = None) -> np.ndarray:
    """What ``model`` draws through its own generate() in eval mode, not the fast display path."""
    return imaging.to_uint8(model.eval().generate(z, labels))


def assert_close(images: np.ndarray, expected: np.ndarray) -> None:
    """Equal up to the rounding of BatchNorm folding (one grey level on a few pixels)."""
    difference = np.abs(images.astype(int) - expected.astype(int))
    assert difference.max() <= 2 and (difference > 0).mean() < 0.01, (difference.max(), (difference > 0).mean())


def texts(at: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "caption", "info", "error", "warning", "success") for e in at.get(kind)]
    return "\n".join(str(p) for p in parts)


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


# ----------------------------------------------------------------------------- the fixtures can tell


def test_tiny_generators_draw_clearly_different_pictures(tiny_checkpoints):
    """The page tests below can tell the right picture from a wrong one only if these differ."""
    def apart(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.abs(a.astype(int) - b.astype(int)).mean())

    dcgan = checkpoints.load(tiny_checkpoints["dcgan"]).model
    cgan = checkpoints.load(tiny_checkpoints["cgan"]).model
    for model in (dcgan, cgan):
        images = explore.samples(model, 16, seed=0)
        assert np.isin(images, (127, 128)).mean() < 0.2  # not flat grey
        assert images.std() > 40
        assert apart(images, explore.samples(model, 16, seed=1)) > 15  # seeds
        near, far = (explore.truncated(model, t, n=16, seed=0, label=3 if model.num_classes else None) for t in (0.3, 0.7))
        assert apart(near, far) > 5  # thresholds one link value apart
    for a, b in [(3, 4), (0, 9), (7, 8)]:  # classes, next to each other or not
        assert apart(explore.truncated(cgan, None, n=16, seed=0, label=a),
                     explore.truncated(cgan, None, n=16, seed=0, label=b)) > 15


# ----------------------------------------------------------------------------- home


def test_home_lists_the_zoo_and_loads_the_first_bundled_entry(studio_env):
    at = start()
    no_exception(at)
    assert at.session_state["checkpoint"] == "tiny-dcgan"
    shown = texts(at)
    for title in ("Tiny dcgan", "Tiny cgan", "Tiny classifier", "On the Hub only"):
        assert title in shown
    assert "license MIT" in shown and "source `hf://org/far-away`" in shown
    badges = sorted(m.value for m in at.markdown if "-badge[" in m.value)
    assert [b.split(": ", 1)[1] for b in badges] == ["bundled]"] * 3 + ["needs network]"]
    # loaded panel preview + two card thumbnails (the classifier card has no samples)
    assert len(at.image) == 3
    assert at.button(key="zoo_load_tiny-dcgan").disabled  # "Loaded"


def test_zoo_card_switches_the_model_and_the_preview(studio_env):
    at = start()
    before = pixels(at, 0)
    at.button(key="zoo_load_tiny-cgan").click().run()
    no_exception(at)
    assert at.session_state["checkpoint"] == "tiny-cgan"
    assert "Loaded **Tiny cgan**" in texts(at)
    assert not np.array_equal(before, pixels(at, 0))


def test_a_checkpoint_link_is_read_back_and_the_preview_is_its_samples(studio_env):
    at = start({"checkpoint": "tiny-cgan"})
    no_exception(at)
    assert at.session_state["checkpoint"] == "tiny-cgan"
    model = checkpoints.load(studio_env["cgan"]).model
    expected = explore.samples(model, 16, seed=0)
    assert_shows(at, 0, imaging.grid(expected, nrow=4))
    assert_close(expected, reference(model, model.sample_latent(16, 0), model.sample_labels(16, 1)))


def test_a_link_to_a_missing_checkpoint_says_so_and_opens_the_default(studio_env):
    at = start({"checkpoint": "no-such-model"})
    no_exception(at)
    assert "Could not load **no-such-model**" in at.error[0].value
    assert at.session_state["checkpoint"] == "tiny-dcgan"


@pytest.mark.parametrize(
    ("typed", "message"),
    [("not a hub id", "not a valid Hub repo id"), ("org/absent", "not in the local Hugging Face cache")],
)
def test_a_bad_hub_id_shows_an_error_and_keeps_the_model(studio_env, typed, message):
    at = start()
    at.text_input(key="hub_id").input(typed)
    at.button(key="hub_load").click().run()
    no_exception(at)
    assert any(message in e.value for e in at.error), [e.value for e in at.error]
    assert at.session_state["checkpoint"] == "tiny-dcgan"


def test_a_hub_id_loads_from_the_local_cache(studio_env, tmp_path):
    commit = "a" * 40
    repo = tmp_path / "hf-cache" / "models--org--tiny"
    shutil.copytree(studio_env["cgan"], repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    at = start()
    at.text_input(key="hub_id").input("org/tiny")
    at.button(key="hub_load").click().run()
    no_exception(at)
    assert at.session_state["checkpoint"] == "hf://org/tiny"
    assert at.session_state["checkpoint"] in texts(at)


def test_training_runs_are_listed_and_load_their_newest_checkpoint(studio_env, tmp_path):
    run = tmp_path / "runs" / "dcgan-20260101-000000-abcd"
    shutil.copytree(studio_env["dcgan"], run / "checkpoints" / "step-00000010")
    (run / "run.json").write_text('{"id": "dcgan-20260101-000000-abcd", "recipe": "mnist-dcgan", '
                                  '"status": "finished", "step": 10}')
    at = start()
    assert "mnist-dcgan" in at.selectbox(key="run_choice").format_func(at.selectbox(key="run_choice").value)
    at.button(key="run_load").click().run()
    no_exception(at)
    assert at.session_state["checkpoint"] == str(run)
    assert "run dcgan-20260101-000000-abcd, step 10" in texts(at)


class RunsCode:
    """A pickle payload that would create a file if it were ever unpickled unsafely."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def upload_cases(tmp_path: Path) -> dict[str, tuple[str, bytes, str]]:
    hostile = io.BytesIO()
    torch.save({"weights": RunsCode(tmp_path / "pwned")}, hostile)
    return {
        "not a checkpoint": ("notes.safetensors", b"just some text", "not a readable safetensors file"),
        "hostile pickle": ("evil.pth", hostile.getvalue(), "refused to load"),
        "over the limit": ("big.safetensors", safetensors_bytes({"w": torch.zeros(4096)}), "over the upload limit"),
        "unknown layout": ("odd.safetensors", safetensors_bytes({"mystery.weight": torch.ones(3)}), "unknown checkpoint layout"),
        "corrupt": ("broken.pth", b"PK\x03\x04 not really a zip", "not a readable PyTorch weights file"),
    }


@pytest.mark.parametrize("case", ["not a checkpoint", "hostile pickle", "over the limit", "unknown layout", "corrupt"])
def test_bad_uploads_give_a_message_and_change_nothing(studio_env, tmp_path, monkeypatch, case):
    monkeypatch.setattr(sources, "MAX_UPLOAD_BYTES", 8 * 1024)
    name, data, message = upload_cases(tmp_path)[case]
    at = start()
    at.file_uploader(key="upload").set_value((name, data, "application/octet-stream"))
    at.run()
    no_exception(at)
    assert any(message in e.value for e in at.error), [e.value for e in at.error]
    assert "Tiny dcgan" in at.error[0].value  # says the previous model stays loaded
    assert at.session_state["checkpoint"] == "tiny-dcgan"
    assert not (tmp_path / "pwned").exists()


def test_an_uploaded_state_dict_of_a_known_layout_loads(studio_env):
    generator = DCGAN(latent_dim=8, image_size=32, channels=1, width=4).generator  # pytorch/examples keys
    buffer = io.BytesIO()
    torch.save(generator.state_dict(), buffer)
    at = start()
    at.file_uploader(key="upload").set_value(("netG.pth", buffer.getvalue(), "application/octet-stream"))
    at.run()
    no_exception(at)
    assert Path(at.session_state["checkpoint"]).name == "netG.pth"
    assert any("netG.pth" in s.value for s in at.success)


# ----------------------------------------------------------------------------- latent interpolation


def test_interpolation_widgets_change_the_walk(studio_env):
    at = start()
    at.switch_page(INTERPOLATION).run()
    no_exception(at)
    strip = len(at.image) - 2  # the strip, then the GIF
    first = pixels(at, strip)
    assert first.shape[1] > first.shape[0]  # a strip: wider than tall
    assert len(at.get("download_button")) == 3
    assert at.get("plotly_chart")

    at.radio(key="interp_method").set_value("lerp").run()
    no_exception(at)
    lerp = pixels(at, strip)
    assert not np.array_equal(first, lerp)

    at.slider(key="interp_frames").set_value(6).run()
    assert pixels(at, strip).shape != lerp.shape

    at.button(key="interp_add_5").click().run()
    no_exception(at)
    assert at.text_input(key="interp_seeds").value == "0, 1, 2, 5"
    assert at.query_params["seeds"] == "0,1,2,5"
    assert at.query_params["method"] == "lerp" and at.query_params["frames"] == "6"


def test_an_interpolation_link_reproduces_the_walk_exactly(studio_env):
    query = {"checkpoint": str(studio_env["dcgan"]), "seeds": "4,9,11", "method": "lerp", "frames": "7"}
    at = start(query)
    at.switch_page(INTERPOLATION)
    at.query_params.update(query)
    at.run()
    no_exception(at)
    assert at.text_input(key="interp_seeds").value == "4, 9, 11"
    assert at.session_state["checkpoint"] == str(studio_env["dcgan"])

    walk = explore.walk(checkpoints.load(studio_env["dcgan"]).model, [4, 9, 11], frames=7, method="lerp")
    expected = imaging.grid(walk.frames, nrow=7)
    shown = pixels(at, len(at.image) - 2)
    factor = shown.shape[1] // expected.shape[1]
    assert np.array_equal(shown.reshape(expected.shape[0], factor, -1)[:, 0, ::factor], expected[..., 0])


def test_a_conditional_interpolation_link_is_read_back_whole(studio_env):
    query = {"checkpoint": "tiny-cgan", "seeds": "4,9", "classes": "3,8", "method": "lerp", "frames": "5",
             "fps": "12", "start": "16"}
    at = start(query)
    at.switch_page(INTERPOLATION)
    at.query_params.update(query)
    at.run()
    no_exception(at)
    assert at.text_input(key="interp_seeds").value == "4, 9"
    assert [at.selectbox(key=f"interp_class_{i}").value for i in range(2)] == [3, 8]
    assert at.radio(key="interp_method").value == "lerp"
    assert at.slider(key="interp_frames").value == 5 and at.slider(key="interp_fps").value == 12
    assert at.number_input(key="interp_start").value == 16
    assert {name: at.query_params[name] for name in query} == query  # written back unchanged

    model = checkpoints.load(studio_env["cgan"]).model
    candidates = explore.candidates(model, range(16, 24), 0)  # the candidates' class starts at 0
    in_columns = [16, 20, 17, 21, 18, 22, 19, 23]  # four columns of two: AppTest lists column by column
    for i, seed in enumerate(in_columns):
        assert_shows(at, i, candidates[seed - 16])
    z = torch.cat([model.sample_latent(1, s) for s in range(16, 24)])
    assert_close(candidates, reference(model, z, torch.zeros(8, dtype=torch.long)))
    walk = explore.walk(model, [4, 9], frames=5, method="lerp", classes=[3, 8])
    assert_shows(at, len(candidates), imaging.grid(walk.frames, nrow=5))
    ends = reference(model, torch.cat([model.sample_latent(1, 4), model.sample_latent(1, 9)]), torch.tensor([3, 8]))
    assert_close(walk.frames[[0, -1]], ends)  # the walk starts and ends on the asked seeds and classes


def test_conditional_walks_interpolate_the_class_too(studio_env):
    at = start({"checkpoint": "tiny-cgan"})
    at.switch_page(INTERPOLATION).run()
    no_exception(at)
    strip = len(at.image) - 2
    before = pixels(at, strip)
    at.selectbox(key="interp_class_1").set_value(7).run()
    no_exception(at)
    assert not np.array_equal(before, pixels(at, strip))
    assert at.query_params["classes"] == "0,7,2"


def test_bad_link_values_are_ignored_with_a_warning(studio_env):
    at = start()
    at.switch_page(INTERPOLATION)
    at.query_params.update({"frames": "lots", "method": "cubic"})
    at.run()
    no_exception(at)
    assert "frames" in at.warning[0].value and "method" in at.warning[0].value
    assert at.slider(key="interp_frames").value == 16


# ----------------------------------------------------------------------------- truncation


def test_truncation_slider_and_seed_change_the_grids(studio_env):
    at = start()
    at.switch_page(TRUNCATION).run()
    no_exception(at)
    interactive = pixels(at, 0)
    sweep = pixels(at, 1)
    assert len(at.image) == 1 + len(explore.SWEEP_THRESHOLDS)
    assert at.get("plotly_chart")
    assert "Comes with StyleGAN" in texts(at)
    assert all("diversity" in image.captions[0] for image in at.image)

    at.slider(key="trunc_threshold").set_value(0.2).run()
    no_exception(at)
    assert not np.array_equal(interactive, pixels(at, 0))
    assert at.query_params["threshold"] == "0.2"

    at.number_input(key="trunc_seed").set_value(3).run()
    no_exception(at)
    assert not np.array_equal(sweep, pixels(at, 1))


def test_truncation_of_a_conditional_model_by_class(studio_env):
    at = start({"checkpoint": "tiny-cgan"})
    at.switch_page(TRUNCATION).run()
    before = pixels(at, 0)
    at.selectbox(key="trunc_class").set_value(4).run()
    no_exception(at)
    assert not np.array_equal(before, pixels(at, 0))


def test_a_truncation_link_is_read_back_and_shows_the_core_pictures(studio_env):
    query = {"checkpoint": "tiny-cgan", "threshold": "0.4", "seed": "5", "class": "3"}
    at = start(query)
    at.switch_page(TRUNCATION)
    at.query_params.update(query)
    at.run()
    no_exception(at)
    assert at.slider(key="trunc_threshold").value == 0.4
    assert at.number_input(key="trunc_seed").value == 5 and at.selectbox(key="trunc_class").value == 3
    assert {name: at.query_params[name] for name in query} == query

    model = checkpoints.load(studio_env["cgan"]).model
    images = explore.truncated(model, 0.4, n=16, seed=5, label=3)
    assert_shows(at, 0, imaging.grid(images, nrow=4))
    z = latent.truncated_normal(16, model.latent_dim, 0.4, seed=5)
    assert z.abs().max() <= 0.4
    assert_close(images, reference(model, z, torch.full((16,), 3)))
    for i, column in enumerate(explore.truncation_sweep(model, n=16, seed=5, label=3)):
        assert_shows(at, 1 + i, imaging.grid(column.images, nrow=4))

    at.slider(key="trunc_threshold").set_value(1.3).run()
    no_exception(at)
    assert at.query_params["threshold"] == "1.3"
    assert_shows(at, 0, imaging.grid(explore.truncated(model, 1.3, n=16, seed=5, label=3), nrow=4))


def test_truncation_of_an_unconditional_model_shows_the_core_pictures(studio_env):
    query = {"threshold": "2.5", "seed": "11"}
    at = start()
    at.switch_page(TRUNCATION)
    at.query_params.update(query)
    at.run()
    no_exception(at)
    assert at.slider(key="trunc_threshold").value == 2.5 and at.number_input(key="trunc_seed").value == 11
    model = checkpoints.load(studio_env["dcgan"]).model
    images = explore.truncated(model, 2.5, n=16, seed=11)
    assert_shows(at, 0, imaging.grid(images, nrow=4))
    assert_close(images, reference(model, latent.truncated_normal(16, model.latent_dim, 2.5, seed=11)))


# ----------------------------------------------------------------------------- models that do not fit


@pytest.mark.parametrize("page", [INTERPOLATION, TRUNCATION])
def test_latent_pages_show_a_bundled_gan_while_a_classifier_stays_chosen(studio_env, page):
    at = start({"checkpoint": "tiny-classifier"})
    at.switch_page(page).run()
    no_exception(at)
    assert "**Tiny classifier** (loaded) does not fit this page, so it shows the bundled **Tiny dcgan**" in texts(at)
    assert "no latent vector z" not in texts(at) and at.image  # ready on arrival
    assert "**The idea**" in texts(at)
    assert at.session_state["checkpoint"] == "tiny-classifier"  # the user's choice stays for the other pages


@pytest.mark.parametrize("page", [INTERPOLATION, TRUNCATION])
def test_latent_pages_without_a_model(studio_env, monkeypatch, tmp_path, page):
    empty = tmp_path / "zoo.toml"
    empty.write_text('[[checkpoint]]\nname = "later"\ntitle = "Later"\nfamily = "dcgan"\n'
                     'task = "unconditional"\nsource = "not-trained"\n')
    monkeypatch.setattr(zoo, "ZOO_FILE", empty)
    at = start()
    assert at.session_state["checkpoint"] is None
    assert "No model loaded" in texts(at)
    at.switch_page(page).run()
    no_exception(at)
    assert "No model is loaded" in at.info[0].value


def test_save_upload_checks_name_and_size_only():
    with pytest.raises(CheckpointError, match="is not a checkpoint file"):
        sources.save_upload("notes.txt", b"hello")
    with pytest.raises(CheckpointError, match="is empty"):
        sources.save_upload("model.pth", b"")
    with pytest.raises(CheckpointError, match="over the upload limit of 1.0 KB"):
        sources.save_upload("model.pth", b"x" * 2048, max_bytes=1024)
    first = sources.save_upload("my model (1).pth", b"weights")
    assert first.name == "my_model__1_.pth" and first.read_bytes() == b"weights"
    assert sources.save_upload("my model (1).pth", b"weights") == first  # same content, same file


# ----------------------------------------------------------------------------- studio.explore


def test_walk_passes_through_the_seeds_and_truncation_narrows_diversity(tiny_checkpoints):
    model = checkpoints.load(tiny_checkpoints["dcgan"]).model
    walk = explore.walk(model, [5, 8], frames=5, method="slerp")
    assert np.array_equal(walk.frames[[0, -1]], explore.candidates(model, [5, 8]))
    assert min(walk.norms["lerp"]) < min(walk.norms["slerp"])  # lerp cuts through the middle
    # An untrained generator in eval mode draws flat grey; BatchNorm statistics of its own
    # activations give it images that depend on z, like a trained one.
    torch.manual_seed(0)
    model = DCGAN(latent_dim=8, image_size=28, channels=1, width=4).train()
    with torch.no_grad():
        model.generate(model.sample_latent(64, seed=1))
    sweep = explore.truncation_sweep(model.eval(), (0.1, None), n=8, seed=0)
    assert sweep[0].diversity < sweep[1].diversity / 2


def test_set_interactive_threads(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("GAN_STUDIO_THREADS", "1")
        assert explore.set_interactive_threads() == 1 == torch.get_num_threads()
        assert explore.set_interactive_threads(2) == 2 == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def test_card_sections_lead_with_what_and_how_good_and_keep_how_it_was_made():
    _, meta = checkpoints.load(str(Path(__file__).resolve().parent.parent / "checkpoints" / "mnist-dcgan"))
    card = sources.card_sections(meta["description"])
    assert card["summary"].startswith("The classic DCGAN") and "checkpoints" not in card["summary"]
    # how good first (the bundled DCGAN meets its bar), then how it was made and chosen
    assert card["quality"].startswith("It meets its bar: all 10 digits appear") and "Digits drawn" in card["quality"]
    sure = meta["metrics"]["confident_share"]  # the card's number is config.json's
    assert f"{100 * sure:.1f}% of the samples" in card["summary"] + card["quality"]
    assert re.search(r"\d+ passed the bar there", card["how_made"]) and "training took" in card["how_made"]
    assert "measured on the selection set (1,000 samples of seed 0)" in card["how_made"]
    shown = " ".join(card.values())  # every sentence is kept, but the samples.png line (the page shows them)
    for paragraph in meta["description"].split("\n\n"):
        for sentence in re.split(r"(?<=\.)\s+(?=[A-Z])", paragraph):
            if not sentence.startswith(("samples.png", "## ")):  # headings: the page draws its own
                assert sentence.removeprefix("Bar: ") in shown, sentence
    assert sources.card_sections(None) == {"summary": "", "quality": "", "how_made": ""}


def test_card_sections_read_the_bundle_trainers_card_layout():
    """training.bundle writes 'what and how good' first, then a '## How it was made' section."""
    from training.bundle import SAMPLES_CAPTION

    caption = next(iter(SAMPLES_CAPTION.values()))
    description = ("Digit DCGAN, 32 px. Draws every digit, 4.0-16.0% each. **It does not meet its bar**: each digit "
                   "5-15%. It is bundled so that the page has a model to show until a better one is trained.\n\n"
                   "Digits drawn (share of 1,000 samples, seed 1): 0: 9.0%, 1: 16.0%.\n\n" + caption + "\n\n"
                   "## How it was made\n\nTrained with `python -m training.bundle mnist-dcgan`; training took 4 min."
                   "\n\nEach of the run's 8 checkpoints was measured on the selection set.")
    card = sources.card_sections(description)
    assert card["summary"] == "Digit DCGAN, 32 px. Draws every digit, 4.0-16.0% each."
    assert card["quality"].startswith("**It does not meet its bar**: each digit 5-15%.\n\nIt is bundled so that")
    assert "Digits drawn" in card["quality"] and "How it was made" not in card["quality"]
    assert card["how_made"].startswith("Trained with") and "8 checkpoints" in card["how_made"]
    assert "## " not in card["how_made"]  # the page shows it under its own heading


def test_home_card_puts_bundling_details_in_an_expander(tmp_path, monkeypatch):
    isolate_studio(monkeypatch, tmp_path, Path(__file__).resolve().parent.parent / "checkpoints" / "zoo.toml")
    at = start()
    no_exception(at)
    assert at.session_state["checkpoint"] == "mnist-dcgan"
    markdown = [m.value for m in at.markdown]
    summary = next(i for i, m in enumerate(markdown) if m.startswith("The classic DCGAN"))
    assert markdown[summary + 1].startswith("**How good it is:** It meets its bar")
    assert not any("measured on the selection set" in m for m in markdown[: summary + 2])
    made = next(e for e in at.expander if e.label == "How it was made")
    assert any("measured on the selection set" in m.value for m in made.markdown)


def test_home_card_states_the_fid_its_config_holds(tmp_path, monkeypatch):
    root = Path(__file__).resolve().parent.parent / "checkpoints"
    isolate_studio(monkeypatch, tmp_path, root / "zoo.toml")
    at = start({"checkpoint": "mnist-wgangp"})
    no_exception(at)
    found = json.loads((root / "mnist-wgangp" / "config.json").read_text())["studio"]["sample_metrics"]
    line = next(c.value for c in at.caption if c.value.startswith("FID of 1,000 fresh samples (seed 1)"))
    for name, reader in (("classifier", "its data's classifier"), ("inception", "Inception")):
        fid = found[name]["fid"]
        low, high = fid["interval"]
        assert f"{fid['value']:.2f} [{low:.2f}, {high:.2f}] in {reader}'s features" in line
    assert "5,000 training images" in line


def test_the_fid_line_skips_unreadable_entries_and_is_absent_without_measurements():
    from studio.checkpoints import sources

    assert sources.sample_metrics_line({}) is None
    assert sources.sample_metrics_line({"sample_metrics": {"inception": {"fid": "high"}}}) is None
    line = sources.sample_metrics_line({"sample_metrics": {
        "inception": {"fid": {"value": 12.345, "interval": [11, 14]}, "n": 500, "seed": 3, "n_reference": 2000},
        "broken": {"fid": {"value": 1.0}}}})
    assert line.startswith("FID of 500 fresh samples (seed 3) against 2,000 training images")
    assert "12.35 [11.00, 14.00] in Inception's features" in line and "broken" not in line
