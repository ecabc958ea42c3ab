"""The bundle trainer (python -m training.bundle): it chooses a checkpoint on the selection seed
only, measures the report seed once, after choosing, and writes that number on the card whatever
it is; --below-bar writes a card that says the model misses its bar."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from studio.checkpoints import load
from training import apply_overrides, get_recipe, train
from training import bundle as B
from training.runs import RunDir

ROOT = Path(__file__).resolve().parents[1]
TINY_DCGAN = {"model.width": "4", "model.disc_width": "4", "model.latent_dim": "8", "batch_size": "8",
              "sample_every": "0"}


@pytest.fixture
def judges(tmp_path) -> Path:
    """A checkpoints folder holding the bundled mnist-classifier, which judges the digit GANs."""
    out = tmp_path / "checkpoints"
    shutil.copytree(ROOT / "checkpoints" / "mnist-classifier", out / "mnist-classifier")
    return out


@pytest.fixture(scope="module")
def three_checkpoint_run(tmp_path_factory) -> Path:
    """A tiny mnist-dcgan run with checkpoints at steps 1, 2 and 3."""
    settings = {**TINY_DCGAN, "steps": "3", "checkpoint_every": "1", "keep_checkpoints": "0"}
    recipe = apply_overrides(get_recipe("mnist-dcgan"), [f"{k}={v}" for k, v in settings.items()])
    out = tmp_path_factory.mktemp("runs")
    train(recipe, out=out, run_id="three")
    return out / "three"


class Scripted:
    """A measure whose numbers are scripted per (checkpoint step, seed); it records every call.

    The candidates: step 3 scores highest on the selection set but fails its other condition;
    step 2 is the best that passes there; on the report set step 1 would pass and step 3 too.
    A bundler that tried checkpoints on the report set until one passed would end on step 1.
    """

    def __init__(self, run: Path, report_quality_of_step_2: float):
        self.weights = {step: load(path).model.state_dict() for step, path in RunDir(run).list_checkpoints()}
        self.numbers = {
            (1, B.SELECT_SEED): 0.6, (2, B.SELECT_SEED): 0.9, (3, B.SELECT_SEED): 0.95,
            (1, B.REPORT_SEED): 0.7, (2, B.REPORT_SEED): report_quality_of_step_2, (3, B.REPORT_SEED): 0.99,
        }
        self.calls: list[tuple[int, int]] = []

    def step_of(self, model) -> int:
        state = model.state_dict()
        return next(step for step, saved in self.weights.items()
                    if all(torch.equal(saved[k], state[k]) for k in saved))

    def measure(self, model, checkpoints: Path, seed: int) -> dict:
        step = self.step_of(model)
        self.calls.append((step, seed))
        return {"quality": self.numbers[step, seed], "valid": int(not (step == 3 and seed == B.SELECT_SEED))}

    def bundle(self) -> B.Bundle:
        return dataclasses.replace(
            B.BUNDLES["mnist-dcgan"], measure=self.measure, passes=lambda m: m["quality"] >= 0.5 and m["valid"] == 1,
            score=lambda m: m["quality"], bar="quality >= 0.5", summary=lambda m: f"Its quality is {m['quality']}.",
            selection_set="the scripted selection set", score_words="the highest quality")


def card_text(folder: Path) -> tuple[str, str]:
    """(the card's text before 'How it was made', the section itself), title and front matter left out."""
    card = (folder / "README.md").read_text()
    body = card.split("\n# ", 1)[1].split("\n", 1)[1].lstrip()
    lead, made = body.split("## How it was made", 1)
    return lead, made


@pytest.mark.parametrize("report_quality", [0.8, 0.4])
def test_bundle_chooses_on_the_selection_seed_and_measures_the_report_seed_once(
        report_quality, three_checkpoint_run, judges, monkeypatch, capsys):
    scripted = Scripted(three_checkpoint_run, report_quality)
    monkeypatch.setitem(B.BUNDLES, "mnist-dcgan", scripted.bundle())
    argv = ["mnist-dcgan", "--from-run", str(three_checkpoint_run), "--out", str(judges)]
    passes = report_quality >= 0.5

    code = B.main(argv)
    # every candidate on the selection seed, then the chosen one (the best passing there) once on the report seed
    assert scripted.calls == [(1, B.SELECT_SEED), (2, B.SELECT_SEED), (3, B.SELECT_SEED), (2, B.REPORT_SEED)]
    written = judges / "mnist-dcgan"
    if not passes:  # the choice misses the bar on the report set: no other checkpoint is tried
        assert code == 1 and not written.exists()
        assert "step 2, the best on the selection set, misses the bar on the report set" in capsys.readouterr().err
        scripted.calls.clear()
        assert B.main([*argv, "--below-bar"]) == 0
        assert scripted.calls[-1] == (2, B.REPORT_SEED) and scripted.calls.count((2, B.REPORT_SEED)) == 1
    else:
        assert code == 0

    config = json.loads((written / "config.json").read_text())["studio"]
    assert config["metrics"] == {"quality": report_quality, "valid": 1}  # the report number, whatever it is
    assert config["meets_bar"] is passes
    assert torch.equal(load(written).model.state_dict()["generator.main.0.weight"],
                       scripted.weights[2]["generator.main.0.weight"])
    lead, made = card_text(written)
    # first what the model does and how good it is, then how it was made and chosen
    assert lead.startswith(get_recipe("mnist-dcgan").description)
    assert f"Its quality is {report_quality}." in lead
    assert ("**It does not meet its bar**" in lead) is not passes and ("It meets its bar" in lead) is passes
    assert "step 2" in made and "3 checkpoints" in made and "2 passed the bar" in made
    assert "the scripted selection set" in made and "once, on the report set" in made
    assert "Trained with" not in lead and "Trained with `python -m training.bundle mnist-dcgan`" in made


def test_bundle_cli_on_a_tiny_recipe_writes_what_a_fresh_measurement_repeats(tmp_path, judges):
    sets = [arg for key, value in TINY_DCGAN.items() for arg in ("--set", f"{key}={value}")]
    command = [sys.executable, "-m", "training.bundle", "mnist-dcgan", "--out", str(judges),
               "--runs", str(tmp_path / "runs"), "--steps", "2", "--checkpoint-every", "1", *sets]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    # two untrained checkpoints: neither draws ten digits evenly, so nothing is written
    assert done.returncode == 1, done.stderr[-3000:]
    assert "none of the 2 checkpoints" in done.stderr and not (judges / "mnist-dcgan").exists()
    assert "on the report set" not in done.stdout  # the report seed is not even measured

    (run,) = (tmp_path / "runs").iterdir()
    assert B.main(["mnist-dcgan", "--from-run", str(run), "--out", str(judges), "--below-bar"]) == 0
    written = judges / "mnist-dcgan"
    loaded = load(written)
    assert loaded.meta["meets_bar"] is False
    lead, made = card_text(written)
    assert "**It does not meet its bar**" in lead and "none passed the bar there" in made

    fresh = B.measure_coverage(loaded.model, judges, B.REPORT_SEED)
    recorded = loaded.meta["metrics"]
    numbers = {k: v for k, v in fresh.items() if isinstance(v, (int, float))}
    assert recorded == pytest.approx(numbers, abs=0, rel=0)
    card = (written / "README.md").read_text()
    assert all(f"| {k} | {v:.4g} |" in card for k, v in numbers.items())
