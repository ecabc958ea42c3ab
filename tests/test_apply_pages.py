"""The Apply-GANs pages (8 Segmentation, 9 GAN augmentation) under AppTest, their Gradio endpoints
through a real server with gradio_client, /segment in-process, and the augmentation page in Chromium.

The segmentation page uses the bundled maps-unet and maps-pix2pix; the experiment pages use a
temporary result cache (GAN_STUDIO_CACHE) and, where a job is started, a fast stand-in runner
(the experiments themselves are tested in test_apply.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from studio import api, apply, checkpoints
from studio.apply import jobs, semisupervised
from studio.errors import DataError
from support import CHROMIUM, CHROMIUM_ARGS, chromium_missing, gradio_server, streamlit_server

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
SEG_PAGE, AUG_PAGE = "app_pages/8_Segmentation.py", "app_pages/9_GAN_augmentation.py"
DEFAULT_AUG = {"ks": [10], "seeds": 3, "ratio": 1.0}
DEFAULT_TR = {"ks": [10], "seeds": 3, "source": "mnist-dcgan"}
DEFAULT_SGAN = {"ks": [10], "seeds": 1}

needs_unet = pytest.mark.skipif(not (ROOT / "checkpoints" / "maps-unet" / "model.safetensors").exists(),
                                reason="the bundled maps-unet is not trained yet")


def open_page(path: str, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params.update(query or {})
    at.run()
    at.switch_page(path)
    return at.run()


def fake_result(kind: str, settings: dict) -> dict:
    conditions = {"augmentation": apply.AUGMENT_CONDITIONS, "transfer": apply.TRANSFER_CONDITIONS,
                  "semisupervised": apply.SGAN_CONDITIONS}[kind]
    rows = [{"condition": c, "k": 10, "seed": s, "accuracy": 0.5 + 0.1 * i + 0.01 * s}
            for i, c in enumerate(conditions) for s in range(settings["seeds"])]
    from studio.apply.fewshot import summarise

    return {"rows": rows, "summary": summarise(rows), "settings": settings,
            **({"reference": 0.985} if kind != "augmentation" else {})}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_STUDIO_CACHE", str(tmp_path))
    jobs._JOBS.clear()
    yield tmp_path
    jobs._JOBS.clear()


# ----------------------------------------------------------------------------- segmentation page


@needs_unet
def test_segmentation_page_shows_the_tile_both_models_and_the_measured_iou():
    at = open_page(SEG_PAGE, {"tile": "4"})
    assert not at.exception
    assert at.number_input(key="seg_tile").value == 4
    unet, pix2pix = checkpoints.load("maps-unet").model, checkpoints.load("maps-pix2pix").model
    expected = apply.segment_tile(unet, 4, pix2pix)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["U-Net mean IoU"] == f"{expected['unet']['mean_iou']:.3f}"
    assert metrics["pix2pix mean IoU"] == f"{expected['pix2pix_report']['mean_iou']:.3f}"
    table = at.dataframe[0].value
    assert list(table["class"]) == list(expected["unet"]["class_iou"])
    assert np.allclose(table["U-Net IoU"], [round(v, 3) for v in expected["unet"]["class_iou"].values()])
    at.number_input(key="seg_tile").set_value(5).run()
    assert at.metric[0].value == f"{apply.segment_tile(unet, 5)['unet']['mean_iou']:.3f}"


@needs_unet
def test_segmentation_page_warns_about_a_bad_link():
    at = open_page(SEG_PAGE, {"tile": "many"})
    assert not at.exception
    assert any("not a whole number" in w.value for w in at.warning)
    assert at.number_input(key="seg_tile").value == 0


# ----------------------------------------------------------------------------- augmentation page


def test_augmentation_page_shows_cached_results_with_intervals(cache):
    for kind, settings in (("augmentation", DEFAULT_AUG), ("transfer", DEFAULT_TR), ("semisupervised", DEFAULT_SGAN)):
        jobs.start_job(kind, settings, runner=lambda progress, k=kind, **s: fake_result(k, s)).wait(30)
    jobs._JOBS.clear()  # as after a server restart: only the disk cache knows
    at = open_page(AUG_PAGE)
    assert not at.exception
    text = "\n".join(m.value for m in at.markdown)
    assert "+ cGAN samples **71.0%** ± 2.5 (+20.0 points)" in text  # 0.5 + 0.2 + 0.01 * mean(0, 1, 2)
    assert "frozen discriminator + linear head **51.0%** ± 2.5 (-10.0 points)" in text
    assert "bundled mnist-classifier (about 400 labels per class): **98.5%**" in text
    assert "K+1-class GAN (feature matching) **50.0%** ± 0.0 (-10.0 points)" in text  # one seed
    assert len(at.get("plotly_chart")) == 3
    assert all(b.disabled for b in at.button)  # measured: nothing to run


def test_semisupervised_section_starts_its_job_with_the_page_settings(cache, monkeypatch):
    """Section 3: the seeds slider and the loss-weight slider reach the job's settings; the result
    then shows as a chart with both conditions and the reference line."""
    release = __import__("threading").Event()
    started = []

    def slow(progress, **settings):
        started.append(settings)
        progress(0.5, "K = 10, seed 0: K+1-class GAN (feature matching)")
        release.wait(60)
        return fake_result("semisupervised", settings)

    monkeypatch.setattr(jobs, "_runner", lambda kind: slow)
    at = open_page(AUG_PAGE)
    assert not at.exception
    assert "Salimans et al. 2016" in "\n".join(m.value for m in at.markdown)
    assert at.slider(key="sgan_seeds").value == 1  # the default: one seed, under 3 minutes
    at.slider(key="sgan_seeds").set_value(2)
    at.select_slider(key="sgan_weight").set_value(0.5)
    at.button(key="semisupervised_run").click().run()
    settings = {"ks": [10], "seeds": 2, "unsup_weight": 0.5}
    job = jobs.get_job("semisupervised", settings)
    assert job is not None and job.status == "running"
    assert "K+1-class GAN" in at.get("progress")[0].proto.text
    release.set()
    job.wait(30)
    at.run()
    assert not at.exception and started == [settings]
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    import json

    figure = json.loads(charts[0].proto.spec)
    assert [trace["name"] for trace in figure["data"]] == list(semisupervised.LABELS.values())


def test_augmentation_page_starts_a_background_job_and_shows_its_progress(cache, monkeypatch):
    release = __import__("threading").Event()

    def slow(ks, seeds, ratio, progress):
        progress(0.25, "K = 10, seed 0: training on classic")
        release.wait(60)
        return fake_result("augmentation", {"ks": ks, "seeds": seeds, "ratio": ratio})

    monkeypatch.setattr(jobs, "_runner", lambda kind: slow)
    at = open_page(AUG_PAGE)
    assert any("Not measured yet" in i.value for i in at.info)
    at.slider(key="aug_seeds").set_value(1)
    at.button(key="augmentation_run").click().run()
    job = jobs.get_job("augmentation", {"ks": [10], "seeds": 1, "ratio": 1.0})
    assert job is not None and job.status == "running"
    assert "training on classic" in at.get("progress")[0].proto.text
    release.set()
    job.wait(30)
    at.run()  # a refresh finds the same job, now finished
    assert not at.exception and len(at.get("plotly_chart")) == 1
    assert jobs.get_job("augmentation", {"ks": [10], "seeds": 1, "ratio": 1.0}) is job


# ----------------------------------------------------------------------------- the API


def test_api_checks_the_settings(cache):
    with pytest.raises(DataError, match="ks"):
        api.augment(ks="7")
    with pytest.raises(DataError, match="ratio"):
        api.augment(ratio=9)
    with pytest.raises(DataError, match="source"):
        api.transfer(source="mnist-cgan")
    with pytest.raises(DataError, match="tile"):
        api.segment(tile=-1)


@pytest.fixture(scope="module")
def gradio_base(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("apply-gradio")
    env = {"GAN_STUDIO_RUNS": str(tmp / "runs"), "HF_HUB_CACHE": str(tmp / "hf-cache"),
           "GAN_STUDIO_CACHE": str(tmp / "cache")}
    with gradio_server(env, tmp / "gradio.log") as base:
        yield base


def test_augment_and_segment_endpoints_on_a_real_server(gradio_base):
    from gradio_client import Client

    client = Client(gradio_base, verbose=False)
    status, _chart, verdict = client.predict("10", 1, 1.0, 10, api_name="/augment")
    assert status["status"] == "done", status
    assert {r["condition"] for r in status["summary"]} == set(apply.AUGMENT_CONDITIONS)
    assert all(0.1 < r["mean"] <= 1.0 for r in status["summary"])
    assert "K = 10 per class" in verdict
    again, _, _ = client.predict("10", 1, 1.0, 10, api_name="/augment")
    assert again["summary"] == status["summary"]  # the same job, not a new measurement
    with pytest.raises(Exception, match="ks must be some of"):
        client.predict("7", 1, 1.0, 10, api_name="/augment")
    if (ROOT / "checkpoints" / "maps-unet" / "model.safetensors").exists():
        *images, scores = client.predict(3, api_name="/segment")
        expected = api.segment(3)
        assert scores["unet"]["mean_iou"] == pytest.approx(expected["unet"]["mean_iou"])
        from PIL import Image

        assert np.array_equal(np.asarray(Image.open(images[2]).convert("RGB")), expected["predicted"])


def test_semisupervised_endpoint_on_a_real_server(gradio_base):
    from gradio_client import Client

    client = Client(gradio_base, verbose=False)
    status, _chart, verdict = client.predict("10", 1, 10, 1.0, api_name="/semisupervised")
    assert status["status"] == "done", status
    assert status["settings"] == {"ks": [10], "seeds": 1, "steps": 10}
    assert {r["condition"] for r in status["summary"]} == set(apply.SGAN_CONDITIONS)
    assert all(0.0 <= r["mean"] <= 1.0 and r["n"] == 1 for r in status["summary"])
    assert "K = 10 per class" in verdict and "K+1-class GAN" in verdict
    with pytest.raises(Exception, match="ks must be some of"):
        client.predict("7", 1, 10, 1.0, api_name="/semisupervised")


# ----------------------------------------------------------------------------- a real browser


def test_augmentation_page_in_chromium(tmp_path):
    assert CHROMIUM.exists(), chromium_missing()
    from playwright.sync_api import sync_playwright

    cache_dir = tmp_path / "cache"
    for kind, settings in (("augmentation", DEFAULT_AUG), ("transfer", DEFAULT_TR), ("semisupervised", DEFAULT_SGAN)):
        key = jobs.job_key(kind, settings)
        (cache_dir / "apply").mkdir(parents=True, exist_ok=True)
        import json

        (cache_dir / "apply" / f"{key}.json").write_text(json.dumps(
            {"kind": kind, "settings": settings, "seconds": 1, "result": fake_result(kind, settings)}))
    env = {"HF_HUB_CACHE": str(tmp_path / "hf"), "GAN_STUDIO_RUNS": str(tmp_path / "runs"),
           "GAN_STUDIO_CACHE": str(cache_dir)}
    with streamlit_server(env, tmp_path / "streamlit.log") as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 2400})
        page.goto(f"{base}/gan-augmentation")
        page.wait_for_function("() => document.querySelectorAll('[data-testid=\"stPlotlyChart\"] .main-svg').length >= 3",
                               timeout=120_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert "+ cGAN samples" in page.inner_text("body")
        assert "K+1-class GAN (feature matching)" in page.inner_text("body")
        (ROOT / "screenshots").mkdir(exist_ok=True)
        page.screenshot(path=str(ROOT / "screenshots" / "gan-augmentation.png"), full_page=True)
        browser.close()
