"""The Training page driven headless with AppTest: the start form, a run's curves, samples and
health, the controls for dead and busy runs, opening a run's checkpoint, and a real tiny run
started from the form. Runs live in a temporary folder (GAN_STUDIO_RUNS)."""

from __future__ import annotations

import io
import json
import shutil
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
import streamlit as st
from streamlit.testing.v1 import AppTest

from studio import imaging, live
from studio.errors import CheckpointError
from studio.models import DigitClassifier
from training.recipes import get_recipe

APP = Path(__file__).resolve().parent.parent / "app.py"
PAGE = "app_pages/4_Training.py"


@pytest.fixture
def runs(tmp_path, monkeypatch) -> Path:
    """An empty runs folder for the page, no digit classifier, and fresh Streamlit caches."""
    root = tmp_path / "runs"
    monkeypatch.setenv("GAN_STUDIO_RUNS", str(root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(live, "load_classifier", lambda: (_ for _ in ()).throw(CheckpointError("not trained yet")))
    st.cache_resource.clear()
    st.cache_data.clear()
    yield root
    for run in live.list_runs(root):  # never leave a trainer behind
        if run.live:
            live.stop_run(run.path)


def open_page() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=90).run()
    at.switch_page(PAGE).run()
    no_exception(at)
    return at


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def texts(at: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "caption", "info", "error", "warning", "success") for e in at.get(kind)]
    return "\n".join(str(p) for p in parts)


def fake_run(root: Path, checkpoint: Path, run_id: str = "tiny-run", steps: int = 10, **status) -> Path:
    """A finished run as the engine leaves it: events, two sample grids, one checkpoint."""
    run_dir = root / run_id
    shutil.copytree(checkpoint, run_dir / "checkpoints" / f"step-{steps:08d}")
    (run_dir / "samples").mkdir()
    lines = [{"event": "started", "step": 0, "time": 0.0}]
    for step in range(1, steps + 1):
        lines.append({"step": step, "time": float(step), "loss_g": 0.8 + 0.01 * step, "loss_d": 1.3 - 0.01 * step,
                      "d_real": 0.55, "d_fake": 0.45, "grad_norm_g": 1.0, "grad_norm_d": 2.0, "images_per_s": 100.0,
                      "memory_mb": 300.0})
        if step % (steps // 2) == 0:  # two grids: halfway and at the end
            grid = imaging.grid(np.full((4, 28, 28, 1), 100 * step // steps, np.uint8), nrow=2)
            (run_dir / "samples" / f"step-{step:08d}.png").write_bytes(imaging.png_bytes(grid))
            lines.append({"event": "sample", "step": step, "time": float(step), "path": f"samples/step-{step:08d}.png"})
    lines.append({"event": "checkpoint", "step": steps, "path": f"checkpoints/step-{steps:08d}"})
    (run_dir / "events.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    config = {**get_recipe("mnist-dcgan").to_dict(), "steps": steps}
    data = {"id": run_id, "recipe": "mnist-dcgan", "config": config, "status": "finished", "pid": None,
            "started": time.time(), "updated": time.time(), "step": steps, "message": "trained", "device": "cpu", **status}
    (run_dir / "run.json").write_text(json.dumps(data))
    return run_dir


def test_without_runs_the_page_offers_the_start_form(runs):
    at = open_page()
    assert "No training run yet" in texts(at)
    assert not at.button(key="train_start").disabled
    assert at.code[0].value.startswith("python -m training mnist-dcgan --out")
    assert "Generative Adversarial Nets" in texts(at)  # the idea, with Goodfellow et al. 2014


def test_a_recipe_fills_the_form_and_changes_become_set_overrides(runs):
    at = open_page()
    at.selectbox(key="train_recipe").select("mnist-wgangp").run()
    assert at.selectbox(key="train_loss").value == "wgan-gp"
    assert at.number_input(key="train_n_critic").value == 5
    assert "--set" not in at.code[0].value  # the recipe as it is
    at.selectbox(key="train_loss").select("hinge").run()
    at.slider(key="train_label_smoothing").set_value(0.1).run()
    no_exception(at)
    assert "--set loss=hinge --set label_smoothing=0.1" in at.code[0].value
    assert "mnist-wgangp" in at.code[0].value


def test_a_missing_folder_is_refused_with_a_message(runs):
    at = open_page()
    at.radio(key="train_source").set_value("folder").run()
    at.text_input(key="train_folder").input("/no/such/folder").run()
    no_exception(at)
    assert any("does not exist on the server" in e.value for e in at.error)
    assert at.button(key="train_start").disabled


def test_a_run_shows_its_curves_samples_and_health(runs, tiny_checkpoints):
    fake_run(runs, tiny_checkpoints["dcgan"])
    at = open_page()
    assert at.selectbox(key="train_run").value == "tiny-run"
    charts = at.get("plotly_chart")
    assert len(charts) == 4  # losses, D outputs, gradient norms, throughput
    assert at.select_slider(key="train_sample_step").value == 10  # the newest grid, scrubbable back to 5
    assert at.image[0].captions == ["step 10 (latest)"]
    shown = texts(at)
    assert "Looks balanced" in shown and "D(x) 0.55, D(G(z)) 0.45" in shown
    assert "classifier (checkpoints/mnist-classifier) is not trained yet" in shown and "Diversity of 500 samples" in shown
    assert "Too early to call a collapse" in shown
    assert "trainer memory: **300 MB**" in shown
    assert at.button(key="train_resume") and at.button(key="train_open").disabled is False
    at.select_slider(key="train_sample_step").set_value(5).run()
    no_exception(at)
    assert at.image[0].captions == ["step 5"]


def test_the_class_histogram_appears_when_the_classifier_exists(runs, tiny_checkpoints, monkeypatch):
    judge = DigitClassifier(width=4).eval()
    monkeypatch.setattr(live, "load_classifier", lambda: judge)
    run_dir = fake_run(runs, tiny_checkpoints["dcgan"], steps=400)
    at = open_page()
    assert len(at.get("plotly_chart")) == 5
    shown = texts(at)
    assert "not trained yet" not in shown and "Too early" not in shown
    assert "Generator collapse?" in shown  # an untrained G at step 400: one blob for every z
    # the share of samples the judge is sure of, as the core measures it, beside the real digits'
    measured = live.checkpoint_quality(run_dir / "checkpoints" / "step-00000400", judge)
    assert f"sure of the digit (probability >= 0.9) for **{measured['confident_share']:.0%}** of these samples, " \
           f"and for {measured['real_confident_share']:.0%} of real held-out digits" in shown
    assert "recognisable digits" not in shown  # one blob for every z is not


def test_the_trainers_own_verdict_is_shown_without_judging_the_checkpoint_again(runs, tiny_checkpoints, monkeypatch):
    """A run that judged its checkpoints (recipes with fid_every write {"event": "quality"} lines) is
    shown from its events: the page loads no checkpoint and runs no classifier on the run's cores."""
    monkeypatch.setattr(live, "load_classifier", lambda: DigitClassifier(width=4).eval())
    monkeypatch.setattr(live, "checkpoint_quality", lambda *args, **kwargs: pytest.fail("judged the checkpoint again"))
    run_dir = fake_run(runs, tiny_checkpoints["dcgan"], steps=2000)
    spread = [0.07, 0.13, 0.09, 0.11, 0.10, 0.08, 0.12, 0.10, 0.09, 0.11]
    with open(run_dir / "events.jsonl", "a") as events:
        for step, share in ((1000, 0.41), (2000, 0.83), (2250, 0.99)):  # 2,250: its checkpoint is not written yet
            events.write(json.dumps({"event": "quality", "step": step, "time": 1.0, "diversity": 0.375, "samples": 1000,
                                     "diversity_samples": 500, "histogram": spread, "confident_share": share,
                                     "real_confident_share": 0.985}) + "\n")
    at = open_page()
    no_exception(at)
    shown = texts(at)
    assert "**83%** of these samples, and for 98% of real held-out digits: **recognisable digits**" in shown
    assert "Diversity of 500 samples at step 2000: **0.375**" in shown
    figure = json.loads(at.get("plotly_chart")[-1].proto.spec)
    assert figure["data"][0]["y"] == pytest.approx(spread) and "step 2000" in figure["layout"]["title"]["text"]
    trend = json.loads(at.get("plotly_chart")[-2].proto.spec)  # every judged checkpoint, against the bar
    assert trend["data"][0]["x"] == [1000, 2000, 2250] and trend["data"][0]["y"] == [0.41, 0.83, 0.99]


def test_opening_the_checkpoint_switches_to_latent_interpolation(runs, tiny_checkpoints):
    run_dir = fake_run(runs, tiny_checkpoints["dcgan"])
    at = open_page()
    at.button(key="train_open").click().run()
    no_exception(at)
    assert at.session_state["checkpoint"] == str(run_dir)
    assert at.title[0].value == "Latent interpolation"


def test_a_dead_process_is_reported_with_a_resume_button(runs, tiny_checkpoints):
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    fake_run(runs, tiny_checkpoints["dcgan"], status="running", pid=process.pid)
    at = open_page()
    assert any("is gone" in e.value for e in at.error)
    assert at.button(key="train_resume").value is False  # offered, not clicked
    assert at.number_input(key="train_resume_steps").value == 15  # finished its 10: half as many again


def test_a_busy_server_disables_start_and_says_why(runs, tiny_checkpoints):
    fake_run(runs, tiny_checkpoints["dcgan"], status="running", pid=os.getpid(), step=4)
    at = open_page()
    assert at.button(key="train_start").disabled
    assert any("busy with tiny-run (step 4/10)" in i.value for i in at.info)
    assert at.button(key="train_stop")


def test_start_launches_a_tiny_run_that_writes_its_folder(runs):
    at = open_page()
    for name, value in {"steps": 4, "batch_size": 8, "model_width": 4, "model_latent_dim": 8, "sample_every": 2,
                        "checkpoint_every": 2}.items():
        at.number_input(key=f"train_{name}").set_value(value)
    at.radio(key="train_device").set_value("cpu")
    at.run()
    assert "--set batch_size=8" in at.code[0].value
    at.button(key="train_start").click().run()
    no_exception(at)
    assert any("Started" in s.value for s in at.success), texts(at)
    (run_dir,) = [p for p in runs.iterdir() if not p.name.startswith((".", "_"))]
    assert at.session_state["train_run"] == run_dir.name
    assert (run_dir / "run.json").is_file() and (run_dir / live.LOG_NAME).is_file()
    deadline = time.monotonic() + 60
    while live.read_run(run_dir).live and time.monotonic() < deadline:
        time.sleep(0.2)
    assert live.read_run(run_dir).status == "finished"
    at.run()
    no_exception(at)
    # four curve charts, and the class histogram of the trainer's own verdict on its last checkpoint (it
    # judged with the bundled classifier, which this page's process is denied)
    charts = at.get("plotly_chart")
    assert len(charts) == 6 and charts[-1].key == "train_histogram" and len(at.image) == 1
    assert "Classes in 1,000 samples, step 4" in json.loads(charts[-1].proto.spec)["layout"]["title"]["text"]
    trend = json.loads(charts[-2].proto.spec)  # the verdict at each checkpoint, steps 2 and 4
    assert "Recognisable digits" in trend["layout"]["title"]["text"] and trend["data"][0]["x"] == [2, 4]


def test_an_uploaded_zip_of_images_trains_a_folder_run(runs):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        for index in range(8):
            picture = np.random.default_rng(index).integers(0, 256, (20, 20, 3), dtype=np.uint8)
            zipped.writestr(f"faces/{index}.png", imaging.png_bytes(picture))
    at = open_page()
    at.radio(key="train_source").set_value("upload").run()
    at.file_uploader(key="train_upload").set_value(("faces.zip", archive.getvalue(), "application/zip"))
    at.selectbox(key="train_image_size").select(28)
    for name, value in {"steps": 2, "batch_size": 8, "model_width": 4, "model_latent_dim": 8, "sample_every": 1,
                        "checkpoint_every": 2}.items():
        at.number_input(key=f"train_{name}").set_value(value)
    at.run()
    assert "data_path=<faces.zip>" in at.code[0].value and live.FOLDER_RECIPE in at.code[0].value
    at.button(key="train_start").click().run()
    no_exception(at)
    (run_dir,) = [p for p in runs.iterdir() if not p.name.startswith((".", "_"))]
    deadline = time.monotonic() + 60
    while live.read_run(run_dir).live and time.monotonic() < deadline:
        time.sleep(0.2)
    run = live.read_run(run_dir)
    assert run.status == "finished", run.message
    saved = Path(run.config["data_path"])
    assert saved.parent.parent == runs / live.UPLOADS_DIR and saved.read_bytes() == archive.getvalue()


def test_a_diverged_run_says_loss_is_nan_and_offers_resume(runs, tiny_checkpoints):
    message = "loss_g, loss_d became nan at step 10: training diverged; kept the last good checkpoint (step-00000010)"
    run_dir = fake_run(runs, tiny_checkpoints["dcgan"], status="failed", message=message)
    with open(run_dir / "events.jsonl", "a") as events:
        events.write(json.dumps({"event": "error", "step": 11, "message": message}) + "\n")
    (run_dir / live.LOG_NAME).write_text(f"error: {message}\n")
    at = open_page()
    assert any("The run failed" in e.value for e in at.error)
    assert any("Loss is NaN" in e.value for e in at.error)
    assert at.button(key="train_resume").value is False
    assert f"error: {message}" in [c.value for c in at.code]  # the log's tail, in an expander


def test_a_run_link_is_read_back_and_shows_that_runs_samples(runs, tiny_checkpoints, monkeypatch):
    from support import RecordingStorage

    monkeypatch.setattr("streamlit.testing.v1.app_test.MemoryMediaFileStorage", RecordingStorage)
    RecordingStorage.files = {}
    patterns = {}
    for i, run_id in enumerate(["run-a", "run-b"]):
        run_dir = fake_run(runs, tiny_checkpoints["dcgan"], run_id=run_id)
        ramp = (np.arange(28 * 28).reshape(28, 28, 1) * (3 + 4 * i) % 256).astype(np.uint8)  # one per run
        patterns[run_id] = np.repeat(ramp, 3, axis=2)
        (run_dir / "samples" / "step-00000010.png").write_bytes(imaging.png_bytes(ramp))
    default = open_page().selectbox(key="train_run").value
    linked = next(r for r in patterns if r != default)  # a link must open the run it names, not the default

    at = AppTest.from_file(str(APP), default_timeout=90).run()
    at.switch_page(PAGE)
    at.query_params["run"] = linked
    at.run()
    no_exception(at)
    assert at.selectbox(key="train_run").value == linked
    assert at.query_params["run"] == linked
    url = at.image[0].value[0]
    shown = np.asarray(Image.open(io.BytesIO(RecordingStorage.files[url.rsplit("/", 1)[1].split(".")[0]])))
    factor = shown.shape[1] // 28
    assert np.array_equal(shown[::factor, ::factor], patterns[linked])


def test_a_progressive_run_shades_its_resolutions_and_shows_its_stage(runs, tiny_checkpoints):
    """A StyleGAN run's events carry resolution and alpha: the losses chart shades each stage
    (4x4, then 8x8 fading in, then 8x8) and the metric row says where the run is."""
    run_dir = fake_run(runs, tiny_checkpoints["dcgan"])
    stage = {s: (4, 1.0) if s <= 4 else (8, (s - 4) / 3) if s <= 6 else (8, 1.0) for s in range(1, 11)}
    lines = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    for line in lines:
        if "loss_g" in line:
            line["resolution"], line["alpha"] = stage[line["step"]]
    (run_dir / "events.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    at = open_page()
    no_exception(at)
    losses = json.loads(at.get("plotly_chart")[0].proto.spec)
    shades = [(s["x0"], s["x1"]) for s in losses["layout"]["shapes"] if s.get("type") == "rect" and s["xref"] == "x"]
    labels = [a["text"] for a in losses["layout"]["annotations"] if "x" in a["text"]]
    assert shades == [(0.5, 4.5), (4.5, 6.5), (6.5, 10.5)]
    assert labels[:3] == ["4x4", "8x8 fading in", "8x8"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Resolution"] == "8x8" and metrics["Fade-in α"] == "1.00"


def test_phases_split_resolutions_and_fade_ins():
    from studio.training_charts import phases

    steps = [1, 2, 3, 4, 5, 6]
    assert phases(steps, [4, 4, 8, 8, 8, None], [1, 1, 0.2, 0.6, 1, None]) == [
        (1, 2, 4, False), (3, 4, 8, True), (5, 5, 8, False)]
    assert phases(steps, [None] * 6, [None] * 6) == []


def test_a_run_with_fid_events_plots_them(runs, tiny_checkpoints):
    run_dir = fake_run(runs, tiny_checkpoints["dcgan"])
    with open(run_dir / "events.jsonl", "a") as events:
        for step, fid in ((5, 120.0), (10, 80.0)):
            events.write(json.dumps({"event": "fid", "step": step, "fid": fid, "fid_low": fid - 5, "fid_high": fid + 5,
                                     "kid": 0.1, "n": 1000, "extractor": "classifier:mnist-classifier@28px"}) + "\n")
    at = open_page()
    no_exception(at)
    charts = at.get("plotly_chart")
    assert len(charts) == 5
    figure = json.loads(charts[4].proto.spec)
    assert figure["data"][-1]["y"] == [120.0, 80.0] and "FID" in figure["layout"]["title"]["text"]


def test_recognisable_digits_are_called_so_only_at_the_bar(runs, tiny_checkpoints, monkeypatch):
    monkeypatch.setattr(live, "load_classifier", lambda: DigitClassifier(width=4).eval())
    cases = [(0.80, [0.1] * 10, True), (0.78, [0.1] * 10, False), (0.95, [0.2] * 5 + [0.0] * 5, False)]
    for number, (share, spread, called) in enumerate(cases):  # a run each: the page caches per checkpoint
        if number:
            shutil.rmtree(runs / f"run-{number - 1}")
        fake_run(runs, tiny_checkpoints["dcgan"], run_id=f"run-{number}", steps=2000)
        quality = {"diversity": 0.3, "samples": 256, "histogram": spread, "confident_share": share, "real_confident_share": 0.98}
        monkeypatch.setattr(live, "checkpoint_quality", lambda *args, q=quality, **kwargs: q)
        shown = texts(open_page())
        assert f"**{share:.0%}** of these samples" in shown
        assert ("**recognisable digits**" in shown) is called
