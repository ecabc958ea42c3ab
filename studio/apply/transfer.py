"""Discriminator transfer (Radford et al. 2016, section 5.1: DCGAN discriminator features for
CIFAR-10 and SVHN with few labels; the CS231n project): is what a GAN's discriminator learned
about digits, without any label, a good start for a classifier that only has K labels per class?

    frozen-d   the bundled DCGAN's (or WGAN-GP's) discriminator body, every layer but the last
               (both width 32 at 32 px: (B, 128, 4, 4) -> 2,048 features), frozen in eval mode;
               only a linear head (2,048 -> 10) trains on the K labelled digits per class
    scratch    the same architecture (body + head), freshly initialised, all of it trained on
               the same K digits, the same number of steps
The bundled mnist-classifier (trained on all 4,000 train digits, about 400 per class) is the
reference line. Accuracy is on the 1,000 held-out test digits; 28 px digits are resized to the
discriminator's 32.

Note: the GANs were trained on all 5,000 bundled digits (test digits included, without labels);
this is the semi-supervised setting (unlabelled data seen, labels only K per class) and it
flatters the frozen features a little on the test split.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from studio.apply.fewshot import ProgressFn, accuracy, digits, few_labels, no_progress, resize, summarise, train_classifier
from studio.apply.augmentation import accuracy_chart
from studio.errors import CheckpointError, DataError

TRANSFER_CONDITIONS = ("frozen-d", "scratch")
SOURCES = ("mnist-dcgan", "mnist-wgangp")
DEFAULTS = {"ks": (10,), "seeds": 3, "steps": 150, "batch_size": 32, "source": "mnist-dcgan"}


def discriminator_body(gan) -> nn.Sequential:
    """A copy of the discriminator's layers but the last (the real/fake score) of a DCGAN-style GAN."""
    disc = getattr(gan, "discriminator", None)
    main = getattr(disc, "main", None)
    if not isinstance(main, nn.Sequential) or len(main) < 2:
        raise CheckpointError(f"{getattr(gan, 'family', type(gan).__name__)}: no DCGAN-style discriminator to take a body from")
    return copy.deepcopy(nn.Sequential(*list(main)[:-1]))


class DiscriminatorFeatures(nn.Module):
    """Images (B, C, H, W) -> the discriminator body's flattened features (B, F); frozen unless ``trainable``.

    Frozen: no parameter takes gradients and the body stays in eval mode (BatchNorm keeps the GAN's
    running statistics) even when the wrapping model is put in training mode.
    """

    def __init__(self, body: nn.Sequential, image_size: int, trainable: bool = False):
        super().__init__()
        self.body, self.image_size, self.trainable = body, image_size, trainable
        for p in self.body.parameters():
            p.requires_grad_(trainable)
        with torch.no_grad():
            channels = next(m for m in body.modules() if isinstance(m, nn.Conv2d)).in_channels
            self.channels = channels
            self.body.eval()
            self.out_features = int(self.body(torch.zeros(1, channels, image_size, image_size)).numel())
        self.train(trainable)

    def train(self, mode: bool = True):
        super().train(mode)
        if not self.trainable:
            self.body.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(resize(x, self.image_size)).flatten(1)


def reset(module: nn.Module) -> nn.Module:
    """Fresh weights for every layer that has them (the "from scratch" twin of a body)."""
    for m in module.modules():
        if hasattr(m, "reset_parameters") and m is not module:
            m.reset_parameters()
    return module


def transfer_model(gan, num_classes: int = 10, *, frozen: bool = True) -> nn.Sequential:
    """(features, linear head): the discriminator body frozen, or the same architecture from scratch."""
    body = discriminator_body(gan)
    if not frozen:
        reset(body)
    features = DiscriminatorFeatures(body, gan.image_size, trainable=not frozen)
    return nn.Sequential(features, nn.Linear(features.out_features, num_classes))


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def run_transfer(
    gan=None,
    *,
    source: str = DEFAULTS["source"],
    ks=DEFAULTS["ks"],
    conditions=TRANSFER_CONDITIONS,
    seeds: int = DEFAULTS["seeds"],
    steps: int = DEFAULTS["steps"],
    batch_size: int = DEFAULTS["batch_size"],
    reference: bool = True,
    progress: ProgressFn = no_progress,
) -> dict:
    """Each (K, seed, condition): a head on frozen discriminator features, or the same network from
    scratch; returns rows, a summary per (condition, K) with 95% intervals, the bundled classifier's
    accuracy (``reference``) and the settings."""
    from studio.checkpoints import load

    ks = sorted({int(k) for k in ks})
    asked = {str(c) for c in conditions}
    conditions = [c for c in TRANSFER_CONDITIONS if c in asked]
    if not conditions or asked - set(TRANSFER_CONDITIONS):
        raise DataError(f"conditions must be some of {', '.join(TRANSFER_CONDITIONS)}")
    if not 1 <= seeds <= 20 or not 1 <= steps <= 5000:
        raise DataError(f"seeds must be 1-20 and steps 1-5000, got {seeds} and {steps}")
    if gan is None:
        if source not in SOURCES:
            raise DataError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
        gan = load(source).model
    test_x, test_y = digits("test")
    rows, total, done = [], len(ks) * seeds * len(conditions), 0
    for k in ks:
        for seed in range(seeds):
            real_x, real_y = few_labels(k, seed)
            for condition in conditions:
                progress(done / total, f"K = {k}, seed {seed}: {condition}")
                torch.manual_seed(seed)
                model = transfer_model(gan, frozen=condition == "frozen-d")
                train_classifier(model, real_x, real_y, steps=steps, seed=seed, batch_size=batch_size,
                                 params=trainable_parameters(model))
                rows.append({"condition": condition, "k": k, "seed": seed, "accuracy": accuracy(model, test_x, test_y)})
                done += 1
    ref = None
    if reference:
        ref = accuracy(load("mnist-classifier").model, test_x, test_y)
    progress(1.0, "done")
    settings = {"ks": ks, "conditions": conditions, "seeds": seeds, "steps": steps, "batch_size": batch_size,
                "source": source if gan is None or source else getattr(gan, "family", "")}
    return {"rows": rows, "summary": summarise(rows), "reference": ref, "settings": settings}


LABELS = {"frozen-d": "frozen discriminator + linear head", "scratch": "same network from scratch"}


def transfer_chart(result: dict):
    return accuracy_chart(result["summary"], "condition", LABELS,
                          f"Few labels: discriminator features vs from scratch ({result['settings']['seeds']} seeds, 95% intervals)",
                          reference=result.get("reference"))


def transfer_verdict(result: dict) -> str:
    from studio.apply.augmentation import verdict

    text = verdict(result["summary"], "condition", "scratch", LABELS)
    if result.get("reference") is not None:
        text += f"\n- bundled mnist-classifier (about 400 labels per class): **{100 * result['reference']:.1f}%**"
    return text
