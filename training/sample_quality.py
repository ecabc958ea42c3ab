"""A cheap FID and KID during training: every ``fid_every`` steps, ``fid_samples`` samples of G
against the run's training data, in the dataset's own feature space (for digits, the bundled
mnist-classifier's penultimate layer; ``studio.audit.metrics`` picks it), written to the run's
events as ``{"event": "fid", "step", "fid", "fid_low", "fid_high", "kid", "n", "extractor"}``.

Cheap because the extractor is a small domain network (a thousand 32 px digits take about a
second on 2 cores; with the bootstrap interval about 4.5 s on a busy 2-core Xeon)
and the reference features are computed once and cached (the studio's cache
folder). It is a trend line, not the number a paper reports: N is small (FID is biased upwards at
small N; the evaluation page shows by how much) and the extractor is not Inception.

The training RNG is left exactly as it was (the samples use their own seed inside a forked RNG),
so a run with FID events trains the same steps as one without. If the metric cannot be computed
(no bundled extractor, a dataset with no reference, a family without z), the run says why once, in
an ``{"event": "fid", "error": ...}`` line, and trains on.

The same recipes judge every checkpoint they write (``quality_event``): the training tab's class
histogram and "recognisable digits" verdict (``studio.live.checkpoint_quality``: 1,000 samples of
seed 0, the bundled digit classifier) for the generator the checkpoint holds. The trainer has that
generator in memory, so the tab reads the verdict from the events instead of loading and judging
each checkpoint itself, on the same 2 cores the run trains on (stop 33 measured that cost at about
a checkpoint's worth of steps in a lesson's first two minutes).
"""

from __future__ import annotations

import time

import torch

from studio.errors import CheckpointError, DataError

SEED = 0  # the same samples' z at every evaluation: the line moves with G, not with the draw
BOOTSTRAP = 20
KID_SUBSETS = 20  # KID's mean over 20 subsets, not the evaluation page's 100: 4.5 s instead of 28 s per call


def fid_event(model: torch.nn.Module, dataset: str, step: int, n: int) -> dict:
    """The event line for one evaluation of ``model`` against ``dataset`` (a bundled dataset name)."""
    from studio.audit import metrics

    with torch.random.fork_rng(devices=[]):
        try:
            found = metrics.evaluate((model, {"dataset": dataset, "source": "this run"}), metrics="fid,kid", n=n,
                                     seed=SEED, bootstrap=BOOTSTRAP, kid_subsets=KID_SUBSETS)
        except (CheckpointError, DataError) as error:
            return {"event": "fid", "step": step, "time": time.time(), "error": str(error)}
    fid, kid = found["metrics"]["fid"], found["metrics"]["kid"]
    low, high = fid.get("interval", (None, None))
    return {"event": "fid", "step": step, "time": time.time(), "fid": fid["value"], "fid_low": low, "fid_high": high,
            "kid": kid["value"], "n": n, "extractor": found["extractor"]}


def quality_event(model: torch.nn.Module, step: int, classifier=None) -> dict:
    """The ``{"event": "quality"}`` line for the checkpoint of ``step``: ``checkpoint_quality``'s
    numbers for ``model`` (with ``classifier``, a digit classifier, the histogram and confident share).
    If judging fails, the line says why and the run trains on (the tab then judges the checkpoint itself)."""
    from studio.live.health import model_quality

    with torch.random.fork_rng(devices=[]), torch.no_grad():
        try:
            measured = model_quality(model, classifier)
        except (CheckpointError, DataError, ValueError, RuntimeError) as error:  # a judge's failure never ends a run
            return {"event": "quality", "step": step, "time": time.time(), "error": f"{type(error).__name__}: {error}"}
    return {"event": "quality", "step": step, "time": time.time(), **measured}


def quality_classifier(dataset: str, channels: int):
    """The judge the training tab uses for a run on ``dataset`` (the bundled digit classifier for
    one-channel MNIST), or None: then the quality events carry the diversity score alone."""
    from studio.live.health import judged_as_digits, load_classifier

    if not judged_as_digits(dataset, channels):
        return None

    try:
        return load_classifier()
    except CheckpointError:  # not trained yet: the tab says so
        return None
