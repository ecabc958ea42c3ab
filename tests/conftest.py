"""Fixtures shared by several test files. Keep this small: file-specific fixtures live in their file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory) -> dict[str, Path]:
    """Tiny checkpoints saved with studio.checkpoints.save: name -> directory.

    "dcgan" (unconditional, 28 px, 1 channel), "cgan" (10 classes) and "classifier"; about
    100 KB each, so tests can load them quickly through every checkpoint source. The generators
    are untrained but structured (see ``structured``): different seeds, classes and truncation
    thresholds draw clearly different pictures, so a page test can tell the right one.
    """
    from studio import checkpoints, explore, imaging
    from studio.models import ConditionalGAN, DCGAN, DigitClassifier

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("tiny-checkpoints")
    models = {
        "dcgan": DCGAN(latent_dim=8, image_size=28, channels=1, width=4),
        "cgan": ConditionalGAN(latent_dim=8, image_size=28, channels=1, width=4, num_classes=10),
        "classifier": DigitClassifier(width=4),
    }
    paths = {}
    for name, model in models.items():
        if name != "classifier":
            structured(model)
        model.eval()
        samples = None
        if name != "classifier":
            samples = imaging.grid(explore.samples(model, 16, seed=0), nrow=4)
        metadata = {"title": f"Tiny {name}", "dataset": "mnist", "license": "MIT"}
        paths[name] = checkpoints.save(model, root / f"tiny-{name}", metadata=metadata, samples=samples)
    return paths


@torch.no_grad()
def structured(model, seed: int = 0):
    """Make an untrained generator's eval-mode pictures depend strongly on z and on the class.

    Freshly initialised (weights N(0, 0.02), BatchNorm statistics 0 and 1) a generator in eval mode
    draws flat grey: every pixel 127 or 128, whatever the seed or class. Here the one-hot class
    inputs get weights as large as z's, each BatchNorm takes the statistics of one large batch of
    its own activations, and the output layer is scaled up so tanh sees values around +-1.
    """
    from torch import nn

    generator = model.generator
    convs = [m for m in generator.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    norms = [m for m in generator.modules() if isinstance(m, nn.BatchNorm2d)]
    if model.num_classes:
        convs[0].weight[model.latent_dim:] *= 6.0  # the one-hot rows after z's: (latent_dim + K, C, k, k)
    generator.train()
    for norm in norms:
        norm.momentum = 1.0  # running statistics = this batch's
    batch = 512
    labels = torch.arange(batch) % model.num_classes if model.num_classes else None
    model.generate(torch.randn(batch, model.latent_dim, generator=torch.Generator().manual_seed(seed)), labels)
    for norm in norms:
        norm.momentum = 0.1
    convs[-1].weight *= 20.0
    return model.eval()
