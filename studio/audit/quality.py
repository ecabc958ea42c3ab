"""Classifier-based quality measures for small generators (MNIST-style, 10 classes).

A trained digit classifier (``DigitClassifier``) stands in for a human judge:

- ``class_histogram``: which classes a batch of images looks like (fractions summing to 1);
- ``conditional_accuracy``: a class-conditional generator asked for class c draws a c;
- ``mode_coverage``: an unconditional generator draws every class, none much more than another
  (mode collapse shows as missing or dominant classes; with 10 balanced classes each should be
  near 10%; we accept [5%, 15%]);
- ``confident_share``: the share of images the classifier calls some digit with probability >= 0.9
  (smudges and half-digits get spread-out probabilities; real held-out digits score ~98%);
- ``diversity_score``: mean pairwise distance of images, for datasets without a classifier.

The classifier-score idea follows "Improved Techniques for Training GANs" (Salimans et al. 2016,
Inception score) and the mode-counting protocol of "Unrolled GANs" (Metz et al. 2017). All
functions return plain numbers / numpy arrays.
"""

from __future__ import annotations

import contextlib
import hashlib

import numpy as np
import torch
import torch.nn.functional as F

from studio.models.base import evaluating

BATCH = 250


@contextlib.contextmanager
def _eval_mode(*modules):
    """Evaluate with BatchNorm running statistics, no dropout and no autograd; restore training mode after."""
    with evaluating(*modules), torch.no_grad():
        yield


def _as_float_batch(images) -> torch.Tensor:
    """(N, C, H, W) float in [-1, 1], from a tensor or a uint8 (N, H, W[, C]) array."""
    if isinstance(images, torch.Tensor):
        if images.dim() != 4:
            raise ValueError(f"expected images (N, C, H, W), got shape {tuple(images.shape)}")
        return images.detach().float()
    array = np.asarray(images)
    if array.dtype != np.uint8 or array.ndim not in (3, 4):
        raise ValueError(f"expected a float tensor (N, C, H, W) in [-1, 1] or uint8 (N, H, W[, C]), got {array.dtype} {array.shape}")
    if array.ndim == 3:
        array = array[..., None]
    return torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def _fit_to(images: torch.Tensor, classifier) -> torch.Tensor:
    """Resize to the classifier's input size; refuse a channel mismatch."""
    channels = getattr(classifier, "channels", images.shape[1])
    size = getattr(classifier, "image_size", images.shape[-1])
    if images.shape[1] != channels:
        raise ValueError(f"the classifier reads {channels}-channel images, these have {images.shape[1]}")
    if images.shape[-2:] != (size, size):
        images = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return images


def predict(images, classifier) -> np.ndarray:
    """The classifier's class (N,) for each image."""
    images = _as_float_batch(images)
    device = next(classifier.parameters()).device
    out = []
    with _eval_mode(classifier):
        for start in range(0, images.shape[0], BATCH):
            batch = _fit_to(images[start : start + BATCH].to(device), classifier)
            out.append(classifier(batch).argmax(1).cpu())
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.int64)


def probabilities(images, classifier) -> np.ndarray:
    """The classifier's softmax probabilities (N, K) for each image."""
    images = _as_float_batch(images)
    device = next(classifier.parameters()).device
    out = []
    with _eval_mode(classifier):
        for start in range(0, images.shape[0], BATCH):
            batch = _fit_to(images[start : start + BATCH].to(device), classifier)
            out.append(classifier(batch).float().softmax(1).cpu())
    if not out:
        raise ValueError("probabilities needs at least one image")
    return torch.cat(out).numpy()


CONFIDENT = 0.9
LOW, HIGH = 0.05, 0.15  # the accepted share of each class among an unconditional generator's samples
# The bundled unconditional digit GANs' bar (training.bundle, the training tab, python -m bench learn):
# every digit LOW-HIGH of the samples, and a confident share >= CONFIDENT_RATIO x the real digits'
CONFIDENT_RATIO = 0.8


def confident_share(images, classifier, threshold: float = CONFIDENT) -> float:
    """Share of ``images`` whose most likely class has probability >= ``threshold``."""
    return float((probabilities(images, classifier).max(1) >= threshold).mean())


_REAL_SHARES: dict[str, float] = {}  # weights digest -> real digits' confident share


def _weights_digest(classifier) -> str:
    """A digest of every parameter and buffer: the same weights, the same key; one step of training, another."""
    digest = hashlib.blake2b(digest_size=16)
    for name, tensor in classifier.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def real_digits_confident_share(classifier) -> float:
    """``confident_share`` of the 1,000 held-out real MNIST test digits (the classifier never trained on them).

    Remembered per weights (a digest of them, so a classifier trained further is measured again): the
    training tab asks at every checkpoint, and 1,000 digits cost ~0.3 s of the 2 cores the run trains on."""
    key = _weights_digest(classifier)
    if key not in _REAL_SHARES:
        from studio.data import mnist

        _REAL_SHARES[key] = confident_share(mnist("test").images, classifier)
    return _REAL_SHARES[key]


def classes_in_range(fractions, low: float = LOW, high: float = HIGH) -> int:
    """How many classes make up between ``low`` and ``high`` of the samples."""
    fractions = np.asarray(fractions)
    return int(np.sum((fractions >= low) & (fractions <= high)))


def meets_digit_bar(confident: float, real_confident: float, fractions) -> bool:
    """The bundled unconditional digit GANs' bar: sure of >= CONFIDENT_RATIO x the real digits'
    confident share, and every class LOW-HIGH of the samples (a G drawing one crisp digit fails)."""
    return confident >= CONFIDENT_RATIO * real_confident and classes_in_range(fractions) == len(fractions)


def class_histogram(images, classifier) -> np.ndarray:
    """Fraction of ``images`` assigned to each of the classifier's K classes: (K,) summing to 1."""
    classes = int(getattr(classifier, "num_classes", 0)) or None
    predicted = predict(images, classifier)
    if not len(predicted):
        raise ValueError("class_histogram needs at least one image")
    counts = np.bincount(predicted, minlength=classes or int(predicted.max()) + 1)
    return counts / counts.sum()


def class_statistics(images, classifier, threshold: float = CONFIDENT) -> tuple[np.ndarray, float]:
    """``class_histogram`` and ``confident_share`` of ``images`` from one pass of the classifier."""
    probs = probabilities(images, classifier)  # (N, K)
    classes = int(getattr(classifier, "num_classes", 0)) or probs.shape[1]
    counts = np.bincount(probs.argmax(1), minlength=classes)
    return counts / counts.sum(), float((probs.max(1) >= threshold).mean())


def _generate(model, n: int, seed: int, labels: torch.Tensor | None) -> torch.Tensor:
    """n images (N, C, H, W) from ``model`` in batches; the same seed gives the same images."""
    device = next(model.parameters()).device
    z = model.sample_latent(n, seed)  # (n, latent_dim), drawn on the CPU then moved
    out = []
    with _eval_mode(model):
        for start in range(0, n, BATCH):
            batch_labels = None if labels is None else labels[start : start + BATCH].to(device)
            out.append(model.generate(z[start : start + BATCH].to(device), batch_labels).float().cpu())
    return torch.cat(out)


def conditional_accuracy(model, classifier, n: int = 1000, seed: int = 0) -> float:
    """Fraction of n samples that the classifier assigns to the class they were drawn for
    (classes asked for in turn: 0, 1, ..., K-1, 0, 1, ...)."""
    classes = int(getattr(model, "num_classes", 0) or 0)
    if not classes:
        raise ValueError(f"{getattr(model, 'family', type(model).__name__)} is unconditional: use mode_coverage")
    labels = torch.arange(n) % classes  # (n,) balanced
    predicted = predict(_generate(model, n, seed, labels), classifier)
    return float((predicted == labels.numpy()).mean())


def mode_coverage(model, classifier, n: int = 1000, seed: int = 0, low: float = LOW, high: float = HIGH) -> dict:
    """Class fractions of n unconditional samples and whether every class lies in [low, high].

    Returns {"fractions": (K,) array, "all_in_range": bool, "classes_seen": int, "confident_share":
    float (see ``confident_share``), "low", "high"}. A conditional model is sampled with uniformly
    random classes, so the check still applies.
    """
    labels = model.sample_labels(n, seed + 1) if getattr(model, "num_classes", 0) else None
    if labels is not None:
        labels = labels.cpu()
    fractions, confident = class_statistics(_generate(model, n, seed, labels), classifier)
    return {
        "fractions": fractions,
        "confident_share": confident,
        "all_in_range": classes_in_range(fractions, low, high) == len(fractions),
        "classes_seen": int(np.count_nonzero(fractions)),
        "low": low,
        "high": high,
    }


DIVERSITY_IMAGES = 500  # diversity_score compares at most this many: pairwise distances grow as N^2


def diversity_score(images, max_images: int = DIVERSITY_IMAGES) -> float:
    """Mean pairwise RMS distance between images in [-1, 1] units (0: all identical; about 0.5-1
    for varied natural images). At most ``max_images`` (the first ones) are compared."""
    x = _as_float_batch(images)[:max_images].flatten(1)  # (N, D)
    n = x.shape[0]
    if n < 2:
        raise ValueError("diversity_score needs at least two images")
    distances = torch.cdist(x.double(), x.double()) / x.shape[1] ** 0.5  # (N, N) RMS distances
    return float(distances.sum() / (n * (n - 1)))
