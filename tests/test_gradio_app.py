"""The Gradio app as a real server (`python gradio_app.py` in a subprocess, offline), driven through
its named HTTP API with ``gradio_client`` and in Chromium with Playwright.

Each endpoint's answer is compared with what ``studio`` computes for the same inputs in this
process; bad input gets the studio's message and the server goes on answering; 20 clients at
once all get their images. Screenshots of every tab go to screenshots/ (gitignored).
"""

from __future__ import annotations

import concurrent.futures
import pickle
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from studio import checkpoints, explore, imaging, live, translate
from support import CHROMIUM, CHROMIUM_ARGS, chromium_missing, gradio_server

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "screenshots"


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("gradio") / "runs"


@pytest.fixture(scope="module")
def server(runs_root):
    env = {"GAN_STUDIO_RUNS": str(runs_root), "HF_HUB_CACHE": str(runs_root.parent / "hf-cache"),
           "GAN_STUDIO_CACHE": str(runs_root.parent / "metrics-cache")}
    with gradio_server(env, runs_root.parent / "gradio.log") as base:
        try:
            yield base
        finally:
            for run in live.list_runs(runs_root):  # a trainer outlives the server by design: stop it here
                if run.live:
                    live.stop_run(run.path)


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server, verbose=False)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The server draws with one torch thread (explore.set_interactive_threads): so does the reference."""
    before = torch.get_num_threads()
    explore.set_interactive_threads(1)
    yield
    torch.set_num_threads(before)


def pixels(path) -> np.ndarray:
    """A PNG the server returned, as uint8 (H, W, C), C = 1 for grayscale."""
    with Image.open(path) as picture:
        array = np.asarray(picture)
    return array[..., None] if array.ndim == 2 else array


def model(name: str):
    return checkpoints.load(name).model


def test_every_public_endpoint_is_documented():
    """The named endpoints the app serves are the ones README's API table and the app's docstring list."""
    import re

    import gradio_app

    config = gradio_app.build().get_config_file()
    public = {d["api_name"] for d in config["dependencies"] if d.get("api_name") and d.get("api_visibility") == "public"}
    table = [line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("| `/")]
    documented = {name for line in table for name in re.findall(r"`/(\w+)`", line.split(" | ")[0])}
    assert public == documented, (public ^ documented)
    listed = set(re.findall(r"/(\w+)", gradio_app.__doc__.split("Endpoints", 1)[1].split("Heavy work")[0]))
    assert public <= listed, public - listed
    assert {"style_mix", "w_truncation", "stochastic_variation"} <= public


def test_an_uploaded_recipe_file_fills_the_recipe_box_and_odd_files_are_refused(tmp_path):
    import gradio as gr

    import gradio_app

    good = tmp_path / "style-mix.json"
    good.write_text('{"kind": "gan-studio/style-mix"}', encoding="utf-8")
    assert gradio_app.read_recipe_file(str(good)) == '{"kind": "gan-studio/style-mix"}'
    assert gradio_app.read_recipe_file(None) == ""
    big, binary = tmp_path / "big.json", tmp_path / "binary.json"
    big.write_bytes(b" " * (gradio_app.api.MAX_RECIPE_BYTES + 1))
    binary.write_bytes(b"\xff\xfe\x00garbage")
    for path, message in ((big, "small JSON file"), (binary, "not text")):
        with pytest.raises(gr.Error, match=message):
            gradio_app.read_recipe_file(str(path))


def app_error(client, api_name: str, *args, **kwargs) -> str:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as caught:
        client.predict(*args, api_name=api_name, **kwargs)
    return str(caught.value)


# ----------------------------------------------------------------------------- each endpoint, good input


def test_bare_calls_use_the_defaults_and_match_the_studio(client):
    dcgan = model("mnist-dcgan")
    expected = imaging.grid(explore.samples(dcgan, 16, seed=0), nrow=4)
    assert np.array_equal(pixels(client.predict(api_name="/generate")), expected)

    source, card, samples = client.predict(api_name="/load")
    assert source == "mnist-dcgan" and "MNIST" in card.upper() and "dcgan" in card
    assert np.array_equal(pixels(samples), expected)

    strip, gif, mp4, note = client.predict(api_name="/interpolate")
    walk = explore.walk(dcgan, [0, 1, 2], frames=16, method="slerp")
    assert np.array_equal(pixels(strip), imaging.grid(walk.frames, nrow=16))
    with Image.open(gif) as animation:
        assert animation.n_frames == 16 and animation.size == (256, 256)  # 32 px frames enlarged 8x
    assert Path(mp4).read_bytes()[4:8] == b"ftyp" and "16 frames, slerp" in note

    grid, diversity, sweep, chart = client.predict(api_name="/truncate")
    images = explore.truncated(dcgan, 0.7, n=16, seed=0)
    assert np.array_equal(pixels(grid), imaging.grid(images, nrow=4))
    assert diversity == pytest.approx(explore.mean_pairwise_distance(images), abs=1e-4)
    assert pixels(sweep).shape[1] > 6 * expected.shape[1]  # six grids side by side
    assert chart["type"] == "plotly"

    shown_input, output, notes = client.predict(api_name="/translate")
    cyclegan, meta = checkpoints.load("horse2zebra-cyclegan")
    horse = translate.sample_inputs(meta, "a2b", count=1)[0].image
    assert np.array_equal(pixels(shown_input), horse)
    assert np.array_equal(pixels(output), translate.translate_image(cyclegan, horse, "a2b")[0])


def test_generate_with_arguments_equals_the_studio_grid(client):
    cgan = model("mnist-cgan")
    got = pixels(client.predict("mnist-cgan", 7, 9, 0.5, api_name="/generate"))
    assert np.array_equal(got, imaging.grid(explore.truncated(cgan, 0.5, n=9, seed=7), nrow=3))
    assert got.shape == (3 * 34 + 2, 3 * 34 + 2, 1)  # 32 px images, 2 px padding


def test_translate_an_uploaded_image_both_ways(client, tmp_path):
    from gradio_client import handle_file

    cyclegan, meta = checkpoints.load("horse2zebra-cyclegan")
    zebra = translate.sample_inputs(meta, "b2a", count=2)[1].image
    upload = tmp_path / "zebra.png"
    upload.write_bytes(imaging.png_bytes(np.repeat(zebra, 3, axis=2)))  # RGB: converted with a note
    shown_input, output, notes = client.predict("horse2zebra-cyclegan", handle_file(upload), "b2a",
                                                api_name="/translate")
    assert np.array_equal(pixels(shown_input), zebra)
    assert np.array_equal(pixels(output), translate.translate_image(cyclegan, zebra, "b2a")[0])
    assert "Converted for the model" in notes


def test_train_start_status_stop(client, runs_root):
    run_id, state = client.predict("mnist-dcgan", 100_000, api_name="/train_start")
    assert state["run"] == run_id and state["recipe"] == "mnist-dcgan" and (runs_root / run_id).is_dir()
    deadline = time.monotonic() + 120
    while True:  # polls as the tab's timer does, until the trainer reports steps
        state, chart, samples = client.predict(run_id, api_name="/train_status")
        if state["step"] > 0 and "loss_d" in state:
            break
        assert time.monotonic() < deadline, state
        time.sleep(0.5)
    assert chart["type"] == "plotly"
    state = client.predict(run_id, api_name="/train_stop")
    assert (runs_root / run_id / "STOP").exists()
    deadline = time.monotonic() + 120
    while live.read_run(runs_root / run_id).live:
        assert time.monotonic() < deadline
        time.sleep(0.5)
    stopped = client.predict(run_id, api_name="/train_status")[0]
    assert stopped["status"] == "stopped"

    # resumed from its newest checkpoint with a new total of steps, it runs on to that step
    state = client.predict(run_id, stopped["step"] + 3, api_name="/train_resume")
    assert state["run"] == run_id and state["steps"] == stopped["step"] + 3
    deadline = time.monotonic() + 180
    while (run := live.read_run(runs_root / run_id)).live:
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert run.status == "finished" and run.step == stopped["step"] + 3


def test_segment_and_the_experiments_answer_like_the_studio(client):
    from studio import api

    satellite, truth, predicted, pix2pix, scores = client.predict(3, api_name="/segment")
    expected = api.segment(3)
    assert np.array_equal(pixels(predicted), expected["predicted"])
    assert np.array_equal(pixels(truth), expected["truth"])
    assert scores["unet"]["mean_iou"] == pytest.approx(expected["unet"]["mean_iou"])
    assert pix2pix is not None and scores["pix2pix"]["mean_iou"] < 1.0

    # tiny experiments (10 steps, one seed): a background job answers when done within wait_s
    for api_name, third in (("/augment", 1.0), ("/transfer", "mnist-dcgan")):
        deadline = time.monotonic() + 300
        while True:
            result, chart, verdict = client.predict("10", 1, third, 10, api_name=api_name)
            if result["status"] == "done":
                break
            assert result["status"] == "running" and time.monotonic() < deadline, result
            time.sleep(1)
        assert chart is not None and verdict
        assert result["settings"]["steps"] == 10 and {row["k"] for row in result["summary"]} == {10}
        assert len({row["condition"] for row in result["summary"]}) >= 2  # each condition measured
        assert all(0.0 <= row["mean"] <= 1.0 and len(row["values"]) == 1 for row in result["summary"])


def test_the_evaluation_endpoints_answer_with_their_numbers(client):
    chart, curve = client.predict(["mnist-dcgan"], 50, "", 0, api_name="/fid_curve")
    assert curve["n"][-1] <= 50 and curve["fid_inf"] is not None and chart["type"] == "plotly"
    chart, sweep = client.predict(["mnist-dcgan"], 50, "", 0, api_name="/truncation_metrics")
    assert sweep["space"] == "z" and len(sweep["values"]) == len(sweep["fid"]) == len(sweep["precision"]) > 1
    chart, neighbours, note = client.predict(["mnist-dcgan"], 50, "", 0, api_name="/feature_map")
    assert pixels(neighbours).size > 0 and "Exact copies" in note
    rows, chart, sentence = client.predict(["mnist-dcgan"], 20, 20, 0, api_name="/fid_disagreement")
    assert len(rows["data"] if isinstance(rows, dict) else rows) == 4 and sentence


# ----------------------------------------------------------------------------- bad input


def test_bad_input_gets_the_studio_message_and_the_server_goes_on(client, tmp_path):
    from gradio_client import handle_file

    assert "unknown model 'no-such-model'" in app_error(client, "/generate", "no-such-model")
    assert "unknown model '/etc/passwd'" in app_error(client, "/generate", "/etc/passwd")  # no server files
    assert "has no latent vector z" in app_error(client, "/generate", "maps-pix2pix")
    assert "each seed must be a whole number" in app_error(client, "/interpolate", "mnist-dcgan", "0, x")
    assert "pick 2 to 8 key seeds" in app_error(client, "/interpolate", "mnist-dcgan", "5")
    assert "translates a2b only" in app_error(client, "/translate", "maps-pix2pix", None, "b2a")
    assert "not in the list of choices" in app_error(client, "/train_start", "rm -rf", 10)  # Gradio checks first
    assert "no run 'nope'" in app_error(client, "/train_status", "nope")

    not_an_image = tmp_path / "notes.png"
    not_an_image.write_bytes(b"just text, not a picture")
    assert "image" in app_error(client, "/translate", "horse2zebra-cyclegan", handle_file(not_an_image), "a2b")

    oversize = tmp_path / "big.png"
    with open(oversize, "wb") as file:
        file.truncate(translate.MAX_UPLOAD_BYTES + 1)
    assert "over the limit" in app_error(client, "/translate", "horse2zebra-cyclegan", handle_file(oversize), "a2b")

    class Payload:  # a pickle that would run code when loaded
        def __reduce__(self):
            return (print, ("pwned",))

    hostile = tmp_path / "hostile.pth"
    hostile.write_bytes(pickle.dumps({"weight": Payload()}))
    message = app_error(client, "/load", "mnist-dcgan", handle_file(hostile))
    assert "hostile.pth" in message or "pickle" in message.lower() or "weights_only" in message

    assert pixels(client.predict(api_name="/generate")).shape == (138, 138, 1)  # still answering


# ----------------------------------------------------------------------------- concurrency


def test_twenty_concurrent_generate_clients_all_get_their_images(server):
    from gradio_client import Client

    dcgan = model("mnist-dcgan")

    def one(seed: int) -> np.ndarray:
        return pixels(Client(server, verbose=False).predict("mnist-dcgan", seed, 4, 0, api_name="/generate"))

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        results = list(pool.map(one, range(20)))
    for seed, got in enumerate(results):
        assert np.array_equal(got, imaging.grid(explore.samples(dcgan, 4, seed=seed), nrow=2)), seed


# ----------------------------------------------------------------------------- in a browser


TABS = {  # tab -> (its button, the element it fills)
    "Model zoo": ("Load", "#zoo-samples img"),
    "Generate": ("Generate", "#gen-image img"),
    "Latent interpolation": ("Walk", "#walk-strip img"),
    "Truncation trick": ("Truncate", "#trunc-grid img"),
    "Translation": ("Translate", "#tr-output img"),
    "Training": ("Refresh", "#train-state"),  # the run test_train_start_status_stop stopped, then resumed to its end
    "Feature editing": ("Edit", "#ed-after img"),
    "Bias audit": ("Audit", "#bias-table"),
    "Segmentation": ("Segment", "#seg-u-net img"),
    "Evaluation": ("Evaluate", "#eval-table"),
}
TEXTS = {"#train-state": "finished", "#bias-table": "glasses", "#eval-table": "mnist-dcgan"}  # a tab filling text: what it must show


def open_tab(page, name):
    """Gradio shows as many tabs as fit and puts the rest behind a "..." overflow menu."""
    page.get_by_role("tablist").first.wait_for(state="visible", timeout=60_000)
    tab = page.get_by_role("tab", name=name, exact=True)
    if tab.count() and tab.first.is_visible():
        tab.first.click()
        return
    page.locator(".overflow-menu button").first.click()
    page.locator(".overflow-dropdown").get_by_role("button", name=name, exact=True).click()


def test_every_tab_shows_its_output_in_chromium(server, client):
    assert CHROMIUM.exists(), chromium_missing()
    from playwright.sync_api import expect, sync_playwright

    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1400})
        page.goto(server)
        for tab, (button, output) in TABS.items():
            open_tab(page, tab)
            panel = page.get_by_role("tabpanel")
            expect(panel.get_by_text("The idea").first).to_be_visible(timeout=30_000)
            panel.get_by_role("button", name=button, exact=True).click()
            shown = page.locator(output)
            if output.endswith("img"):
                expect(shown).to_be_visible(timeout=90_000)
                page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=shown.element_handle())
            else:
                expect(shown).to_contain_text(TEXTS[output], timeout=90_000)
            if tab == "Training":  # the trainer's verdict on the finished run's last checkpoint, in words
                expect(page.locator("#train-verdict")).to_contain_text("of real held-out digits", timeout=30_000)
                expect(page.locator("#train-trend .js-plotly-plot")).to_be_visible(timeout=30_000)
            page.screenshot(path=str(SCREENSHOTS / f"gradio-{tab.lower().replace(' ', '-')}.png"), full_page=True)
        browser.close()


def test_the_style_mixing_tab_shows_the_studios_pictures_in_chromium(server):
    """Matrix, W beside z, and the noise draws with their std map: what Chromium shows is, pixel for
    pixel, what ``studio.api`` computes for the tab's default inputs (the bundled mnist-stylegan)."""
    import io
    import urllib.request

    from playwright.sync_api import expect, sync_playwright

    from studio import api

    assert CHROMIUM.exists(), chromium_missing()
    truncation, variation = api.w_truncation(), api.stochastic_variation()
    expected = {"#mix-grid": api.style_mix().grid, "#wt-w": truncation.w_grid, "#wt-z": truncation.z_grid,
                "#var-draws": variation.draws, "#var-std": variation.std_map}
    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 2600})
        page.goto(server)
        open_tab(page, "Style mixing")
        panel = page.get_by_role("tabpanel")
        expect(panel.get_by_text("The idea").first).to_be_visible(timeout=30_000)
        for button in ("Mix", "Truncate in W and in z", "Draw the noise", "Look for droplets"):
            panel.get_by_role("button", name=button, exact=True).click()
        for selector, want in expected.items():
            shown = page.locator(f"{selector} img")
            expect(shown).to_be_visible(timeout=90_000)
            page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=shown.element_handle())
            with urllib.request.urlopen(shown.get_attribute("src")) as response:
                got = np.asarray(Image.open(io.BytesIO(response.read())))
            assert np.array_equal(got[..., None] if got.ndim == 2 else got, want), selector
        expect(page.locator("#drop-table")).to_contain_text("32x32", timeout=60_000)  # the last style layer's row
        expect(page.locator("#drop-note")).to_contain_text(api.droplets().note[:40], timeout=60_000)
        page.screenshot(path=str(SCREENSHOTS / "gradio-style-mixing.png"), full_page=True)
        browser.close()


# ----------------------------------------------------------------------------- style mixing (StyleGAN)


def test_interpolate_endpoint_walks_in_w_for_a_stylegan(client, runs_root):
    from studio.models import StyleGAN

    torch.manual_seed(1)
    tiny = StyleGAN(latent_dim=8, w_dim=8, mapping_layers=2, image_size=16, channels=1, width=8, disc_width=8).eval()
    run = runs_root / "tiny-stylegan-walk"
    checkpoints.save(tiny, run / "checkpoints" / "step-00000001", metadata={"title": "tiny", "dataset": "mnist"})
    strip, gif, mp4, note = client.predict(str(run), "3, 9", 6, "slerp", 8, "w", api_name="/interpolate")
    walk = explore.walk(tiny, [3, 9], frames=6, space="w")
    assert np.array_equal(pixels(strip), imaging.grid(walk.frames, nrow=6)) and "lerp in W" in note
    assert "needs a StyleGAN" in app_error(client, "/interpolate", "mnist-dcgan", "0, 1", 4, "slerp", 8, "w")


def test_style_mix_endpoint_matches_the_studio_and_its_recipe(client, runs_root, monkeypatch):
    import json

    from studio import api
    from studio.models import StyleGAN

    torch.manual_seed(0)
    tiny = StyleGAN(latent_dim=8, w_dim=8, mapping_layers=2, image_size=16, channels=1, width=8, disc_width=8).eval()
    run = runs_root / "tiny-stylegan-run"
    checkpoints.save(tiny, run / "checkpoints" / "step-00000001", metadata={"title": "tiny", "dataset": "mnist"})
    grid, recipe, note = client.predict(str(run), "0, 1", "2, 3", "fine", 0.7, 2, "random", 5, api_name="/style_mix")
    expected = explore.mixing.mixing_matrix(tiny, [0, 1], [2, 3], (16,), psi=0.7, cutoff=2, noise_mode="random",
                                            noise_seed=5)
    assert np.array_equal(pixels(grid), expected.grid())
    assert json.loads(recipe)["resolutions"] == [16] and "layers [4, 5]" in note
    monkeypatch.setenv("GAN_STUDIO_RUNS", str(runs_root))  # the recipe names the run as the server sees it
    assert np.array_equal(api.style_mix_recipe(recipe).grid, expected.grid())
    again, again_recipe, again_note = client.predict(recipe, api_name="/style_mix_recipe")  # opened again: same pixels
    assert np.array_equal(pixels(again), expected.grid()) and json.loads(again_recipe) == json.loads(recipe)
    assert "not JSON" in app_error(client, "/style_mix_recipe", "{half a recipe")
    other = json.dumps({**json.loads(recipe), "weights": "0" * 16})
    assert "other weights" in app_error(client, "/style_mix_recipe", other)
    assert "no layers at" in app_error(client, "/style_mix", str(run), "0", "1", "64", 1.0, -1, "const", 0)
    assert "needs a StyleGAN" in app_error(client, "/style_mix", "mnist-dcgan", "0", "1", "coarse", 1.0, -1, "const", 0)
    # truncation in W beside z (the same seeds) and stochastic variation, as the studio draws them
    w_grid, z_grid, note = client.predict(str(run), 3, 0.5, 2, 0.7, api_name="/w_truncation")
    assert np.array_equal(pixels(w_grid), imaging.grid(explore.mixing.w_truncated(tiny, 3, 0.5, 2, n=16), nrow=4))
    assert np.array_equal(pixels(z_grid), imaging.grid(explore.mixing.z_truncated(tiny, 3, 0.7, n=16), nrow=4))
    draws, std_map, note = client.predict(str(run), 1, 6, "16", 1.0, -1, api_name="/stochastic_variation")
    variation = explore.mixing.stochastic_variation(tiny, 1, n=16, noise_seed=6, noise_resolutions=[16])
    assert np.array_equal(pixels(draws), imaging.grid(variation.images, nrow=4))
    assert np.array_equal(pixels(std_map), explore.mixing.std_image(variation.std)) and "16x16" in note
    assert "no layers at" in app_error(client, "/stochastic_variation", str(run), 0, 0, "64", 1.0, -1)
    table, note = client.predict(str(run), 8, 1, api_name="/droplets")  # AdaIN's droplets, per style layer
    expected_rows = explore.mixing.droplet_rows(explore.mixing.adain_peaks(tiny, n=8, seed=1))
    assert [dict(zip(table["headers"], row)) for row in table["data"]] == expected_rows
    assert note.startswith("No droplet") or note.startswith("Droplet")


# ----------------------------------------------------------------------------- evaluation (issue 15)


def test_evaluate_endpoint_equals_the_studio_and_names_bad_input(client, runs_root, monkeypatch):
    from studio import api

    monkeypatch.setenv("GAN_STUDIO_CACHE", str(runs_root.parent / "metrics-cache"))
    table, chart, notes = client.predict(["mnist-dcgan"], 60, "", 3, api_name="/evaluate")
    expected = api.evaluate(["mnist-dcgan"], 60, "", 3)
    assert table["headers"] == ["model", "metric", "value", "low", "high", "n", "extractor"]
    assert [row[1] for row in table["data"]] == [row["metric"] for row in expected.table]
    for got, want in zip(table["data"], expected.table):
        assert got[2:5] == pytest.approx([want["value"], want["low"], want["high"]], rel=1e-6), want["metric"]
        assert got[5] == 60 and got[6] == "classifier:mnist-classifier@28px/pil-bicubic"
    assert chart["type"] == "plotly" and "biased upward" in notes
    assert "unknown model 'no-such-model'" in app_error(client, "/evaluate", ["no-such-model"], 60, "", 0)
    assert "is a translation model" in app_error(client, "/evaluate", ["maps-pix2pix"], 60, "", 0)
    assert "less than minimum value 20" in app_error(client, "/evaluate", ["mnist-dcgan"], 5, "", 0)  # Gradio checks
