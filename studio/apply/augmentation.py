"""Data augmentation with a GAN (course 3, week 1; Antoniou et al. 2017, "Data Augmentation
Generative Adversarial Networks"): does adding a conditional GAN's digits to K real digits per
class help a classifier?

For each K, seed and condition a fresh classifier (the bundled mnist-classifier's architecture,
``studio.models.classifier.DigitClassifier``) trains for the same number of steps on batches of
real digits drawn from the K per class, then is scored on the 1,000 held-out test digits:

    real       the K real digits per class only
    classic    each real digit randomly shifted (+-2 px) and rotated (+-15 degrees)
    cgan       each batch of B real digits plus round(ratio * B) samples of the bundled
               conditional GAN (mnist-cgan), labelled with the digit it was asked for
    both       classic augmentation of the real digits plus the cGAN samples

The cGAN was trained on all 5,000 bundled digits, test digits included: its samples carry
knowledge of 500 digits per class, so "cgan" here is an optimistic bound of what a GAN trained
on the K digits alone could give (the page says so). Samples are drawn at 32 px and resized to
the classifier's 28.
"""

from __future__ import annotations

import torch

from studio.apply.fewshot import (MAX_K, ProgressFn, accuracy, digits, few_labels, no_progress, resize, summarise,
                                  train_classifier)
from studio.errors import DataError

AUGMENT_CONDITIONS = ("real", "classic", "cgan", "both")
DEFAULTS = {"ks": (10,), "seeds": 3, "ratio": 1.0, "steps": 80, "batch_size": 32, "width": 16, "pool": 100}


@torch.no_grad()
def cgan_pool(generator, per_class: int, seed: int, size: int = 28) -> tuple[torch.Tensor, torch.Tensor]:
    """``per_class`` samples of each digit from a conditional GAN, resized to ``size``: images, labels."""
    labels = torch.arange(10).repeat_interleave(per_class)
    generator.eval()
    z = generator.sample_latent(len(labels), seed)
    images = generator.generate(z.to(generator.device), labels.to(generator.device)).clamp(-1, 1).cpu()
    return resize(images, size), labels


def check_settings(ks, conditions, seeds: int, ratio: float, steps: int) -> tuple[list[int], list[str]]:
    ks = sorted({int(k) for k in ks})
    if not ks or any(not 1 <= k <= MAX_K for k in ks):
        raise DataError(f"K values must be from 1 to {MAX_K} digits per class, got {ks}")
    asked = {str(c) for c in conditions}
    conditions = [c for c in AUGMENT_CONDITIONS if c in asked]
    if not conditions or asked - set(AUGMENT_CONDITIONS):
        raise DataError(f"conditions must be some of {', '.join(AUGMENT_CONDITIONS)}")
    if not 1 <= seeds <= 20:
        raise DataError(f"seeds must be from 1 to 20, got {seeds}")
    if not 0 < ratio <= 10:
        raise DataError(f"ratio must be more than 0 and at most 10 generated digits per real one, got {ratio}")
    if not 1 <= steps <= 5000:
        raise DataError(f"steps must be from 1 to 5000, got {steps}")
    return ks, conditions


def run_augmentation(
    cgan=None,
    *,
    ks=DEFAULTS["ks"],
    conditions=AUGMENT_CONDITIONS,
    seeds: int = DEFAULTS["seeds"],
    ratio: float = DEFAULTS["ratio"],
    steps: int = DEFAULTS["steps"],
    batch_size: int = DEFAULTS["batch_size"],
    width: int = DEFAULTS["width"],
    pool: int = DEFAULTS["pool"],
    progress: ProgressFn = no_progress,
) -> dict:
    """Train every (K, seed, condition) classifier; returns ``rows`` (one per run), ``summary``
    (mean and 95% interval per condition and K) and the settings. ``cgan``: a conditional
    generator (default: the bundled mnist-cgan, loaded only when a condition needs it)."""
    from studio.models.classifier import DigitClassifier

    ks, conditions = check_settings(ks, conditions, seeds, ratio, steps)
    if cgan is None and {"cgan", "both"} & set(conditions):
        from studio.checkpoints import load

        cgan = load("mnist-cgan").model
    test_x, test_y = digits("test")
    rows, total, done = [], len(ks) * seeds * len(conditions), 0
    for k in ks:
        for seed in range(seeds):
            real_x, real_y = few_labels(k, seed)
            extra = cgan_pool(cgan, pool, seed) if cgan is not None and {"cgan", "both"} & set(conditions) else None
            for condition in conditions:
                progress(done / total, f"K = {k}, seed {seed}: training on {condition}")
                torch.manual_seed(seed)  # the same initial weights for every condition of a (K, seed)
                model = DigitClassifier(width=width)
                train_classifier(model, real_x, real_y, steps=steps, seed=seed, batch_size=batch_size,
                                 augment=condition in ("classic", "both"),
                                 extra=extra if condition in ("cgan", "both") else None, ratio=ratio)
                rows.append({"condition": condition, "k": k, "seed": seed, "accuracy": accuracy(model, test_x, test_y)})
                done += 1
    progress(1.0, "done")
    settings = {"ks": ks, "conditions": conditions, "seeds": seeds, "ratio": ratio, "steps": steps,
                "batch_size": batch_size, "width": width, "pool": pool}
    return {"rows": rows, "summary": summarise(rows), "settings": settings}


LABELS = {"real": "real only", "classic": "+ shifts/rotations", "cgan": "+ cGAN samples", "both": "+ both"}


def accuracy_chart(summary: list[dict], key: str, labels: dict, title: str, reference: float | None = None):
    """Plotly: held-out accuracy against K, one line per condition, 95% intervals as error bars."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for name in labels:
        points = sorted((r for r in summary if r[key] == name), key=lambda r: r["k"])
        if not points:
            continue
        figure.add_trace(go.Scatter(
            x=[p["k"] for p in points], y=[100 * p["mean"] for p in points], name=labels[name], mode="lines+markers",
            error_y={"type": "data", "array": [100 * p["half_width"] for p in points], "visible": True},
            hovertemplate="K = %{x}: %{y:.1f}% (mean of " + str(points[0]["n"]) + " seeds)<extra>" + labels[name] + "</extra>"))
    if reference is not None:
        figure.add_hline(y=100 * reference, line_dash="dot", annotation_text=f"bundled classifier, 400 per class: {100 * reference:.1f}%")
    figure.update_layout(title=title, xaxis_title="labelled digits per class (K)", yaxis_title="accuracy on the 1,000 test digits (%)",
                         xaxis_type="log", height=420, margin={"t": 50, "b": 40})
    return figure


def augmentation_chart(result: dict):
    return accuracy_chart(result["summary"], "condition", LABELS,
                          f"Classifier accuracy, {result['settings']['seeds']} seeds, 95% intervals")


def verdict(summary: list[dict], key: str, baseline: str, labels: dict) -> str:
    """Markdown: per K, each condition's mean accuracy and 95% interval, and its gain over ``baseline``."""
    lines = []
    for k in sorted({r["k"] for r in summary}):
        at_k = {r[key]: r for r in summary if r["k"] == k}
        base = at_k.get(baseline)
        parts = []
        for name, label in labels.items():
            r = at_k.get(name)
            if r is None:
                continue
            text = f"{label} **{100 * r['mean']:.1f}%** ± {100 * r['half_width']:.1f}"
            if base is not None and name != baseline:
                text += f" ({100 * (r['mean'] - base['mean']):+.1f} points)"
            parts.append(text)
        lines.append(f"- K = {k} per class: " + "; ".join(parts))
    return "\n".join(lines)


def augmentation_verdict(result: dict) -> str:
    return verdict(result["summary"], "condition", "real", LABELS)
