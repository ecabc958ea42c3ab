"""The training engine end to end on tiny configs: every recipe, resume, crashes, NaN, stop."""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from studio.audit import quality
from studio.checkpoints import load
from training import RECIPES, apply_overrides, get_recipe, read_events, read_status, train
from training.__main__ import main
from training.recipes import RecipeError
from training.runs import RunDir, load_training_state

ROOT = Path(__file__).resolve().parents[1]
CONV = {"model.width": "4", "model.disc_width": "4", "model.latent_dim": "8"}
TINY = {  # per recipe: the smallest model that still runs every code path
    "mnist-mlp": {"model.hidden_dim": "8", "model.latent_dim": "8"},
    "mnist-dcgan": CONV,
    "mnist-wgangp": {**CONV, "n_critic": "2"},
    "mnist-cgan": CONV,
    "mnist-acgan": CONV,
    "mnist-infogan": {"model.width": "4", "model.disc_width": "4", "model.noise_dim": "6"},
    "mnist-classifier": {"model.width": "4"},
    "horse-zebra-classifier": {"model.width": "4"},
    "folder-dcgan": {**CONV, "image_size": "32"},
    "animals-dcgan": CONV,
    "maps-pix2pix": {"image_size": "64", "model.ngf": "4", "model.ndf": "4", "model.head": "4"},
    "horse2zebra-cyclegan": {"model.ngf": "4", "model.ndf": "4", "model.n_blocks": "1"},
    "maps-unet": {"image_size": "64", "model.width": "4", "model.depth": "2", "data_count": "8"},
    "faces-attributes": {"model.width": "4", "data_count": "16"},
    "faces-dcgan": {"model.width": "4", "model.latent_dim": "8", "data_count": "16"},
    "faces-dcgan-sharp": {"model.width": "4", "model.disc_width": "4", "model.latent_dim": "8", "data_count": "16"},
    "mnist-stylegan": {**CONV, "model.w_dim": "8", "model.mapping_layers": "2", "phase_steps": "1", "fade_steps": "1"},
    "faces-stylegan": {**CONV, "model.w_dim": "8", "model.mapping_layers": "2", "phase_steps": "1", "fade_steps": "1",
                       "data_count": "16"},
}
COMMON = {"batch_size": "8", "steps": "3", "sample_every": "2", "checkpoint_every": "2", "sample_count": "16"}


def tiny(name: str, **extra):
    settings = {**COMMON, **TINY[name], **{k: str(v) for k, v in extra.items()}}
    return apply_overrides(get_recipe(name), [f"{k}={v}" for k, v in settings.items()])


def metric_lines(run_dir) -> list[dict]:
    return [e for e in read_events(run_dir) if "event" not in e]


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> Path:
    """Ten 100x100 RGB pictures: folder-dcgan resizes them to its (supported) image size."""
    folder = tmp_path_factory.mktemp("pictures")
    rng = np.random.default_rng(0)
    for i in range(10):
        Image.fromarray(rng.integers(0, 255, (100, 100, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def test_every_recipe_is_tested():
    assert set(TINY) == set(RECIPES)


@pytest.mark.parametrize("name", list(TINY))
def test_recipe_runs_logs_samples_and_checkpoints(name, tmp_path, image_folder):
    extra = {"data_path": str(image_folder)} if name == "folder-dcgan" else {}
    recipe = tiny(name, **extra)
    seen = []
    result = train(recipe, out=tmp_path, run_id="run", on_event=seen.append)
    run = tmp_path / "run"
    assert result.status == "finished" and result.step == 3
    lines = metric_lines(run)
    assert [e["step"] for e in lines] == [1, 2, 3]
    assert seen == read_events(run)  # the callback saw exactly what was written
    if recipe.family in ("classifier", "attributes"):
        expected = {"loss", "accuracy", "grad_norm", "lr"}
    elif recipe.family == "unet":
        expected = {"loss", "pixel_accuracy", "grad_norm", "lr"}
    else:
        expected = {"loss_g", "loss_d", "d_real", "d_fake", "grad_norm_g", "grad_norm_d", "lr_g", "lr_d"}
    if recipe.loss == "wgan-gp":
        expected |= {"wasserstein", "gradient_penalty"}
    for event in lines:
        assert expected | {"step", "time", "images_per_s", "memory_mb"} <= set(event)
        assert all(math.isfinite(event[k]) for k in expected)
    status = read_status(run)
    assert status["status"] == "finished" and status["step"] == 3 and status["config"]["name"] == name
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-00000002", "step-00000003"]

    loaded = load(run)  # the run directory, as the studio's other tabs open it
    assert loaded.meta["step"] == 3 and loaded.model.family == recipe.family
    if recipe.family == "classifier":
        assert 0.0 <= loaded.meta["metrics"]["heldout_accuracy"] <= 1.0
        size, classes = recipe.image_size, len(loaded.meta["class_names"])
        assert loaded.model(torch.zeros(2, 1, size, size)).shape == (2, classes)
    elif recipe.family == "attributes":  # multi-label: one logit per attribute
        assert loaded.model(torch.zeros(2, 3, recipe.image_size, recipe.image_size)).shape == (2, 5)
        assert loaded.meta["class_names"] == ["hat", "glasses", "smiling", "beard", "dark_skin"]
    elif recipe.family == "unet":  # segmentation: one logit per map class and pixel
        size = recipe.image_size
        assert loaded.model(torch.zeros(2, 3, size, size)).shape == (2, 8, size, size)
        assert loaded.model.segment(torch.zeros(2, 3, size, size)).shape == (2, size, size)
    else:
        size = recipe.image_size
        shape = (2, recipe.channels, size, size)
        if recipe.family in ("pix2pix", "cyclegan"):
            assert loaded.model.translate(torch.zeros(shape)).shape == shape
        else:
            assert loaded.model.sample(2, seed=0).shape == shape
        assert (run / "samples" / "step-00000002.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (run / "checkpoints" / "step-00000003" / "samples.png").is_file()


@pytest.mark.parametrize(
    "name, extra",
    [
        # n_critic 2 + gradient penalty: two batches per step and torch.rand inside the loss
        ("mnist-wgangp", {}),
        # every trick that draws random numbers, and a conditional model
        ("mnist-cgan", {"label_smoothing": 0.1, "d_label_flip": 0.1, "instance_noise": 0.1, "instance_noise_steps": 4}),
        # paired symmetries drawn per batch, learning rates decaying over the second half
        ("maps-pix2pix", {"pair_augment": True, "lr_decay": 0.5, "data_count": 20, "batch_size": 8}),
        # the checkpoint's G is an average of G's weights; the live G trains on from the training state
        ("mnist-dcgan", {"g_ema": 0.9}),
    ],
)
def test_resume_reproduces_an_uninterrupted_run(name, extra, tmp_path):
    # the 1,000 test digits in batches of 250: several epochs, so the data order crosses epochs
    extra = {"batch_size": 250, **extra}
    recipe = tiny(name, data_split="test", steps=6, checkpoint_every=3, sample_every=0, **extra)
    train(recipe, out=tmp_path, run_id="whole")
    calls = iter(range(1, 100))  # stopped after step 3 of the same 6-step recipe (its lr schedule spans 6)
    assert train(recipe, out=tmp_path, run_id="split", should_stop=lambda: next(calls) == 3).step == 3
    train(recipe, resume=tmp_path / "split")
    whole, split = metric_lines(tmp_path / "whole"), metric_lines(tmp_path / "split")
    assert [e["step"] for e in split] == [1, 2, 3, 4, 5, 6]
    keys = ["loss_g", "loss_d", "d_real", "d_fake", "grad_norm_g", "grad_norm_d", "epoch"]
    assert [[e[k] for k in keys] for e in split] == [[e[k] for k in keys] for e in whole]
    assert whole[-1]["epoch"] >= 1
    final = [load(tmp_path / run / "checkpoints" / "step-00000006").model.state_dict() for run in ("whole", "split")]
    assert all(torch.equal(final[0][key], final[1][key]) for key in final[0])  # the weights, EMA included
    if recipe.lr_decay:  # constant for the first 3 steps, then linearly down towards 0
        rates = [e["lr_g"] / recipe.lr_g for e in split]
        assert rates == [e["lr_g"] / recipe.lr_g for e in whole]
        assert rates[:3] == [1.0] * 3 and rates[3:] == pytest.approx([0.75, 0.5, 0.25])


def test_procedural_data_count_and_schedule_checks(tmp_path):
    from studio.errors import DataError
    from training.data import build_dataset

    assert len(build_dataset(tiny("maps-pix2pix", data_count=12))) == 12
    assert len(build_dataset(tiny("maps-pix2pix", data_count=0))) == 1000  # 0: MapsDataset's default
    with pytest.raises(DataError, match="data_count"):
        build_dataset(tiny("mnist-dcgan", data_count=12))  # 5,000 real digits: a fixed size
    for bad in ({"lr_decay": 1.5}, {"lr_decay": -0.1}, {"data_count": -1}):
        with pytest.raises(RecipeError):
            train(tiny("maps-pix2pix", **bad), out=tmp_path)


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    recipe = tiny("mnist-dcgan", steps=8, checkpoint_every=2, inject_nan_at=3)
    result = train(recipe, out=tmp_path, run_id="nan")
    run = tmp_path / "nan"
    assert result.status == "failed" and result.step == 3
    error = [e for e in read_events(run) if e.get("event") == "error"]
    assert len(error) == 1 and "nan" in error[0]["message"] and "step-00000002" in error[0]["message"]
    status = read_status(run)
    assert status["status"] == "failed" and "nan" in status["message"]
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step-00000002"]
    weights = load(run).model.state_dict()
    assert all(torch.isfinite(t).all() for t in weights.values() if t.is_floating_point())


def test_stop_file_finishes_the_step_and_checkpoints(tmp_path):
    recipe = tiny("mnist-dcgan", steps=1000, checkpoint_every=0)
    run = tmp_path / "stop"

    def request_stop(event):
        if event.get("step") == 3 and "event" not in event:
            (run / "STOP").touch()

    result = train(recipe, out=tmp_path, run_id="stop", on_event=request_stop)
    assert result.status == "stopped" and result.step == 3
    assert read_events(run)[-1]["event"] == "stopped"
    assert read_status(run)["status"] == "stopped"
    assert not (run / "STOP").exists()  # consumed, so a resume does not stop at once
    assert load(run).meta["step"] == 3


def _cli(*args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "training", *args, "--no-progress"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_step(run: Path, step: int, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"training exited early: {process.communicate()}")
        lines = metric_lines(run)
        if lines and lines[-1]["step"] >= step:
            return
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"no step {step} within {timeout} s")


def _tiny_cli_args(run_id: str, out: Path, **extra) -> list[str]:
    settings = {**COMMON, **CONV, "steps": "100000", "sample_every": "0", **{k: str(v) for k, v in extra.items()}}
    args = ["mnist-dcgan", "--out", str(out), "--run-id", run_id]
    for key, value in settings.items():
        args += ["--set", f"{key}={value}"]
    return args


def test_sigterm_checkpoints_and_exits_zero(tmp_path):
    process = _cli(*_tiny_cli_args("term", tmp_path, checkpoint_every=0))
    run = tmp_path / "term"
    _wait_for_step(run, 3, process)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert out.startswith("stopped mnist-dcgan")
    events = read_events(run)
    assert events[-1]["event"] == "stopped" and events[-2]["event"] == "checkpoint"
    assert load(run).meta["step"] == events[-1]["step"] == read_status(run)["step"]


def test_sigkill_mid_run_resumes_without_corruption_or_duplicates(tmp_path):
    process = _cli(*_tiny_cli_args("kill", tmp_path, checkpoint_every=3, keep_checkpoints=2))
    run = tmp_path / "kill"
    _wait_for_step(run, 10, process)
    process.kill()  # SIGKILL: no handler runs
    process.communicate()
    logged = metric_lines(run)[-1]["step"]
    checkpoints = RunDir(run).list_checkpoints()
    assert checkpoints and len(checkpoints) <= 2
    for step, path in checkpoints:  # every visible checkpoint is whole
        assert load(path).model.family == "dcgan"
        assert load_training_state(path)[1]["step"] == step
    resumed_from = checkpoints[-1][0]
    assert read_status(run)["status"] == "running"  # what a killed run leaves behind

    recipe = tiny("mnist-dcgan", steps=logged + 3)
    result = train(dataclasses.replace(recipe, **{"steps": logged + 3}), resume=run)
    assert result.status == "finished"
    events = read_events(run)
    steps = [e["step"] for e in events if "event" not in e]
    assert steps == list(range(1, logged + 4))  # steps after the checkpoint were logged once, again
    resumed = [e for e in events if e.get("event") == "resumed"]
    assert [e["step"] for e in resumed] == [resumed_from]
    assert not any(p.name.startswith(".tmp-") for p in (run / "checkpoints").iterdir())


def test_read_events_ignores_a_torn_last_line(tmp_path):
    (tmp_path / "events.jsonl").write_text('{"step": 1, "loss_g": 1.0}\n{"step": 2, "loss_g": 0.5}\n{"step": 3, "lo')
    assert [e["step"] for e in read_events(tmp_path)] == [1, 2]
    assert read_events(tmp_path / "missing") == []


def test_checkpoints_are_atomic_and_pruned(tmp_path):
    run = RunDir.create(tmp_path / "r")

    def broken(directory: Path) -> None:
        (directory / "config.json").write_text("{}")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        run.save_checkpoint(1, broken, keep=2)
    assert list(run.checkpoints.iterdir()) == []  # nothing half-written is left or visible
    for step in (1, 2, 3):
        run.save_checkpoint(step, lambda d: (d / "weights").write_text("x"), keep=2)
    assert [s for s, _ in run.list_checkpoints()] == [2, 3]


def test_overrides_are_parsed_by_field_type():
    recipe = apply_overrides(get_recipe("mnist-dcgan"),
                             ["lr_g=1e-3", "fuse_d=true", "steps=7", "model.width=8", "model.disc_width=none"])
    assert (recipe.lr_g, recipe.fuse_d, recipe.steps) == (1e-3, True, 7)
    assert recipe.model["width"] == 8 and recipe.model["disc_width"] is None
    for bad in (["steps=many"], ["nonsense=1"], ["model.nonsense=1"], ["fuse_d=maybe"], ["steps"]):
        with pytest.raises(RecipeError):
            apply_overrides(get_recipe("mnist-dcgan"), bad)
    # an optional list (list[int] | None): JSON list or none; a list's own arguments are no union
    layout = apply_overrides(get_recipe("mnist-dcgan"), ["model.extra_conv_at=[4, 8]"]).model["extra_conv_at"]
    assert layout == [4, 8]
    assert apply_overrides(get_recipe("mnist-dcgan"), ["model.extra_conv_at=none"]).model["extra_conv_at"] is None
    with pytest.raises(RecipeError, match="extra_conv_at"):
        apply_overrides(get_recipe("mnist-dcgan"), ["model.extra_conv_at=4"])


def test_cli_errors_are_one_line_with_exit_code_2(tmp_path, capsys):
    assert main(["--list"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in RECIPES)
    cases = [
        (["no-such-recipe"], "mnist-dcgan"),  # the message lists the recipes
        (["mnist-dcgan", "--set", "steps=x"], "expected an integer"),
        (["mnist-dcgan", "--set", "colour=red"], "unknown recipe key"),
        (["folder-dcgan"], "data_path"),
        (["folder-dcgan", "--set", f"data_path={tmp_path / 'nowhere'}", "--out", str(tmp_path)], "nowhere"),
        (["--resume", str(tmp_path / "no-run")], "not a training run"),
    ]
    for argv, needle in cases:
        assert main(argv + ["--no-progress"]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and needle in err and "\n" not in err, err


def test_quality_measures_on_known_inputs():
    class Oracle(torch.nn.Module):
        """Classifies by mean brightness into 10 bins: a classifier whose answers we know."""

        num_classes, channels, image_size = 10, 1, 28

        def __init__(self):
            super().__init__()
            self.dummy = torch.nn.Parameter(torch.zeros(()))

        def forward(self, x):
            level = ((x.mean((1, 2, 3)) + 1) / 2 * 10).clamp(0, 9.99).floor().long()
            return torch.nn.functional.one_hot(level, 10).float()

    class Painter(torch.nn.Module):
        """A "generator" drawing a flat image whose brightness encodes the class asked for."""

        num_classes, latent_dim = 10, 4

        def __init__(self):
            super().__init__()
            self.dummy = torch.nn.Parameter(torch.zeros(()))

        def sample_latent(self, n, seed=None):
            return torch.zeros(n, 4)

        def sample_labels(self, n, seed=None):
            return torch.arange(n) % 10

        def generate(self, z, labels):
            return ((labels.float() + 0.5) / 10 * 2 - 1)[:, None, None, None].expand(-1, 1, 28, 28)

    oracle, painter = Oracle(), Painter()
    assert quality.conditional_accuracy(painter, oracle, n=100) == 1.0
    coverage = quality.mode_coverage(painter, oracle, n=100)
    assert coverage["all_in_range"] and np.allclose(coverage["fractions"], 0.1)
    same = torch.zeros(5, 1, 28, 28)
    assert quality.class_histogram(same, oracle)[5] == 1.0
    assert not quality.mode_coverage(type("Collapsed", (Painter,), {"generate": lambda s, z, l: same[:1].expand(len(z), -1, -1, -1)})(), oracle, n=50)["all_in_range"]
    assert quality.diversity_score(same) == 0.0
    pair = torch.stack([-torch.ones(1, 2, 2), torch.ones(1, 2, 2)])
    assert quality.diversity_score(pair) == pytest.approx(2.0)
    assert quality.diversity_score(np.zeros((3, 4, 4), np.uint8)) == 0.0


def test_the_real_digits_share_is_measured_once_per_weights(monkeypatch):
    """The training tab asks at every checkpoint: the same weights are not measured twice, and a
    classifier trained further (its weights changed) is measured again, to its own number."""
    from studio.data import mnist
    from studio.models.classifier import DigitClassifier

    torch.manual_seed(0)
    judge = DigitClassifier(width=4).eval()
    measured, real = [], quality.confident_share
    # a low threshold, so that an untrained classifier's share is neither 0 nor 1 and moves with its weights
    monkeypatch.setattr(quality, "confident_share", lambda images, classifier: measured.append(1) or real(images, classifier, 0.15))
    first = quality.real_digits_confident_share(judge)
    assert quality.real_digits_confident_share(judge) == first and len(measured) == 1
    with torch.no_grad():
        for parameter in judge.parameters():
            parameter.mul_(3.0)
    second = quality.real_digits_confident_share(judge)
    assert len(measured) == 2 and second == real(mnist("test").images, judge, 0.15) and second != first


def test_init_from_starts_from_a_checkpoint_of_the_same_model(tmp_path):
    from training.loop import Trainer

    recipe = tiny("mnist-dcgan", data_split="test", steps=2, sample_every=0)
    first = train(recipe, out=tmp_path, run_id="first").checkpoint
    saved = load(first).model.state_dict()
    fresh = Trainer(recipe, run=None, device=torch.device("cpu")).model.state_dict()
    assert not all(torch.equal(fresh[key], saved[key]) for key in saved)
    started = Trainer(dataclasses.replace(recipe, init_from=str(first)), run=None, device=torch.device("cpu"))
    assert all(torch.equal(started.model.state_dict()[key], saved[key]) for key in saved)

    cgan = train(tiny("mnist-cgan", data_split="test", steps=1, sample_every=0), out=tmp_path, run_id="cgan").checkpoint
    with pytest.raises(RecipeError, match="is a cgan checkpoint; this recipe trains dcgan"):
        Trainer(dataclasses.replace(recipe, init_from=str(cgan)), run=None, device=torch.device("cpu"))
    wider = dataclasses.replace(recipe, model={**recipe.model, "width": 8}, init_from=str(first))
    with pytest.raises(RecipeError, match="does not fit the recipe's model"):
        Trainer(wider, run=None, device=torch.device("cpu"))
    with pytest.raises(RecipeError, match="g_ema must be in"):
        train(dataclasses.replace(recipe, g_ema=1.0), out=tmp_path, run_id="bad")
    with pytest.raises(RecipeError, match="has no generator"):
        Trainer(tiny("mnist-classifier", g_ema=0.9, sample_every=0), run=None, device=torch.device("cpu"))
