"""What every model family shares: config round-trip, seeded sampling, shape checks.

A family is an ``nn.Module`` whose constructor takes plain JSON keyword arguments.
``huggingface_hub.PyTorchModelHubMixin`` records those arguments, so
``save_pretrained`` / ``from_pretrained`` / ``push_to_hub`` write and read the
studio checkpoint layout (config.json + model.safetensors + README.md) unchanged.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import ClassVar

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn


@contextlib.contextmanager
def evaluating(*modules: nn.Module) -> Iterator[None]:
    """Eval mode for ``modules`` (BatchNorm running statistics, no dropout); their modes come back after."""
    modes = [m.training for m in modules]
    for m in modules:
        m.eval()
    try:
        yield
    finally:
        for m, mode in zip(modules, modes):
            m.train(mode)


class ShapeError(ValueError):
    """A tensor reached a model with a shape it cannot take."""


def check_shape(name: str, tensor: torch.Tensor, expected: tuple[int | None, ...]) -> None:
    """Raise ShapeError unless ``tensor`` matches ``expected`` (None matches any size)."""
    ok = tensor.dim() == len(expected) and all(
        want is None or want == got for want, got in zip(expected, tensor.shape)
    )
    if not ok:
        shown = tuple("B" if want is None else want for want in expected)
        raise ShapeError(f"{name}: expected shape {shown}, got {tuple(tensor.shape)}")


def check_positive(family: str, **values: int) -> None:
    """Raise ValueError unless every value is a positive int (constructor arguments)."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{family}: {name} must be a positive integer, got {value!r}")


class StudioModel(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="gan-studio",
    tags=["gan", "gan-studio"],
):
    """Base of every family. Subclasses set ``family`` and ``task``."""

    family: ClassVar[str] = ""
    # "unconditional" | "conditional" | "translation" | "classifier" | "segmentation"
    task: ClassVar[str] = ""

    @property
    def config(self) -> dict:
        """The constructor arguments: ``type(self)(**model.config)`` rebuilds the architecture."""
        return dict(self._hub_mixin_config or {})

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


class GenerativeModel(StudioModel):
    """A GAN whose generator maps a latent vector (and maybe a class) to an image.

    Subclasses build ``self.generator`` and ``self.discriminator`` and implement
    ``generate``. Images are (B, C, H, W) floats in [-1, 1].
    """

    latent_dim: int
    image_size: int
    channels: int
    num_classes: int = 0  # 0 for unconditional families

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def discriminate(self, x: torch.Tensor, labels: torch.Tensor | None = None, return_aux: bool = False):
        """(B,) raw logits / critic scores; ACGAN and InfoGAN add their auxiliary heads with return_aux."""
        raise NotImplementedError

    def sample_latent(self, n: int, seed: int | None = None) -> torch.Tensor:
        """Standard-normal latents, identical for the same seed on every device."""
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        return torch.randn(n, self.latent_dim, generator=generator).to(self.device)

    def sample_labels(self, n: int, seed: int | None = None) -> torch.Tensor | None:
        """Uniform random classes for conditional families, None otherwise."""
        if not self.num_classes:
            return None
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        return torch.randint(self.num_classes, (n,), generator=generator).to(self.device)

    def check_labels(self, labels: torch.Tensor | None, batch: int) -> torch.Tensor | None:
        if not self.num_classes:
            if labels is not None:
                raise ValueError(f"{self.family} is unconditional: it takes no class labels")
            return None
        if labels is None:
            raise ValueError(f"{self.family} is conditional: pass class labels in [0, {self.num_classes})")
        labels = torch.as_tensor(labels, device=self.device)
        if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
            # .long() would truncate 2.7 to 2 without a word
            raise ValueError(f"class labels must be integers, got dtype {labels.dtype}")
        labels = labels.long().reshape(-1)
        check_shape(f"{self.family} labels", labels, (batch,))
        if labels.numel() and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(f"class labels must lie in [0, {self.num_classes}), got {labels.tolist()}")
        return labels

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, labels=None) -> torch.Tensor:
        """``n`` images in [-1, 1]; the same seed gives the same images.

        Sampling is inference: BatchNorm uses its running statistics (and leaves them alone) and
        dropout is off, also on a model in training mode, which gets its mode back after.
        """
        z = self.sample_latent(n, seed)
        if self.num_classes and labels is None:
            labels = self.sample_labels(n, None if seed is None else seed + 1)
        if labels is not None:
            labels = torch.as_tensor(labels).reshape(-1)
            if labels.numel() == 1:
                labels = labels.expand(n)
        with evaluating(self):
            return self.generate(z, labels)
