"""The bundle trainer (python -m training.bundle): it chooses a checkpoint on the selection seed
only, measures the report seed once, after choosing, and writes that number on the card whatever
it is; --below-bar writes a card that says the model misses its bar."""

from __future__ import annotations

import dataclasses
import json
import os
import re
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

    Step 3 always fails a second condition on the selection set, so a high score there cannot make
    it pass. passes: quality >= 0.5 (and that condition); score: quality.
    """

    def __init__(self, run: Path, selection: dict[int, float], report: dict[int, float]):
        self.weights = {step: load(path).model.state_dict() for step, path in RunDir(run).list_checkpoints()}
        self.numbers = {**{(step, B.SELECT_SEED): q for step, q in selection.items()},
                        **{(step, B.REPORT_SEED): q for step, q in report.items()}}
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


SELECTION = {1: 0.6, 2: 0.9, 3: 0.95}  # step 2 is the best that passes; step 3 scores higher but fails
CASES = {  # (selection, report numbers, the step to bundle, how many pass on the selection set)
    # a bundler that tried checkpoints on the report set until one passed would take step 1 or 3
    "passes": (SELECTION, {1: 0.7, 2: 0.8, 3: 0.99}, 2, 2),
    "misses on the report set": (SELECTION, {1: 0.7, 2: 0.4, 3: 0.99}, 2, 2),
    "misses on the selection set": ({1: 0.2, 2: 0.3, 3: 0.95}, {1: 0.7, 2: 0.9, 3: 0.3}, 3, 0),
}


def card_text(folder: Path) -> tuple[str, str]:
    """(the card's text before 'How it was made', the section itself), title and front matter left out."""
    card = (folder / "README.md").read_text()
    body = card.split("\n# ", 1)[1].split("\n", 1)[1].lstrip()
    lead, made = body.split("## How it was made", 1)
    return lead, made


@pytest.mark.parametrize("case", list(CASES))
def test_bundle_chooses_on_the_selection_seed_and_measures_the_report_seed_once(
        case, three_checkpoint_run, judges, monkeypatch, capsys):
    selection, report, chosen, passed = CASES[case]
    scripted = Scripted(three_checkpoint_run, selection, report)
    monkeypatch.setitem(B.BUNDLES, "mnist-dcgan", scripted.bundle())
    argv = ["mnist-dcgan", "--from-run", str(three_checkpoint_run), "--out", str(judges),
            "--sample-extractor", "classifier:mnist-classifier"]
    every_candidate = [(1, B.SELECT_SEED), (2, B.SELECT_SEED), (3, B.SELECT_SEED)]
    meets = report[chosen] >= 0.5
    written = judges / "mnist-dcgan"

    code = B.main(argv)
    if case == "passes":
        assert code == 0
    else:  # nothing is written, and no other checkpoint is tried on the report set
        assert code == 1 and not written.exists()
        error = capsys.readouterr().err
        if passed:
            assert scripted.calls == [*every_candidate, (chosen, B.REPORT_SEED)]
            assert f"step {chosen}, the best on the selection set, misses the bar on the report set" in error
        else:
            assert scripted.calls == every_candidate  # the report seed is not even measured
            assert "none of the 3 checkpoints" in error
        scripted.calls.clear()
        assert B.main([*argv, "--below-bar"]) == 0
    # every candidate on the selection seed, then the chosen one once on the report seed
    assert scripted.calls == [*every_candidate, (chosen, B.REPORT_SEED)]

    config = json.loads((written / "config.json").read_text())["studio"]
    assert config["metrics"] == {"quality": report[chosen], "valid": 1}  # the report number, whatever it is
    assert config["meets_bar"] is meets
    assert torch.equal(load(written).model.state_dict()["generator.main.0.weight"],
                       scripted.weights[chosen]["generator.main.0.weight"])
    lead, made = card_text(written)
    # first what the model does and how good it is, then how it was made and chosen
    assert lead.startswith(get_recipe("mnist-dcgan").description)
    assert f"Its quality is {report[chosen]}." in lead
    assert ("**It does not meet its bar**" in lead) is not meets and ("It meets its bar" in lead) is meets
    assert "Trained with" not in lead and "Trained with `python -m training.bundle mnist-dcgan`" in made
    assert f"step {chosen}" in made and "run's 3 checkpoints" in made and "the scripted selection set" in made
    assert (f"{passed} passed the bar there" if passed else "none passed the bar there") in made
    assert "once, on the report set" in made
    # the card's sample metrics: FID and KID of 1,000 report-seed samples in the digit classifier's features
    sample = config["sample_metrics"]["classifier"]
    assert sample["n"] == 1000 and sample["seed"] == B.REPORT_SEED and sample["fid"]["interval"][0] <= sample["fid"]["value"]
    assert f"{sample['fid']['value']:.2f}" in (written / "README.md").read_text().split("## Sample metrics")[1]


@pytest.mark.parametrize("layout", ["sections", "before sections"])
def test_remeasure_rewrites_the_numbers_once_and_keeps_how_it_was_made(
        layout, three_checkpoint_run, judges, monkeypatch):
    """After a judge is retrained, --remeasure measures the bundled checkpoint once on the report
    seed with today's judge: the card's numbers, verdict and config change, the weights do not, and
    how it was made stays (an older card's opening paragraph moves into that section)."""
    from studio.checkpoints import save
    from training import card_metrics

    scripted = Scripted(three_checkpoint_run, SELECTION, {1: 0.7, 2: 0.3, 3: 0.99})
    monkeypatch.setitem(B.BUNDLES, "mnist-dcgan", scripted.bundle())
    extractors = []
    monkeypatch.setattr(card_metrics, "remeasure", lambda target, names: extractors.append(names))
    description = get_recipe("mnist-dcgan").description
    old = (f"{description}. Its quality is 0.8. It meets its bar: quality >= 0.5.\n\n## How it was made\n\n"
           f"Trained for the test; step 2 was chosen on the selection set." if layout == "sections" else
           f"{description}. Trained for the test; this is the checkpoint of step 2.\n\nTraining took 1.0 min.")
    model = load(RunDir(three_checkpoint_run).list_checkpoints()[1][1]).model
    written = save(model, judges / "mnist-dcgan", metadata={
        "recipe": "mnist-dcgan", "metrics": {"quality": 0.8, "valid": 1}, "meets_bar": True, "description": old,
        "sample_metrics": {"classifier": {"stale": True}}})

    code = B.main(["mnist-dcgan", "--out", str(judges), "--remeasure", "the judge was retrained."])
    assert code == 0 and scripted.calls == [(2, B.REPORT_SEED)]  # once, on the report seed
    studio = json.loads((written / "config.json").read_text())["studio"]
    assert studio["metrics"] == {"quality": 0.3, "valid": 1} and studio["meets_bar"] is False
    assert "sample_metrics" not in studio and len(extractors) == 1  # FID/KID measured again too
    assert torch.equal(load(written).model.state_dict()["generator.main.0.weight"],
                       scripted.weights[2]["generator.main.0.weight"])
    lead, made = card_text(written)
    assert lead.startswith(description) and "Its quality is 0.3." in lead and "**It does not meet its bar**" in lead
    assert "0.8" not in lead and "Trained for the test" not in lead
    if layout == "sections":
        assert "Trained for the test; step 2 was chosen on the selection set." in made
    else:
        assert "As its card said when it was bundled: Trained for the test; this is the checkpoint of step 2." in made
        assert "Training took 1.0 min." in made
    assert "the judge was retrained. The checkpoint was chosen with the judges of its time" in made


def test_remeasure_refuses_a_folder_without_a_bundle(tmp_path):
    with pytest.raises(SystemExit, match="not a bundled checkpoint"):
        B.main(["mnist-dcgan", "--out", str(tmp_path), "--remeasure", "why"])


def test_bundle_cli_on_a_tiny_recipe_writes_a_below_bar_card_that_a_fresh_measurement_repeats(tmp_path, judges):
    sets = [arg for key, value in TINY_DCGAN.items() for arg in ("--set", f"{key}={value}")]
    command = [sys.executable, "-m", "training.bundle", "mnist-dcgan", "--out", str(judges),
               "--runs", str(tmp_path / "runs"), "--steps", "2", "--checkpoint-every", "1", "--below-bar",
               "--sample-extractor", "classifier:mnist-classifier", *sets]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    # two untrained checkpoints: neither draws the ten digits evenly
    assert len(re.findall(r"^step +[12]: fail", done.stdout, re.M)) == 2
    assert len(re.findall(r"^step +2 on the report set: fail", done.stdout, re.M)) == 1
    written = judges / "mnist-dcgan"
    loaded = load(written)
    assert loaded.meta["meets_bar"] is False
    lead, made = card_text(written)
    assert "**It does not meet its bar**" in lead and "none passed the bar there" in made

    fresh = B.measure_coverage(loaded.model, judges, B.REPORT_SEED)
    numbers = {k: v for k, v in fresh.items() if isinstance(v, (int, float))}
    assert loaded.meta["metrics"] == numbers
    card = (written / "README.md").read_text()
    assert all(f"| {k} | {v:.4g} |" in card for k, v in numbers.items())


class Replay(torch.nn.Module):
    """A "generator" whose samples are given images: sample i of a seed is ``images[i]``."""

    family, latent_dim = "dcgan", 1

    def __init__(self, images: torch.Tensor):
        super().__init__()
        self.images = images
        self.dummy = torch.nn.Parameter(torch.zeros(()))

    def sample_latent(self, n, seed=None):
        return torch.arange(n, dtype=torch.float32)[:, None] % len(self.images)

    def generate(self, z, labels=None):
        return self.images[z[:, 0].long()]


def test_the_mnist_gan_bar_asks_for_digits_the_classifier_is_sure_of(judges):
    """Real held-out digits drawn as samples are as confident as the real digits and pass; blends of
    two real digits (half of one digit, half of another) are smudges the classifier is unsure of, and
    fail the bar on confidence even with the real digits' even coverage."""
    from studio.data import mnist

    real = mnist("test").images  # (1000, 1, 28, 28), 100 of each digit
    shuffled = real[torch.randperm(len(real), generator=torch.Generator().manual_seed(0))]
    honest = B.measure_coverage(Replay(shuffled), judges, B.REPORT_SEED)
    assert honest["confident_share"] == honest["real_confident_share"] > 0.95  # the same 1,000 digits
    assert honest["classes_in_5_to_15_percent"] == 10
    assert B.BUNDLES["mnist-dcgan"].passes(honest) and B.BUNDLES["mnist-wgangp"].passes(honest)

    blends = 0.5 * (shuffled + shuffled.roll(1, 0))
    smudged = B.measure_coverage(Replay(blends), judges, B.REPORT_SEED)
    assert smudged["real_confident_share"] == honest["real_confident_share"]
    assert smudged["confident_share"] < 0.8 * smudged["real_confident_share"]
    coverage = ("min_class_fraction", "max_class_fraction", "classes_in_5_to_15_percent", "class_fractions")
    even_smudges = {**smudged, **{key: honest[key] for key in coverage}}  # coverage alone would let them through
    assert B._coverage_ok(even_smudges)
    assert not B.BUNDLES["mnist-dcgan"].passes(even_smudges) and not B.BUNDLES["mnist-wgangp"].passes(even_smudges)
    # the threshold is 0.8 x the real share, not a fixed number
    edge = {**honest, "confident_share": 0.8 * honest["real_confident_share"]}
    assert B.BUNDLES["mnist-dcgan"].passes(edge)
    assert not B.BUNDLES["mnist-dcgan"].passes({**edge, "confident_share": edge["confident_share"] - 0.002})
    # the summary on the card says both shares
    summary = B.BUNDLES["mnist-dcgan"].summary(honest)
    assert f"{100 * honest['confident_share']:.1f}% of the samples" in summary and "held-out real test digits" in summary
    assert "0.8 x" in B.BUNDLES["mnist-dcgan"].bar
