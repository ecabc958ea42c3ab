"""Fixtures shared by several test files. Keep this small: file-specific fixtures live in their file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory) -> dict[str, Path]:
    """Untrained tiny checkpoints saved with studio.checkpoints.save: name -> directory.

    "dcgan" (unconditional, 28 px, 1 channel), "cgan" (10 classes) and "classifier"; about
    100 KB each, so tests can load them quickly through every checkpoint source.
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
        model.eval()
        samples = None
        if name != "classifier":
            samples = imaging.grid(explore.samples(model, 16, seed=0), nrow=4)
        metadata = {"title": f"Tiny {name}", "dataset": "mnist", "license": "MIT"}
        paths[name] = checkpoints.save(model, root / f"tiny-{name}", metadata=metadata, samples=samples)
    return paths
