"""studio.live and studio.training_charts: run status, busy detection, commands, the incremental
event reader, health signals, charts, and one real tiny run started, stopped and resumed."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from studio import live
from studio.live import launch
from studio import training_charts as charts
from studio.errors import DataError
from training.recipes import RecipeError

TINY = {"batch_size": 8, "model.width": 4, "model.latent_dim": 8, "sample_every": 2, "checkpoint_every": 4}


def write_run(root: Path, run_id: str, **status) -> Path:
    """A run directory with a run.json as the engine writes it."""
    run_dir = root / run_id
    (run_dir / "checkpoints").mkdir(parents=True)
    config = {"name": "mnist-dcgan", "steps": 100, "loss": "nonsat", "dataset": "mnist", "channels": 1}
    data = {"id": run_id, "recipe": "mnist-dcgan", "config": config, "status": "running", "pid": None,
            "started": time.time(), "updated": time.time(), "step": 10, "message": "", **status}
    (run_dir / "run.json").write_text(json.dumps(data))
    return run_dir


def metric_line(step: int, **values) -> bytes:
    return (json.dumps({"step": step, "time": time.time(), **values}) + "\n").encode()


def finished_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


# ----------------------------------------------------------------------------- the event log


def test_event_log_reads_only_new_lines_and_waits_for_a_partial_one(tmp_path):
    events = tmp_path / "events.jsonl"
    events.write_bytes(b'{"event":"started","step":0}\n' + metric_line(1, loss_g=1.0, loss_d=2.0) + b'{"step":2,"loss_g":1.5')
    log = live.EventLog(tmp_path)
    assert log.update() == 2
    assert log.steps == [1] and log.columns["loss_g"] == [1.0]
    assert [m["event"] for m in log.markers] == ["started"]
    with open(events, "ab") as handle:  # the writer finishes the line, then adds one with a new metric
        handle.write(b',"loss_d":2.5}\n' + metric_line(3, loss_g=1.2, loss_d=2.2, wasserstein=0.3))
    assert log.update() == 2
    assert log.steps == [1, 2, 3]
    assert log.columns["loss_d"] == [2.0, 2.5, 2.2]
    assert log.columns["wasserstein"] == [None, None, 0.3]  # aligned with steps
    assert log.update() == 0
    steps, series = log.series("loss_g", "missing")
    assert steps == [1, 2, 3] and list(series) == ["loss_g"]


def test_event_log_starts_over_when_a_resume_rewrites_the_file(tmp_path):
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"".join(metric_line(s, loss_g=float(s)) for s in range(1, 6)) + b"not json\n")
    log = live.EventLog(tmp_path)
    assert log.update() == 5  # the torn line is skipped
    rewritten = tmp_path / "events.new"
    rewritten.write_bytes(b"".join(metric_line(s, loss_g=float(s)) for s in range(1, 4)))
    os.replace(rewritten, events)  # what the engine's resume does: keep steps <= checkpoint, new inode
    log.update()
    assert log.steps == [1, 2, 3]


def test_samples_lists_the_grids_on_disk(tmp_path):
    (tmp_path / "samples").mkdir()
    (tmp_path / "samples" / "step-00000004.png").write_bytes(b"png")
    (tmp_path / "events.jsonl").write_text(
        '{"event":"sample","step":2,"path":"samples/step-00000002.png"}\n'
        '{"event":"sample","step":4,"path":"samples/step-00000004.png"}\n')
    log = live.EventLog(tmp_path)
    log.update()
    assert log.samples() == [(4, tmp_path / "samples" / "step-00000004.png")]  # step 2's file is gone


# ----------------------------------------------------------------------------- status and busy


def test_a_running_run_whose_process_is_gone_is_reported_dead(tmp_path):
    assert live.read_run(write_run(tmp_path, "alive", pid=os.getpid())).status == "running"
    assert live.read_run(write_run(tmp_path, "dead", pid=finished_pid())).status == "died"
    # a pid that exists but was created after run.json was last written is a reused pid
    assert live.read_run(write_run(tmp_path, "reused", pid=os.getpid(), updated=1000.0)).status == "died"
    assert live.read_run(write_run(tmp_path, "done", status="finished", pid=None)).status == "finished"
    starting = tmp_path / "starting"
    starting.mkdir()
    assert live.read_run(starting).status == "starting"
    runs = live.list_runs(tmp_path)
    assert {r.id: r.status for r in runs} == {"alive": "running", "dead": "died", "reused": "died", "done": "finished"}
    assert not (tmp_path / "starting" / "run.json").exists()  # listed only once its process says something


def test_busy_counts_live_runs_against_the_limit(tmp_path, monkeypatch):
    write_run(tmp_path, "old", status="stopped")
    write_run(tmp_path, "gone", pid=finished_pid())
    assert live.busy(tmp_path, limit=1) is None
    write_run(tmp_path, "now", pid=os.getpid(), step=7)
    message = live.busy(tmp_path, limit=1)
    assert "now (step 7/100)" in message and live.MAX_RUNS_ENV in message
    assert live.busy(tmp_path, limit=2) is None
    monkeypatch.setenv(live.MAX_RUNS_ENV, "2")
    assert live.busy(tmp_path) is None
    monkeypatch.setenv(live.MAX_RUNS_ENV, "many")
    with pytest.raises(live.LaunchError, match="whole number"):
        live.busy(tmp_path)
    monkeypatch.setenv(live.MAX_RUNS_ENV, "1")
    with pytest.raises(live.RunsBusy, match="busy with now"):
        live.start_run("mnist-dcgan", TINY, steps=5, root=tmp_path, run_id="second")
    assert not (tmp_path / "second").exists()


# ----------------------------------------------------------------------------- settings -> command


def test_form_values_become_set_overrides_and_a_command(tmp_path):
    defaults = live.recipe_defaults("mnist-dcgan")
    assert defaults["loss"] == "hinge" and defaults["model.width"] == 32 and defaults["steps"] == 10000
    assert "model.latent_dim" not in live.recipe_defaults("mnist-infogan")  # InfoGAN has noise_dim
    values = {**defaults, "loss": "nonsat", "lr_d": 1e-4, "label_smoothing": 0.2, "model.width": 8, "steps": 50}
    overrides = live.overrides_for("mnist-dcgan", values)
    assert overrides == {"loss": "nonsat", "lr_d": 1e-4, "label_smoothing": 0.2, "model.width": 8}
    command = live.build_command("mnist-dcgan", overrides, out=tmp_path, run_id="r1", steps=50, device="cpu")
    assert command[:3] == [sys.executable, "-m", "training"]
    assert command[3:] == ["mnist-dcgan", "--out", str(tmp_path), "--run-id", "r1", "--no-progress", "--steps", "50",
                           "--device", "cpu", "--set", "loss=nonsat", "--set", "lr_d=0.0001", "--set",
                           "label_smoothing=0.2", "--set", "model.width=8"]
    assert live.command_text(command).startswith("python -m training mnist-dcgan")
    assert live.resume_command(tmp_path / "r1", steps=80)[3:] == ["--resume", str(tmp_path / "r1"), "--no-progress",
                                                                 "--steps", "80"]
    assert [live.format_value(v) for v in (True, 2e-4, {"a": 1}, 3)] == ["true", "0.0002", '{"a": 1}', "3"]
    assert live.resolve("mnist-dcgan", overrides, 50).loss == "nonsat"  # the engine parses what we write


def test_bad_settings_are_refused_before_any_process_starts(tmp_path):
    with pytest.raises(RecipeError, match="lr_g must be > 0"):
        live.start_run("mnist-dcgan", {"lr_g": 0.0}, root=tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        live.resolve(live.FOLDER_RECIPE, {"data_path": str(tmp_path / "nowhere")})
    with pytest.raises(live.LaunchError, match="run id"):
        live.start_run("mnist-dcgan", TINY, root=tmp_path, run_id="../escape")
    assert list(tmp_path.iterdir()) == []


def test_uploaded_zips_are_checked_and_kept_once(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("cats/1.png", b"not really a png")
    data = buffer.getvalue()
    path = live.save_data_upload("my photos.zip", data, root=tmp_path)
    assert path.read_bytes() == data and path.parent.parent == tmp_path / live.UPLOADS_DIR
    assert live.save_data_upload("my photos.zip", data, root=tmp_path) == path
    with pytest.raises(DataError, match="not a .zip"):
        live.save_data_upload("photo.png", data, root=tmp_path)
    with pytest.raises(DataError, match="not a readable zip"):
        live.save_data_upload("fake.zip", b"PK nope", root=tmp_path)
    with pytest.raises(DataError, match="over the upload limit"):
        live.save_data_upload("big.zip", data, root=tmp_path, max_bytes=10)
    assert live.check_data_path(str(path)) == path


# ----------------------------------------------------------------------------- health and device


def snapshot(n: int = 30, **columns) -> dict:
    return {"steps": list(range(1, n + 1)), "columns": {k: [v] * n for k, v in columns.items()}, "markers": [],
            "last": {"time": time.time()}}


def test_health_signals_name_what_is_wrong_and_why(tmp_path):
    run = live.read_run(write_run(tmp_path, "r", status="finished"))
    winning = live.health(snapshot(d_real=0.98, d_fake=0.01, loss_d=0.05, grad_norm_g=1.0), run)
    assert [s.title for s in winning] == ["Discriminator is winning: D(G(z)) near 0", "Discriminator loss near 0"]
    assert all(s.level == "warning" and s.why for s in winning)
    # seen in a real early DCGAN run: D(x) only 0.90 on average, but every fake rejected
    early = live.health(snapshot(d_real=0.895, d_fake=0.003, loss_d=0.4, grad_norm_g=5.0), run)
    assert [s.title for s in early] == ["Discriminator is winning: D(G(z)) near 0"]
    balanced = live.health(snapshot(d_real=0.6, d_fake=0.4, loss_d=1.2, grad_norm_g=1.0), run)
    assert [(s.level, s.title) for s in balanced] == [("ok", "Looks balanced")]
    nan = snapshot(d_real=0.6, d_fake=0.4)
    nan["markers"] = [{"event": "error", "step": 9, "message": "loss_g, loss_d became nan at step 9: training diverged"}]
    assert live.health(nan, run)[0].title == "Loss is NaN"
    one_class = {"histogram": [0.9] + [0.1 / 9] * 9, "diversity": 0.3}
    assert "Generator collapse?" not in [s.title for s in live.health(snapshot(), run, one_class)]  # no checkpoint yet
    (run.path / "checkpoints" / "step-00000400").mkdir()
    (run.path / "checkpoints" / "step-00000400" / "model.safetensors").touch()
    collapsed = live.health(snapshot(d_real=0.6, d_fake=0.4), live.read_run(run.path), one_class)
    assert "Generator collapse?" in [s.title for s in collapsed]
    assert live.BANDS["nonsat"].low < live.BANDS["nonsat"].equilibrium < live.BANDS["nonsat"].high


def test_device_stats_of_a_cpu_run_read_the_training_process(tmp_path):
    run = live.read_run(write_run(tmp_path, "r", pid=os.getpid(), device="cpu"))
    stats = live.device_stats(run, {"memory_mb": 12.0})
    assert stats["kind"] == "cpu" and stats["process_rss_mb"] > 12.0 and 0 < stats["ram_used_percent"] <= 100
    assert live.device_stats(live.read_run(write_run(tmp_path, "g", device="cuda:0")), {})["kind"] == "cuda"


def test_ema_thinning_and_charts():
    assert charts.ema([1.0, 2.0, None, 3.0], 0.0) == [1.0, 2.0, None, 3.0]
    smoothed = charts.ema([4.0, 0.0], 0.5)
    assert smoothed[0] == 4.0 and smoothed[1] == pytest.approx(4.0 / 3)  # debiased, not pulled to 0
    steps, values = charts.thin(list(range(10_001)), list(range(10_001)), max_points=100)
    assert len(steps) <= 102 and steps[-1] == 10_000 and values == steps
    figure = charts.curves_chart("Losses", {"G": ([1, 2, 3], [1.0, 0.5, 0.7]), "D": ([1, 2, 3], [1.3, 1.4, None])},
                                 smoothing=0.6, log_y=True, band=(0.5, 1.5, "balanced"))
    assert [t.name for t in figure.data] == ["G (raw)", "G", "D (raw)", "D"]
    assert figure.layout.yaxis.type == "log" and figure.layout.shapes[0].y0 == 0.5
    bars = charts.class_histogram_chart([0.5, 0.5])
    assert list(bars.data[0].y) == [0.5, 0.5]


# ----------------------------------------------------------------------------- real processes


def test_a_process_that_fails_says_why_in_its_run(tmp_path):
    empty = tmp_path / "no-images"
    empty.mkdir()
    run = live.start_run(live.FOLDER_RECIPE, {**TINY, "data_path": str(empty)}, steps=4, root=tmp_path / "runs",
                         device="cpu", run_id="empty")
    deadline = time.monotonic() + 60
    while run.live and time.monotonic() < deadline:  # start_run returns once the process runs: data comes after
        time.sleep(0.1)
        run = live.read_run(run.path)
    assert run.status == "failed" and str(empty) in run.message
    assert "error:" in live.tail_log(run.path)  # log.txt, moved into the run directory


def test_a_launch_refused_by_the_engine_raises_with_its_message(tmp_path, monkeypatch):
    monkeypatch.setattr(launch, "resolve", lambda *args, **kwargs: None)  # let a bad value through to the engine
    with pytest.raises(live.LaunchError, match="exited with code 2: .*lr_g must be > 0"):
        live.start_run("mnist-dcgan", {"lr_g": 0.0}, root=tmp_path, run_id="bad")
    assert not (tmp_path / "bad").exists() and not list((tmp_path / live.PENDING_DIR).iterdir())


def test_a_tiny_run_starts_stops_and_resumes_in_its_own_process(tmp_path):
    root = tmp_path / "runs"
    run = live.start_run("mnist-dcgan", TINY, steps=500, root=root, device="cpu", run_id="tiny")
    try:
        assert run.status == "running" and run.pid != os.getpid()
        assert os.getsid(run.pid) == run.pid  # its own session: signals to this process group miss it
        log = live.EventLog(run.path)
        deadline = time.monotonic() + 60
        while len(log.steps) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
            log.update()
        assert len(log.steps) >= 2
        live.stop_run(run.path)
        while live.read_run(run.path).live and time.monotonic() < deadline:
            time.sleep(0.2)
        stopped = live.read_run(run.path)
        assert stopped.status == "stopped" and stopped.checkpoints[-1] == stopped.step
        assert "stopped mnist-dcgan" in live.tail_log(run.path)  # log.txt moved into the run directory
        live.resume_run(run.path, steps=stopped.step + 2)
        while live.read_run(run.path).live and time.monotonic() < deadline:
            time.sleep(0.2)
        final = live.read_run(run.path)
        assert final.status == "finished" and final.step == stopped.step + 2
        log.update()
        assert log.steps == list(range(1, final.step + 1))
        assert [m["event"] for m in log.markers if m["event"] in ("started", "resumed")] == ["started", "resumed"]
    finally:
        live.stop_run(run.path)


def test_checkpoint_quality_judges_as_many_samples_as_the_bar_in_one_classifier_pass(tiny_checkpoints, monkeypatch):
    """The training tab's verdict is the bundled GANs' bar: 1,000 samples, histogram and confident
    share from the same classifier outputs as class_histogram and confident_share give."""
    import numpy as np
    import torch

    from studio import checkpoints, explore
    from studio.audit import quality
    from studio.models import DigitClassifier

    torch.manual_seed(1)
    judge = DigitClassifier(width=4).eval()
    with torch.no_grad():  # a classifier whose classes and confidence vary between samples
        for parameter in judge.parameters():
            parameter.mul_(2)
    passes = []
    real_probabilities = quality.probabilities
    monkeypatch.setattr(quality, "probabilities", lambda images, c: passes.append(len(images)) or real_probabilities(images, c))
    monkeypatch.setattr(quality, "real_digits_confident_share", lambda c: 0.985)
    measured = live.checkpoint_quality(tiny_checkpoints["dcgan"], judge)
    assert measured["samples"] == 1000 and passes == [1000]  # one pass, not one per statistic
    assert measured["diversity_samples"] == 500
    images = explore.samples(checkpoints.load(tiny_checkpoints["dcgan"], device="cpu").model, 1000, seed=0)
    monkeypatch.setattr(quality, "probabilities", real_probabilities)
    expected = quality.class_histogram(images, judge)
    assert np.allclose(measured["histogram"], expected) and 2 <= np.count_nonzero(expected)
    share = quality.confident_share(images, judge)
    assert measured["confident_share"] == pytest.approx(share) and 0 < share < 1
    assert measured["diversity"] == pytest.approx(quality.diversity_score(images[:500]))
