"""The studio in a real browser: `streamlit run app.py` driven by Playwright and Debian's Chromium.

Every page renders its images and charts with no exception box, widgets change what is shown,
and a hostile upload is refused with a message. Screenshots go to screenshots/ (gitignored).
Needs /usr/bin/chromium (`apt-get install chromium`; scripts/setup.sh --dev installs it).
"""

from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import urlencode

import pytest
import torch

from studio.checkpoints import zoo
from support import CHROMIUM, CHROMIUM_ARGS, chromium_missing, streamlit_server

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "screenshots"
EXCEPTION = '[data-testid="stException"]'


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The studio, offline, with an empty Hub cache and its own runs folder."""
    tmp = tmp_path_factory.mktemp("browser")
    env = {"HF_HUB_CACHE": str(tmp / "hf-cache"), "GAN_STUDIO_RUNS": str(tmp / "runs")}
    with streamlit_server(env, tmp / "streamlit.log") as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM.exists(), chromium_missing()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 2400})
    page = context.new_page()
    yield page
    context.close()


def checkpoint(tiny_checkpoints, family: str) -> str:
    """The bundled zoo checkpoint of this family when it exists (nicer screenshots), else the tiny one."""
    bundled = {"dcgan": "mnist-dcgan", "cgan": "mnist-cgan", "classifier": "mnist-classifier"}[family]
    if any(e.name == bundled and e.availability == "bundled" for e in zoo.entries()):
        return bundled
    return str(tiny_checkpoints[family])


def settle(page, timeout: float = 60_000) -> None:
    """Wait until the script finished and every image and chart on the page has rendered."""
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout)
    page.wait_for_function(
        """() => [...document.querySelectorAll('img')].every(i => i.complete && i.naturalWidth > 0)
              && [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
                   .every(c => c.querySelector('.main-svg'))""",
        timeout=timeout,
    )


def open_page(page, base: str, path: str, query: dict, *, charts: int = 0) -> None:
    """Open a page and wait for its images and its ``charts`` plotly charts (loaded lazily)."""
    page.goto(f"{base}/{path}?{urlencode(query)}")
    page.wait_for_selector('[data-testid="stImage"] img, [data-testid="stAlert"]', timeout=60_000)
    if charts:
        page.wait_for_function(
            "n => document.querySelectorAll('[data-testid=\"stPlotlyChart\"] .main-svg').length >= n",
            arg=charts,
            timeout=60_000,
        )
    settle(page)


def snapshot(page, name: str) -> None:
    assert page.locator(EXCEPTION).count() == 0, page.locator(EXCEPTION).first.inner_text()
    assert page.get_by_text("Page not found").count() == 0  # a direct link opens its page cleanly
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)


def image_sources(page) -> list[str]:
    return page.eval_on_selector_all('[data-testid="stImage"] img', "imgs => imgs.map(i => i.src)")


def wait_for_new_images(page, before: list[str]) -> None:
    page.wait_for_function(
        "before => { const now = [...document.querySelectorAll('[data-testid=\"stImage\"] img')].map(i => i.src);"
        " return now.length > 0 && now.some(s => !before.includes(s)); }",
        arg=before,
        timeout=60_000,
    )
    settle(page)


def test_interpolation_page(server, page, tiny_checkpoints):
    # First in the file: the server's first session opens a page by its link, not the home page.
    query = {"checkpoint": checkpoint(tiny_checkpoints, "dcgan"), "seeds": "3,11,7", "frames": "12"}
    open_page(page, server, "latent-interpolation", query, charts=1)
    page.get_by_text("Download MP4").wait_for()
    before = image_sources(page)
    page.get_by_test_id("stRadioGroup").get_by_text("lerp", exact=True).click()
    wait_for_new_images(page, before)
    assert "method=lerp" in page.url  # the link now reproduces this walk
    snapshot(page, "3-latent-interpolation")

    conditional = {"checkpoint": checkpoint(tiny_checkpoints, "cgan"), "seeds": "1,2", "classes": "3,8"}
    open_page(page, server, "latent-interpolation", conditional, charts=1)
    snapshot(page, "4-latent-interpolation-conditional")


def test_home_shows_the_zoo_and_refuses_a_hostile_upload(server, page, tiny_checkpoints, tmp_path):
    open_page(page, server, "", {"checkpoint": checkpoint(tiny_checkpoints, "dcgan")})
    page.get_by_text("Choose a checkpoint").wait_for()
    for entry in zoo.entries():
        page.get_by_text(entry.title, exact=True).first.wait_for()  # a loaded entry also titles the panel
    snapshot(page, "1-home")

    class Payload:
        def __reduce__(self):
            return (Path.touch, (tmp_path / "pwned",))

    hostile = io.BytesIO()
    torch.save({"weights": Payload()}, hostile)
    page.get_by_role("tab", name="Upload a file").click()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        {"name": "evil.pth", "mimeType": "application/octet-stream", "buffer": hostile.getvalue()}
    )
    page.get_by_text("refused to load").wait_for(timeout=60_000)
    settle(page)
    assert not (tmp_path / "pwned").exists()
    snapshot(page, "2-home-hostile-upload")


def test_truncation_page(server, page, tiny_checkpoints):
    open_page(page, server, "truncation-trick", {"checkpoint": checkpoint(tiny_checkpoints, "dcgan")}, charts=1)
    page.get_by_text("Comes with StyleGAN").wait_for()
    before = image_sources(page)
    slider = page.get_by_role("slider", name="Threshold τ")
    slider.focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    wait_for_new_images(page, before)
    # the first rerun may draw an intermediate value; the link follows the last one
    page.wait_for_function("() => location.search.includes('threshold=1.2')", timeout=60_000)
    settle(page)
    assert "threshold=1.2" in page.url
    snapshot(page, "5-truncation-trick")


def test_a_truncation_link_shows_its_threshold_and_the_core_pictures(server, page, tiny_checkpoints):
    """A copied link opens the same slider value and the very images studio computes for it."""
    import numpy as np
    from PIL import Image

    from studio import checkpoints, explore, imaging

    query = {"checkpoint": str(tiny_checkpoints["cgan"]), "threshold": "0.4", "seed": "5", "class": "3"}
    open_page(page, server, "truncation-trick", query, charts=1)
    page.get_by_text("16 samples at τ = 0.4").wait_for()
    assert float(page.get_by_test_id("stSliderThumbValue").first.inner_text()) == 0.4  # the only slider here
    first = page.locator('[data-testid="stImage"] img').first.get_attribute("src")
    shown = np.asarray(Image.open(io.BytesIO(page.request.get(f"{server}/{first.lstrip('/')}"
                                                             if first.startswith("/") else first).body())))
    model = checkpoints.load(tiny_checkpoints["cgan"]).model
    expected = imaging.grid(explore.truncated(model, 0.4, n=16, seed=5, label=3), nrow=4)[..., 0]
    factor = shown.shape[1] // expected.shape[1]
    assert np.array_equal(shown[::factor, ::factor], expected)


def test_a_classifier_on_a_latent_page_gives_way_to_a_bundled_gan(server, page, tiny_checkpoints):
    open_page(page, server, "latent-interpolation", {"checkpoint": checkpoint(tiny_checkpoints, "classifier")})
    page.get_by_text("does not fit this page, so it shows the bundled").wait_for()
    assert len(image_sources(page)) >= 1  # the walk is drawn at once
    snapshot(page, "6-interpolation-with-a-classifier")


def test_translation_page_turns_a_satellite_tile_into_a_map_and_a_zebra_into_a_horse(server, page):
    # the bundled translation models (tests/test_bundled.py checks that they are there); the page
    # opens on the maps model with a tile translated, whatever the session has loaded
    open_page(page, server, "translation", {})
    page.get_by_text("Output: satellite photo → map").first.wait_for(timeout=60_000)
    page.get_by_text("Download the output (PNG)").wait_for()
    assert len(image_sources(page)) >= 3  # input, output, ground truth
    snapshot(page, "7-translation-maps")

    open_page(page, server, "translation", {"checkpoint": "horse2zebra-cyclegan"})
    page.get_by_text("Output: horse → zebra").first.wait_for(timeout=60_000)
    before = image_sources(page)
    page.get_by_test_id("stRadioGroup").first.get_by_text("zebra → horse", exact=True).click()
    wait_for_new_images(page, before)
    page.get_by_text("Output: zebra → horse").first.wait_for()
    snapshot(page, "8-translation-zebra-to-horse")


def shown_pixels(page, server: str, index: int):
    """The ``index``-th image of the page as the browser received it (uint8 array)."""
    import numpy as np
    from PIL import Image

    source = page.locator('[data-testid="stImage"] img').nth(index).get_attribute("src")
    url = f"{server}/{source.lstrip('/')}" if source.startswith("/") else source
    return np.asarray(Image.open(io.BytesIO(page.request.get(url).body())).convert("RGB"))


def same_picture(shown, expected) -> bool:
    """``shown`` is ``expected`` enlarged by a whole factor (nearest neighbour), colour for colour."""
    import numpy as np

    expected = np.repeat(expected, 3, axis=2) if expected.shape[2] == 1 else expected
    factor = shown.shape[1] // expected.shape[1]
    return factor >= 1 and np.array_equal(shown[::factor, ::factor][: expected.shape[0], : expected.shape[1]], expected)


def test_a_feature_editing_link_draws_the_core_edit_and_a_new_target_redraws_it(server, page):
    """The link's edit (faces GAN, seed 3, add glasses, 5 steps) is the one studio.api computes, and
    so are its downloads; a different target in the link draws a different 'after' face."""
    import numpy as np

    from studio import api

    query = {"model": "faces-dcgan", "seed": "3", "target": "glasses", "direction": "add", "steps": "5"}
    open_page(page, server, "feature-editing", query, charts=2)
    page.get_by_text("success").first.wait_for(timeout=90_000)
    settle(page, 90_000)
    expected = api.edit("faces-dcgan", 3, "glasses", "add", "gradient", 5)
    before, after = shown_pixels(page, server, 0), shown_pixels(page, server, 1)  # the gradient column comes first
    assert same_picture(before, expected.before)
    assert same_picture(after, expected.after)
    assert not same_picture(after, expected.before)  # the edit moved the face
    assert "target=glasses" in page.url and "steps=5" in page.url  # the link still holds the edit
    snapshot(page, "9-feature-editing")
    # the downloads, encoded only when clicked, are the core's trajectory (gradient column first)
    buttons = page.get_by_test_id("stDownloadButton")
    with page.expect_download(timeout=60_000) as download:
        buttons.nth(1).get_by_role("button").click()
    assert Path(download.value.path()).read_bytes() == expected.gif
    with page.expect_download(timeout=60_000) as download:
        buttons.nth(0).get_by_role("button").click()
    from PIL import Image

    with Image.open(download.value.path()) as strip:
        downloaded = np.asarray(strip.convert("RGB"))
    assert same_picture(downloaded, expected.strips) and downloaded.shape[1] >= expected.strips.shape[1]

    open_page(page, server, "feature-editing", {**query, "target": "hat"}, charts=2)
    page.get_by_text("success").first.wait_for(timeout=90_000)
    settle(page, 90_000)
    assert same_picture(shown_pixels(page, server, 1), api.edit("faces-dcgan", 3, "hat", "add", "gradient", 5).after)


def test_the_segmentation_page_shows_the_core_masks_of_the_linked_tile(server, page):
    from studio import api

    open_page(page, server, "segmentation", {"tile": "7"})
    page.get_by_text("U-Net mean IoU").wait_for(timeout=90_000)
    settle(page, 90_000)
    expected = api.segment(7)
    assert same_picture(shown_pixels(page, server, 0), expected["satellite"])
    assert same_picture(shown_pixels(page, server, 1), expected["truth"])
    assert same_picture(shown_pixels(page, server, 2), expected["predicted"])
    assert f"{expected['unet']['mean_iou']:.3f}" in page.get_by_test_id("stMetric").first.inner_text()
    before = image_sources(page)
    number = page.get_by_test_id("stNumberInputField")
    number.fill("8")
    number.press("Enter")
    wait_for_new_images(page, before)
    page.wait_for_function("() => location.search.includes('tile=8')", timeout=60_000)
    settle(page)
    assert same_picture(shown_pixels(page, server, 2), api.segment(8)["predicted"])
    snapshot(page, "10-segmentation")


def test_the_editing_strength_slider_redraws_the_edit_and_the_link(server, page):
    from studio import api

    query = {"model": "faces-dcgan", "seed": "5", "target": "hat", "steps": "4", "strength": "1.0"}
    open_page(page, server, "feature-editing", query, charts=2)
    page.get_by_text("success").first.wait_for(timeout=90_000)
    settle(page, 90_000)
    before = image_sources(page)
    slider = page.get_by_role("slider", name="Strength")
    slider.focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")  # 1.0 -> 1.5 in steps of 0.1
    page.wait_for_function("() => location.search.includes('strength=1.5')", timeout=90_000)
    wait_for_new_images(page, before)
    settle(page, 90_000)
    expected = api.edit("faces-dcgan", 5, "hat", "add", "gradient", 4, 1.5)
    assert same_picture(shown_pixels(page, server, 1), expected.after)
    assert not same_picture(shown_pixels(page, server, 1), api.edit("faces-dcgan", 5, "hat", "add", "gradient", 4).after)


def test_the_bias_page_reads_the_core_association_next_to_the_worlds_truth(server, page):
    from studio import api

    open_page(page, server, "bias-audit", {"target": "hat", "n": "32", "k": "3"}, charts=4)
    page.get_by_text("Strongest association with").wait_for(timeout=120_000)
    settle(page, 120_000)
    audit = api.bias_audit(api.DEFAULT_AUDIT_MODEL, "hat", 32, 3, fairness=False)  # the page opens on it
    top = audit.table[0]
    text = page.get_by_text("Strongest association with").inner_text()
    assert f"{top['attribute']} (covariance {top['covariance']:+.4f})" in text
    assert f"true correlation is {top['true (world) correlation']}" in text
    assert "n=32" in page.url and "k=3" in page.url
    snapshot(page, "11-bias-audit")


def test_style_mixing_crossover_click_redraws_the_core_matrix(server, page, tmp_path):
    """Coarse -> fine in the browser: a new matrix, the one studio.explore.mixing renders, and the link follows."""
    from studio import checkpoints
    from studio.explore import mixing
    from studio.models import StyleGAN

    torch.manual_seed(0)
    model = StyleGAN(latent_dim=8, w_dim=8, mapping_layers=2, image_size=16, channels=1, width=8, disc_width=8).eval()
    with torch.no_grad():
        model.w_avg.normal_()
        for layer in model.synthesis_network.layers:
            layer.noise_strength.fill_(0.5)
    path = checkpoints.save(model, tmp_path / "tiny-stylegan", metadata={"title": "Tiny stylegan", "dataset": "mnist"})
    model = checkpoints.load(path).model

    def expected(crossover: str):
        recipe = mixing.MixRecipe(model=str(path), weights=mixing.weights_hash(model), row_seeds=[0, 1, 2, 3],
                                  column_seeds=[4, 5, 6, 7], resolutions=sorted(mixing.presets(model)[crossover]))
        return mixing.render_recipe(model, recipe).grid()

    open_page(page, server, "style-mixing", {"checkpoint": str(path)})
    page.get_by_text("Mixing matrix").first.wait_for(timeout=60_000)
    assert same_picture(shown_pixels(page, server, 0), expected("coarse"))
    before = image_sources(page)
    page.locator('[data-testid="stButtonGroup"] button').filter(has_text="fine").first.click()
    wait_for_new_images(page, before)
    page.wait_for_function("() => location.search.includes('crossover=fine')", timeout=60_000)
    settle(page)
    assert same_picture(shown_pixels(page, server, 0), expected("fine"))
    assert not same_picture(shown_pixels(page, server, 0), expected("coarse"))
    snapshot(page, "12-style-mixing")
    # the downloads read back: the matrix shown (enlarged 4x) and a recipe that draws it again
    import numpy as np
    from PIL import Image

    buttons = page.get_by_test_id("stDownloadButton")
    with page.expect_download(timeout=60_000) as download:
        buttons.nth(0).get_by_role("button").click()
    with Image.open(download.value.path()) as picture:
        downloaded = np.asarray(picture.convert("RGB"))
    assert same_picture(downloaded, expected("fine")) and downloaded.shape[1] == 4 * expected("fine").shape[1]
    with page.expect_download(timeout=60_000) as download:
        buttons.nth(1).get_by_role("button").click()
    recipe = mixing.MixRecipe.from_json(Path(download.value.path()).read_bytes())
    assert recipe.resolutions == sorted(mixing.presets(model)["fine"]) and recipe.row_seeds == [0, 1, 2, 3]
    assert np.array_equal(mixing.render_recipe(model, recipe).grid(), expected("fine"))
