"""Health signals a learner can read from a run's recent events, and a checkpoint's sample quality.

Vocabulary from Goodfellow et al. 2014, "Generative Adversarial Nets" (arXiv:1406.2661):
D(x) is the discriminator's probability that a real image is real, D(G(z)) the same for a
generated one. At the game's equilibrium D cannot tell them apart: both are 1/2, and the BCE
discriminator loss is 2 ln 2.
"""

from __future__ import annotations

import math
import re
import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


from studio.live.runs import Run


# ----------------------------------------------------------------------------- health


@dataclass(frozen=True)
class Band:
    """The typical discriminator-loss range of a balanced run (a rule of thumb) and its equilibrium."""

    low: float
    high: float
    equilibrium: float
    note: str


BANDS = {
    # D: BCE(D(x), 1) + BCE(D(G(z)), 0); with D(.) = 1/2 everywhere that is 2 ln 2
    "nonsat": Band(0.5, 1.5, 2 * math.log(2), "2 ln 2 ≈ 1.39 when D(x) = D(G(z)) = ½"),
    "minimax": Band(0.5, 1.5, 2 * math.log(2), "2 ln 2 ≈ 1.39 when D(x) = D(G(z)) = ½"),
    # D: ½ E[(D(x) - 1)²] + ½ E[D(G(z))²]; ¼ when D outputs ½ everywhere
    "lsgan": Band(0.1, 0.4, 0.25, "¼ when D outputs ½ for everything"),
    # D: E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]; 2 when D outputs 0 everywhere
    "hinge": Band(0.8, 2.0, 2.0, "2 when D outputs 0 for everything"),
}  # WGAN critics have no fixed level: watch the Wasserstein estimate shrink instead


# Before this step an untrained G draws near-identical blobs for every z: not yet a collapse.
COLLAPSE_MIN_STEP = 300


@dataclass(frozen=True)
class Signal:
    level: str  # "error" | "warning" | "ok"
    title: str
    why: str


def _recent(values: list[float | None], window: int) -> list[float]:
    return [v for v in values[-window:] if v is not None and math.isfinite(v)]


def health(log: dict, run: Run, quality: Mapping[str, Any] | None = None, *, window: int = 20,
           now: float | None = None) -> list[Signal]:
    """Plain-language signals from an EventLog ``snapshot()``, the run, and optionally the latest
    checkpoint's ``checkpoint_quality``. Each says what is seen and, in one line, why it matters."""
    signals: list[Signal] = []
    loss = str(run.config.get("loss", "nonsat"))
    columns = log["columns"]
    mean = {name: statistics.fmean(v) for name in ("d_real", "d_fake", "loss_d", "grad_norm_g", "grad_norm_d", "wasserstein")
            if (v := _recent(columns.get(name, []), window))}
    for marker in log["markers"]:
        if marker.get("event") == "error":
            text = str(marker.get("message", ""))
            if re.search(r"\b(nan|inf)\b", text, re.IGNORECASE):
                signals.append(Signal("error", "Loss is NaN", "A loss became NaN or infinite, so the weights it touches are "
                                      "garbage now: the run diverged. Lower the learning rates or try WGAN-GP / hinge, "
                                      "then resume from the last good checkpoint."))
    if len(log["steps"]) >= 5 and BANDS.get(loss) and {"d_real", "d_fake"} <= set(mean):
        d_real, d_fake = mean["d_real"], mean["d_fake"]
        if d_fake < 0.05 and d_real > 0.5:  # D(x) need not be near 1: rejecting every fake is the sign
            signals.append(Signal("warning", "Discriminator is winning: D(G(z)) near 0", "D rejects every fake with "
                                  "confidence, so G learns little from it. Label smoothing, instance noise or a lower D "
                                  "learning rate give G a chance."))
        elif d_fake > 0.8:
            signals.append(Signal("warning", "Generator fools D completely: D(G(z)) near 1", "D has stopped telling fakes "
                                  "from reals; G may be exploiting one weakness. Check the samples for repeats."))
        if d_real < 0.2:
            signals.append(Signal("warning", "D calls real images fake: D(x) near 0", "The discriminator is confused about "
                                  "the real data; a too-high learning rate or heavy label flipping does this."))
    band = BANDS.get(loss)
    if band and "loss_d" in mean and len(log["steps"]) >= 5:
        if mean["loss_d"] < 0.1 * band.equilibrium:
            signals.append(Signal("warning", "Discriminator loss near 0", "D wins every round, so its feedback to G "
                                  "saturates. A balanced run stays in the shaded band."))
        elif mean["loss_d"] > 1.5 * band.high:
            signals.append(Signal("warning", "Discriminator loss far above the balanced band", "D cannot separate real "
                                  "from fake at all; G gets no useful signal. Check the learning rates and tricks."))
    if mean.get("grad_norm_g", 1.0) < 1e-4:
        signals.append(Signal("warning", "Generator gradients vanished", "G's gradient norm is almost 0, so it stops "
                              "learning; the non-saturating or a Wasserstein loss keeps gradients alive."))
    if max(mean.get("grad_norm_g", 0.0), mean.get("grad_norm_d", 0.0)) > 1e3:
        signals.append(Signal("warning", "Exploding gradients", "Gradient norms above 1000 usually precede a NaN; lower "
                              "the learning rates."))
    if quality and run.checkpoints and run.checkpoints[-1] >= COLLAPSE_MIN_STEP:
        fractions = quality.get("histogram")
        if fractions and (max(fractions) > 0.4 or sum(f >= 0.02 for f in fractions) < 0.6 * len(fractions)):
            top = max(range(len(fractions)), key=fractions.__getitem__)
            signals.append(Signal("warning", "Generator collapse?", f"The classifier sees {fractions[top]:.0%} of the "
                                  f"samples as class {top} and few others: G may be drawing only some modes (mode "
                                  "collapse)."))
        elif quality.get("diversity") is not None and quality["diversity"] < 0.05:
            signals.append(Signal("warning", "Generator collapse?", f"Samples from different z are nearly identical "
                                  f"(diversity {quality['diversity']:.3f}): G ignores its input noise."))
    if run.status == "running" and log["last"].get("time") and (now or time.time()) - log["last"]["time"] > 120:
        signals.append(Signal("warning", "No new step for over 2 minutes", "The process is alive but not logging: it "
                              "may be swapping or waiting on the device. Its log.txt may say more."))
    if not signals and len(log["steps"]) >= 5:
        detail = (f"D(x) {mean['d_real']:.2f}, D(G(z)) {mean['d_fake']:.2f}"
                  if BANDS.get(loss) and {"d_real", "d_fake"} <= set(mean) else "no warning signs in the recent steps")
        signals.append(Signal("ok", "Looks balanced", f"{detail}: neither player dominates."))
    return signals


def judged_as_digits(dataset: str | None, channels: int | None) -> bool:
    """Whether the bundled digit classifier judges a run's samples: one-channel MNIST runs only (the
    trainer's verdicts and the training tab's health panel both ask here); others get the diversity
    score alone."""
    return dataset == "mnist" and channels == 1


def load_classifier(source: str = "mnist-classifier"):
    """The bundled digit classifier on the CPU (CheckpointError if it is not trained yet)."""
    from studio import checkpoints

    return checkpoints.load(source, device="cpu").model


# The bundled digit GANs' bar counts 1,000 fresh samples (training.bundle, python -m bench learn): the
# training tab's verdict (the trainer judges its checkpoints since stop 34) counts as many, so that its
# "recognisable digits" is that bar. With 256, an expected 10% digit is 25.6 +- 4.8 samples and a run
# at the bar flipped in and out of it between checkpoints.
# One classifier pass over 1,000 samples costs about what two passes over 256 did (stop 28).
QUALITY_SAMPLES = 1000


def checkpoint_quality(checkpoint: str | Path, classifier=None, *, n: int = QUALITY_SAMPLES, seed: int = 0) -> dict:
    """Diversity (and, with a classifier, the class histogram and the share of samples it is sure
    of, beside its share on the real held-out digits) of ``n`` samples of a checkpoint, computed
    on the CPU so that a GPU run keeps its device to itself."""
    from studio import checkpoints

    return model_quality(checkpoints.load(checkpoint, device="cpu").model, classifier, n=n, seed=seed)


def model_quality(model, classifier=None, *, n: int = QUALITY_SAMPLES, seed: int = 0) -> dict:
    """``checkpoint_quality`` of a generator already in memory (the trainer judges its own
    checkpoints with it, so that the training tab need not load and judge them again)."""
    from studio import explore
    from studio.audit import quality

    images = explore.samples(model, n, seed=seed)  # (n, H, W, C) uint8
    result: dict[str, Any] = {"diversity": quality.diversity_score(images), "samples": n,
                              "diversity_samples": min(n, quality.DIVERSITY_IMAGES)}
    if classifier is not None and getattr(classifier, "channels", 1) == images.shape[-1]:
        histogram, result["confident_share"] = quality.class_statistics(images, classifier)
        result["histogram"] = [float(f) for f in histogram]
        result["real_confident_share"] = quality.real_digits_confident_share(classifier)
    return result


QUALITY_FIELDS = ("diversity", "samples", "diversity_samples", "histogram", "confident_share", "real_confident_share")


def logged_quality(markers, step: int) -> dict | None:
    """The quality a run's trainer wrote for its checkpoint of ``step`` (a ``{"event": "quality"}``
    line, see training.sample_quality), in ``checkpoint_quality``'s form; None if it wrote none."""
    for marker in reversed(markers):
        if marker.get("event") == "quality" and marker.get("step") == step and "diversity" in marker:
            return {field: marker[field] for field in QUALITY_FIELDS if field in marker}
    return None


def recognisable_text(share: float, real: float, histogram) -> str:
    """The training tabs' verdict in words (Markdown): how many samples the classifier is sure of,
    against real digits, and whether that is the bundled GANs' bar ("recognisable digits")."""
    from studio.audit.quality import CONFIDENT_RATIO, HIGH, LOW, meets_digit_bar

    bar = f"{CONFIDENT_RATIO:g} x the real digits' share, every digit {LOW:.0%}-{HIGH:.0%}"
    verdict = (f"**recognisable digits**: at least {bar}" if meets_digit_bar(share, real, histogram)
               else f"the bundled GANs' bar is {bar}")
    return (f"The classifier is sure of the digit (probability >= 0.9) for **{share:.0%}** of these samples, and for "
            f"{real:.0%} of real held-out digits: {verdict}.")
