"""The cheap FID during training and the judged checkpoints (training/sample_quality.py): their events,
numbers and chart, and the training tab reading the verdict from the events."""

from __future__ import annotations

import json

import pytest

from studio import training_charts
from studio.checkpoints import load
from training import apply_overrides, get_recipe, read_events, train
from training.sample_quality import fid_event

TINY_DCGAN = ["model.width=4", "model.disc_width=4", "model.latent_dim=8", "batch_size=8", "steps=4",
              "sample_every=0", "checkpoint_every=2", "keep_checkpoints=0", "fid_samples=64"]


def run(tmp_path, name: str, fid_every: int):
    recipe = apply_overrides(get_recipe("mnist-dcgan"), [*TINY_DCGAN, f"fid_every={fid_every}"])
    train(recipe, out=tmp_path, run_id=name)
    return tmp_path / name


def test_fid_events_measure_the_checkpoint_of_their_step_and_leave_training_as_it_was(tmp_path):
    measured, plain = run(tmp_path, "fid", 2), run(tmp_path, "plain", 0)
    events = read_events(measured)
    fids = [e for e in events if e.get("event") == "fid"]
    assert [e["step"] for e in fids] == [2, 4] and all("error" not in e for e in fids)
    assert all(e["fid_low"] <= e["fid"] <= e["fid_high"] and e["n"] == 64 for e in fids)
    assert fids[0]["extractor"].startswith("classifier:mnist-classifier")
    # the number is the checkpoint's: the same FID measured afresh on the weights saved at that step
    again = fid_event(load(measured / "checkpoints" / "step-00000002").model, "mnist", 2, 64)
    assert again["fid"] == pytest.approx(fids[0]["fid"], rel=1e-6)
    assert fids[0]["fid"] != pytest.approx(fids[1]["fid"], rel=1e-5)  # G moved between steps 2 and 4
    # evaluating draws its samples in a forked RNG: the same losses step for step as without it
    losses = [[e[k] for k in ("loss_g", "loss_d")] for e in events if "event" not in e]
    assert losses == [[e[k] for k in ("loss_g", "loss_d")] for e in read_events(plain) if "event" not in e]


def test_each_checkpoint_is_judged_before_it_appears_as_the_training_tab_would_judge_it(tmp_path):
    from studio import live

    # a tiny StyleGAN (no BatchNorm) draws varied digits from its first steps; a tiny DCGAN's are all grey
    recipe = apply_overrides(get_recipe("mnist-stylegan"), [*TINY_DCGAN, "model.w_dim=8", "model.mapping_layers=2",
                                                          "phase_steps=1", "fade_steps=1", "fid_every=2", "g_ema=0.9"])
    train(recipe, out=tmp_path, run_id="judged")
    measured = tmp_path / "judged"
    events = read_events(measured)
    judged = [e for e in events if e.get("event") == "quality"]
    assert [e["step"] for e in judged] == [2, 4]
    order = [(e["event"], e["step"]) for e in events if e.get("event") in ("quality", "checkpoint")]
    assert order == [("quality", 2), ("checkpoint", 2), ("quality", 4), ("checkpoint", 4)]
    judge = live.load_classifier()  # the bundled digit classifier, as the tab uses
    for event in judged:
        again = live.checkpoint_quality(measured / "checkpoints" / f"step-{event['step']:08d}", judge)
        logged = live.logged_quality(events, event["step"])
        assert logged["samples"] == again["samples"] == 1000
        assert logged["histogram"] == pytest.approx(again["histogram"], abs=1e-9)
        assert logged["confident_share"] == pytest.approx(again["confident_share"], abs=1e-9)
        assert logged["real_confident_share"] == again["real_confident_share"] > 0.95
        assert logged["diversity"] == pytest.approx(again["diversity"], rel=1e-5)
    assert judged[0]["histogram"] != pytest.approx(judged[1]["histogram"], abs=0.01)  # each is its own step's G
    assert live.logged_quality(events, 3) is None  # no checkpoint, no verdict: the tab judges such itself
    # /train_status (the Gradio tab) carries the same verdict on the newest checkpoint
    from studio import api
    from studio.audit.quality import meets_digit_bar

    digits = api.run_status(live.read_run(measured))["digits"]
    last = judged[-1]
    from studio.audit.quality import classes_in_range

    assert digits["trend"] == [[e["step"], pytest.approx(e["confident_share"], abs=1e-4), classes_in_range(e["histogram"])]
                               for e in judged]
    assert digits["step"] == 4 and digits["histogram"] == pytest.approx(last["histogram"], abs=1e-4)
    assert digits["sure_share"] == pytest.approx(last["confident_share"], abs=1e-4)
    assert digits["recognisable"] is meets_digit_bar(last["confident_share"], last["real_confident_share"],
                                                     last["histogram"]) is False  # one digit is 99.8%: not the bar


def test_a_family_without_a_reference_says_why_once_and_trains_on(tmp_path):
    recipe = apply_overrides(get_recipe("mnist-dcgan"), [*TINY_DCGAN, "fid_every=1", "dataset=folder",
                                                       f"data_path={tmp_path}"])
    from PIL import Image
    import numpy as np

    for i in range(8):
        Image.fromarray(np.full((32, 32), 40 * (i % 6), np.uint8)).save(tmp_path / f"{i}.png")
    result = train(recipe, out=tmp_path / "runs", run_id="folder")
    events = read_events(tmp_path / "runs" / "folder")
    fids = [e for e in events if e.get("event") == "fid"]
    assert result.status == "finished" and len(fids) == 1 and fids[0]["error"]
    judged = [e for e in events if e.get("event") == "quality"]  # no digit classifier for a folder's images
    assert [e["step"] for e in judged] == [2, 4] and all("histogram" not in e and e["diversity"] >= 0 for e in judged)


def test_the_fid_chart_shows_the_events_values_and_band():
    markers = [{"event": "sample", "step": 2}, {"event": "fid", "step": 2, "fid": 90.0, "fid_low": 80.0,
                "fid_high": 100.0, "kid": 0.1, "extractor": "classifier:mnist-classifier@28px"},
               {"event": "fid", "step": 4, "fid": 70.0, "fid_low": 65.0, "fid_high": 76.0, "kid": 0.05}]
    points = training_charts.fid_points(markers)
    assert points["step"] == [2, 4] and points["fid"] == [90.0, 70.0] and points["error"] is None
    figure = json.loads(training_charts.fid_chart(points).to_json())
    band, line = figure["data"]
    assert line["y"] == [90.0, 70.0] and band["y"] == [100.0, 76.0, 65.0, 80.0]
    assert training_charts.fid_points([{"event": "fid", "step": 1, "error": "no reference"}])["error"] == "no reference"


def test_both_training_tabs_word_the_verdict_alike():
    import gradio_app
    from studio import live

    spread = [0.1] * 10
    assert "**recognisable digits**" in live.recognisable_text(0.80, 0.985, spread)  # 0.80 >= 0.8 x 0.985
    assert "recognisable" not in live.recognisable_text(0.78, 0.985, spread)
    assert "recognisable" not in live.recognisable_text(0.95, 0.985, [0.2] * 5 + [0.0] * 5)  # five digits missing
    digits = {"step": 2250, "samples": 1000, "sure_share": 0.80, "real_sure_share": 0.985, "histogram": spread}
    shown = gradio_app.train_verdict({"run": "r", "digits": digits})
    assert shown == "**Step 2,250, 1,000 samples:** " + live.recognisable_text(0.80, 0.985, spread)
    assert gradio_app.train_verdict({"run": "r"}) == gradio_app.train_verdict(None) == ""


def test_a_judge_that_fails_leaves_a_note_and_the_run_trains_on(tmp_path, monkeypatch):
    import importlib

    from studio import live

    health = importlib.import_module("studio.live.health")  # the module: studio.live.health is also a function

    def broken(*args, **kwargs):
        raise RuntimeError("the judge ran out of memory")

    monkeypatch.setattr(health, "model_quality", broken)
    result = train(apply_overrides(get_recipe("mnist-dcgan"), [*TINY_DCGAN, "fid_every=2"]), out=tmp_path, run_id="x")
    events = read_events(tmp_path / "x")
    judged = [e for e in events if e.get("event") == "quality"]
    assert result.status == "finished" and [e["step"] for e in judged] == [2, 4]
    assert all(e["error"] == "RuntimeError: the judge ran out of memory" for e in judged)
    assert live.logged_quality(events, 4) is None  # so the tab judges the checkpoint itself


def test_the_recognisable_digits_trend_plots_each_judged_checkpoint_against_the_bar():
    import gradio_app
    from studio.audit.quality import CONFIDENT_RATIO

    spread, lopsided = [0.1] * 10, [0.3, 0.3] + [0.05] * 8
    markers = [{"event": "checkpoint", "step": 250},
               {"event": "quality", "step": 250, "diversity": 0.4, "histogram": lopsided, "confident_share": 0.42,
                "real_confident_share": 0.985},
               {"event": "quality", "step": 500, "error": "RuntimeError: out of memory"},  # judged nothing: no point
               {"event": "quality", "step": 750, "diversity": 0.4, "histogram": spread, "confident_share": 0.81,
                "real_confident_share": 0.985}]
    points = training_charts.sure_points(markers)
    assert points == {"step": [250, 750], "share": [0.42, 0.81], "digits": [8, 10], "real": 0.985}
    figure = json.loads(training_charts.sure_chart(points).to_json())
    (line,) = figure["data"]
    assert line["y"] == [0.42, 0.81] and line["marker"]["symbol"] == ["circle-open", "circle"]  # open: digits off 5-15%
    (bar,) = figure["layout"]["shapes"]
    assert bar["y0"] == bar["y1"] == pytest.approx(CONFIDENT_RATIO * 0.985)
    # the Gradio tab draws the same chart from /train_status's digits.trend, and only when it grew
    state = {"digits": {"real_sure_share": 0.985, "trend": [[250, 0.42, 8], [750, 0.81, 10]]}}
    drawn, shown = gradio_app.train_trend(state, None)
    assert json.loads(drawn.to_json())["data"][0]["y"] == [0.42, 0.81] and shown == state["digits"]["trend"]
    again, _ = gradio_app.train_trend(state, shown)
    assert again == gradio_app.gr.skip()
    assert gradio_app.train_trend({"run": "r"}, shown) == (None, None)  # another run, not judged: cleared


def test_only_one_channel_mnist_runs_are_judged_by_the_digit_classifier():
    """The trainer and the training tab ask the same question (studio.live.judged_as_digits)."""
    from studio import live
    from studio.models import DigitClassifier
    from training.sample_quality import quality_classifier

    assert live.judged_as_digits("mnist", 1)
    assert not live.judged_as_digits("mnist", 3) and not live.judged_as_digits("faces", 1)
    assert not live.judged_as_digits(None, None)  # a run.json without them
    assert isinstance(quality_classifier("mnist", 1), DigitClassifier)
    assert quality_classifier("mnist", 3) is None and quality_classifier("faces", 3) is None
