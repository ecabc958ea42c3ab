"""Endpoints that start, stop, resume and watch training runs (through ``studio.live``)."""

from __future__ import annotations

import numpy as np

from studio import live, training_charts
from studio.api.common import DEFAULT_RECIPE, MAX_TRAIN_STEPS, check_int
from studio.errors import DataError


def train_recipes() -> list[str]:
    """The recipes a client may start: every GAN recipe with a bundled dataset (no server folders)."""
    return [name for name, recipe in live.gan_recipes().items() if recipe.dataset != "folder"]


def find_run(run_id: str | None) -> live.Run:
    """A run of this server by id (default: the newest); DataError for an unknown id."""
    runs = live.list_runs()
    if not run_id and runs:
        return runs[0]
    for run in runs:
        if run.id == run_id:
            return run
    known = f"runs: {', '.join(r.id for r in runs[:8])}" if runs else "start one with /train_start"
    raise DataError(f"no run {run_id!r} on this server; {known}" if run_id else f"no training run yet: {known}")


def train_start(recipe: str = DEFAULT_RECIPE, steps=200) -> live.Run:
    """/train_start: launch ``python -m training`` for ``recipe`` in its own process; returns the run."""
    if recipe not in train_recipes():
        raise DataError(f"unknown recipe {recipe!r}: choose from {', '.join(train_recipes())}")
    steps = check_int("steps", steps, 1, MAX_TRAIN_STEPS)
    return live.start_run(recipe, {}, steps=steps, device=live.devices()[0])


def train_stop(run_id: str | None = None) -> live.Run:
    """/train_stop: ask the run to stop (it finishes the step and checkpoints)."""
    run = find_run(run_id)
    if run.live:
        live.stop_run(run.path)
    return live.read_run(run.path)


def train_resume(run_id: str | None = None, steps=None) -> live.Run:
    run = find_run(run_id)
    steps = None if steps in (None, "", 0) else check_int("steps", steps, 1, MAX_TRAIN_STEPS)
    return live.resume_run(run.path, steps=steps)


_logs: dict[str, live.EventLog] = {}


def run_status(run: live.Run) -> dict:
    """What a client polls: status, step, the last losses and scores, checkpoints."""
    log = _logs.setdefault(str(run.path), live.EventLog(run.path))
    log.update()
    snapshot = log.snapshot()  # one copy of the log per poll: markers and the last line come from it
    last, markers = snapshot["last"], snapshot["markers"]
    keys = ("loss_g", "loss_d", "d_real", "d_fake", "images_per_s", "resolution", "alpha", "fid", "fid_step")
    fid = training_charts.fid_points(markers)
    if fid["fid"]:
        last = {**last, "fid": fid["fid"][-1], "fid_step": fid["step"][-1]}
    status = {"run": run.id, "recipe": run.recipe, "status": run.status, "step": int(last.get("step", run.step)),
              "steps": run.steps, "checkpoints": list(run.checkpoints), "message": run.message,
              **{k: last[k] for k in keys if last.get(k) is not None}}
    judged = live.logged_quality(markers, run.checkpoints[-1]) if run.checkpoints else None
    if judged and "histogram" in judged:  # the newest checkpoint, as the trainer judged it (the Streamlit tab's verdict)
        sure = training_charts.sure_points(markers)
        status["digits"] = {**digits_verdict(run.checkpoints[-1], judged),
                            "trend": [[step, round(share, 4), digits]  # digits: how many are 5-15% of the samples
                                      for step, share, digits in zip(sure["step"], sure["share"], sure["digits"])]}
    return status


def digits_verdict(step: int, quality: dict) -> dict:
    """The bundled GANs' bar on a checkpoint's 1,000 samples: how many the digit classifier is sure of
    (p >= 0.9) against real held-out digits, each digit's share, and whether that is recognisable digits."""
    from studio.audit.quality import meets_digit_bar

    share, real, histogram = quality["confident_share"], quality["real_confident_share"], quality["histogram"]
    return {"step": step, "samples": quality["samples"], "sure_share": round(share, 4), "real_sure_share": round(real, 4),
            "histogram": [round(h, 4) for h in histogram], "recognisable": meets_digit_bar(share, real, histogram)}


def run_curves(run: live.Run):
    """The losses chart of the training page, from the run's events."""
    log = _logs.setdefault(str(run.path), live.EventLog(run.path))
    log.update()
    snapshot = log.snapshot()
    steps, columns = snapshot["steps"], snapshot["columns"]
    band = live.BANDS.get(run.config.get("loss", "nonsat"))
    series = {label: (steps, columns[name]) for label, name in (("G", "loss_g"), ("D", "loss_d")) if name in columns}
    stages = training_charts.phases(steps, columns["resolution"], columns.get("alpha", [None] * len(steps))) \
        if "resolution" in columns else ()
    return training_charts.curves_chart("Losses", series, smoothing=0.6, stages=stages,
                                        band=(band.low, band.high, "balanced D loss") if band else None)


def run_samples(run: live.Run) -> np.ndarray | None:
    """The newest sample grid the run saved, or None before the first."""
    from PIL import Image

    samples = _logs.setdefault(str(run.path), live.EventLog(run.path)).samples()
    if not samples:
        return None
    with Image.open(samples[-1][1]) as picture:
        return np.asarray(picture.convert("RGB"))
