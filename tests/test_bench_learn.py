"""``python -m bench learn``: the bar it times to, the race, and the course loop it races against.

Timings never appear here; these check that the benchmark measures what it says it measures.
"""

from __future__ import annotations

import time

import pytest
import torch

from bench import learn
from studio.data import mnist


@pytest.fixture(scope="module")
def judge():
    return learn.Judge()


def test_real_digits_pass_the_bar(judge):
    passed, share, in_range = judge(mnist("test").images)
    assert passed and in_range == 10
    assert share == pytest.approx(judge.real_share)
    assert judge.bar == pytest.approx(learn.CONFIDENT_RATIO * judge.real_share)


def test_one_crisp_digit_drawn_a_thousand_times_fails_the_bar(judge):
    """A collapsed G draws digits the judge is sure of; the coverage half of the bar catches it."""
    digits = mnist("test")
    one = digits.images[(digits.targets == 3).nonzero()[0, 0]]
    passed, share, in_range = judge(one.expand(1000, -1, -1, -1))
    assert share > 0.9 and in_range == 0 and not passed


def test_noise_and_blurred_digits_fail_the_bar(judge):
    noise = torch.rand(1000, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert not judge(noise)[0]
    # every digit present, but mixed with another: the confident half of the bar catches it
    images = mnist("test").images  # sorted by digit: pair each with a random other one
    blends = (images + images[torch.randperm(len(images), generator=torch.Generator().manual_seed(0))]) / 2
    passed, share, in_range = judge(blends)
    assert not passed and share < judge.bar


class Scripted:
    """A candidate whose verdicts are given in advance, one per look."""

    def __init__(self, name, verdicts):
        self.name, self.verdicts, self.steps, self.trained = name, list(verdicts), 0, []

    def train_for(self, seconds):
        self.trained.append(seconds)
        self.steps += 1
        return seconds

    def judge(self, judge):
        return self.verdicts.pop(0)


def test_the_race_stops_each_candidate_at_its_bar_or_limit():
    fast = Scripted("fast", [(False, 0.5, 8, "eval"), (True, 0.8, 10, "eval")])
    slow = Scripted("slow", [(False, 0.1 * i, 5, "eval") for i in range(10)])
    results = learn.race([fast, slow], judge=None, limit=25.0, chunk=10.0)
    assert results["fast"] == {"seconds": 20.0, "passed": True, "share": 0.8, "in_range": 10, "mode": "eval", "steps": 2}
    assert slow.trained == [10.0, 10.0, 5.0]  # never past the limit
    assert not results["slow"]["passed"] and results["slow"]["seconds"] == 25.0


def test_the_course_loop_is_the_notebook():
    """Its init draws BatchNorm scales around 0 (the notebook's quirk); its loader yields short last batches;
    its D step separates this batch's reals from fakes a little (the notebook's D learns)."""
    course = learn.Course(seed=0)
    scales = torch.cat([m.weight.detach() for m in course.gen.modules() if isinstance(m, torch.nn.BatchNorm2d)])
    assert scales.abs().mean() < 0.05
    sizes = [len(course._batch()) for _ in range(40)]
    assert sizes[:39] == [128] * 39 and sizes[39] == 5000 - 39 * 128
    real = course.images[:128]
    fixed = course._noise(128)

    def gap():
        with torch.no_grad():
            return (course.disc(real).mean() - course.disc(course.gen(fixed)).mean()).item()

    before = gap()
    for _ in range(5):
        course.step()
    assert course.steps == 5
    assert gap() > before


def test_the_tab_clock_reads_the_verdict_the_tab_shows_on_the_newest_checkpoint(tmp_path):
    """--tab: a run started as the training tab starts it, read after a wall time: the newest
    checkpoint then, and the trainer's verdict on it (what the tab's histogram and caption show)."""
    from studio import live
    from studio.audit.quality import meets_digit_bar
    from training import read_events

    tiny = ("model.width=4", "model.disc_width=4", "model.latent_dim=8", "batch_size=8", "checkpoint_every=5",
            "keep_checkpoints=0", "sample_every=0")
    shown = learn.tab_clock("mnist-dcgan", 3, 12.0, tmp_path, tiny)
    run_dir = tmp_path / "bench-tab-mnist-dcgan-3"
    assert not live.read_run(run_dir).live  # stopped after reading
    events = read_events(run_dir)
    assert shown["checkpoint"] is not None and shown["checkpoint"] % 5 == 0 and shown["steps"] >= shown["checkpoint"]
    later = [e["step"] for e in events if e.get("event") == "checkpoint" and e["step"] > shown["checkpoint"]]
    assert all(step >= shown["steps"] for step in later)  # it read the newest: any later one came with the stop
    verdict = live.logged_quality(events, shown["checkpoint"])
    assert shown["share"] == verdict["confident_share"] and shown["real"] == verdict["real_confident_share"]
    assert shown["passed"] is meets_digit_bar(verdict["confident_share"], verdict["real_confident_share"],
                                              verdict["histogram"]) is False  # a width-4 G after seconds
    assert 0 < shown["first_step_s"] < 12 and shown["bar_after_s"] is None  # never at the bar


def test_the_tab_clock_says_when_the_tab_first_showed_the_bar(tmp_path, monkeypatch):
    """With a limit past SECONDS it keeps looking once a second; the first look at the bar is the time."""
    real_view, looks = learn._tab_view, []

    def view(log):  # the real view, at the bar from the fourth look on
        looks.append(time.monotonic())
        return {**real_view(log), **({"passed": True} if len(looks) >= 4 else {})}

    monkeypatch.setattr(learn, "_tab_view", view)
    tiny = ("model.width=4", "model.disc_width=4", "model.latent_dim=8", "batch_size=8", "checkpoint_every=5")
    shown = learn.tab_clock("mnist-dcgan", 0, 2.0, tmp_path, tiny, limit=30.0)
    assert 2.5 < shown["bar_after_s"] < 6 and len(looks) == 4  # looks at ~0, 1, 2 (the snapshot), 3 s: then stops
    assert shown["passed"] is False  # at 2 s the tab did not show it yet
