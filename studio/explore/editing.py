"""Controllable generation: move z so that a classifier sees more (or less) of an attribute.

Two methods, side by side on the same seed (Course 1 week 4, "Controllable Generation"):

1. **Classifier gradient** (the course's notebook): gradient ascent on the target's logit,

       z <- z + alpha * grad_z [ s * l_t(G(z)) - lambda * || l_other(G(z)) - l_other(G(z_0)) ||_2 ]

   with s = +1 to add the attribute and -1 to remove it; the penalty (weight lambda, 0 = off) is
   the course's "keep the other attributes": it fights changes of every other logit.
2. **Linear direction** (Shen, Gu, Tang & Zhou 2020, "Interpreting the Latent Space of GANs for
   Semantic Face Editing", InterFaceGAN): a linear SVM separates sampled z by the classifier's
   verdict; its unit normal n is the attribute's direction and z <- z + d * n moves by signed
   distance d. **Conditional** editing projects out the normals of the attributes to keep,

       n' = (n - Q Q^T n) / || n - Q Q^T n ||,   Q an orthonormal basis of the kept normals,

   so moving along n' changes none of their SVM scores. Both move the target's signed distance
   n . z by the same d: the conditional edit goes d / (n' . n) along n', since n' is only partly
   aligned with n (the more the target is entangled with the kept attributes, the further z goes).

The lesson the curves show: the attributes are entangled. In the biased world glasses come with
hats, so a hat direction learned from the GAN's own samples carries glasses along, unless you
keep them. The classifier is the judge: its mistakes are part of every number here.

Any GAN with a z works if a classifier fits its data (``JUDGES``): the faces attribute classifier
for faces GANs, the digit classifier for MNIST GANs ("make this look more like a 3").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from studio import imaging
from studio.errors import CheckpointError, DataError
from studio.models.base import evaluating

# the dataset a GAN was trained on (its card's "dataset", before any ":split") -> the zoo's judge
JUDGES = {"faces": "faces-attributes", "faces_fair": "faces-attributes", "mnist": "mnist-classifier",
          "mnist-5k": "mnist-classifier"}
METHODS = ("gradient", "linear", "conditional")
MAX_STEPS, MAX_SEEDS = 64, 16
# a conditional edit moves z by distance / (n' . n): below this alignment z would leave the prior
MIN_ALIGNMENT = 0.2


@dataclass
class Judge:
    """A classifier read attribute by attribute: a multi-label one gives each attribute its own
    sigmoid; a softmax one (digits) gives each class the softmax probability."""

    classifier: torch.nn.Module
    names: list[str]

    @property
    def multilabel(self) -> bool:
        return bool(getattr(self.classifier, "multilabel", False))

    def index(self, name: str) -> int:
        if name not in self.names:
            raise DataError(f"unknown attribute {name!r}: this classifier reads {', '.join(self.names)}")
        return self.names.index(name)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """(B, K) logits of images (B, C, H, W) in [-1, 1], resized to the classifier's input."""
        size = getattr(self.classifier, "image_size", images.shape[-1])
        if images.shape[1] != getattr(self.classifier, "channels", images.shape[1]):
            raise CheckpointError(f"the classifier reads {self.classifier.channels}-channel images, "
                                  f"the generator draws {images.shape[1]}")
        if images.shape[-1] != size:
            images = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        return self.classifier(images)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits) if self.multilabel else torch.softmax(logits, dim=1)


def judge_name(meta: dict) -> str:
    """The zoo name of the classifier that fits a GAN's data, or CheckpointError saying none does."""
    dataset = str(meta.get("dataset") or "").split(":")[0]
    if dataset not in JUDGES:
        raise CheckpointError(
            f"no classifier fits this model's data ({dataset or 'unknown'}): feature editing needs one "
            f"(a GAN trained on {', '.join(sorted(set(JUDGES)))}). Load faces-dcgan or mnist-dcgan.")
    return JUDGES[dataset]


def make_judge(classifier, meta: dict | None = None) -> Judge:
    names = list((meta or {}).get("class_names") or [])
    count = int(getattr(classifier, "num_classes", 0) or 0)
    if len(names) != count:
        names = [str(i) for i in range(count)]
    classifier.eval()
    return Judge(classifier, names)


# ----------------------------------------------------------------------------- the edit


@dataclass
class Trajectory:
    """An edit of B seeds over T = steps + 1 frames (frame 0: the start)."""

    method: str
    target: str
    direction: int  # +1 add, -1 remove
    seeds: list[int]
    latents: torch.Tensor  # (T, B, D)
    images: np.ndarray  # (T, B, H, W, C) uint8
    probabilities: np.ndarray  # (T, B, K) every attribute's probability at every frame
    names: list[str]
    multilabel: bool

    def strip(self, seed_index: int = 0) -> np.ndarray:
        """The frames of one seed side by side: (H, T * (W + 2) + 2, C) uint8."""
        return imaging.grid(self.images[:, seed_index], nrow=len(self.images))

    def gif(self, seed_index: int = 0, fps: float = 6, scale: int = 4) -> bytes:
        frames = self.images[:, seed_index]
        return imaging.gif_bytes(np.concatenate([frames, frames[::-1]]), fps=fps, scale=scale)  # there and back

    def rates(self) -> dict:
        """Over the seeds: the share whose target ended where asked (success), and the share where
        another attribute flipped across 1/2 (side effect; multi-label judges only)."""
        t = self.names.index(self.target)
        start, end = self.probabilities[0], self.probabilities[-1]  # (B, K)
        if self.multilabel:
            success = (end[:, t] > 0.5) if self.direction > 0 else (end[:, t] < 0.5)
            others = [k for k in range(len(self.names)) if k != t]
            flipped = (start[:, others] > 0.5) != (end[:, others] > 0.5)  # (B, K - 1)
            per_attribute = {self.names[k]: float(flipped[:, i].mean()) for i, k in enumerate(others)}
            return {"success": float(success.mean()), "side_effect": float(flipped.any(axis=1).mean()),
                    "flipped": per_attribute, "seeds": len(self.seeds)}
        predicted = end.argmax(axis=1)
        success = (predicted == t) if self.direction > 0 else (predicted != t)
        return {"success": float(success.mean()), "side_effect": None, "flipped": {}, "seeds": len(self.seeds)}


def _labels(generator, n: int, seeds: Sequence[int]):
    if not getattr(generator, "num_classes", 0):
        return None
    return torch.cat([generator.sample_labels(1, int(s) + 1) for s in seeds])  # the classes samples() draws


def _check(generator, judge: Judge, target: str, direction: int, steps: int, seeds: Sequence[int]) -> int:
    if not hasattr(generator, "latent_dim") or not hasattr(generator, "generate"):
        raise CheckpointError(f"a {getattr(generator, 'family', '?')} model has no latent z to edit")
    if direction not in (1, -1):
        raise DataError(f"direction must be +1 (add) or -1 (remove), got {direction!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
        raise DataError(f"steps must be an integer from 1 to {MAX_STEPS}, got {steps!r}")
    if not 1 <= len(seeds) <= MAX_SEEDS:
        raise DataError(f"edit 1 to {MAX_SEEDS} seeds at once, got {len(seeds)}")
    return judge.index(target)


def _frames(generator, judge: Judge, latents: torch.Tensor, labels) -> tuple[np.ndarray, np.ndarray]:
    """Images (T, B, H, W, C) and probabilities (T, B, K) of latents (T, B, D)."""
    T, B, D = latents.shape
    with evaluating(generator, judge.classifier), torch.no_grad():
        flat_labels = None if labels is None else labels.repeat(T)
        images = generator.generate(latents.reshape(T * B, D).to(generator.device), flat_labels).clamp(-1, 1)
        probs = judge.probabilities(judge.logits(images)).reshape(T, B, -1)
    pictures = imaging.to_uint8(images.cpu()).reshape(T, B, *images.shape[2:], images.shape[1])
    return pictures, probs.cpu().numpy()


def gradient_edit(generator, judge: Judge, seeds: Sequence[int], target: str, direction: int = 1, *,
                  steps: int = 10, step_size: float = 0.1, keep_weight: float = 0.0) -> Trajectory:
    """The course's classifier-gradient edit: ``steps`` gradient steps of size ``step_size`` on z."""
    t = _check(generator, judge, target, direction, steps, seeds)
    if not 0 <= keep_weight <= 100:
        raise DataError(f"keep_weight must lie in [0, 100], got {keep_weight!r}")
    labels = _labels(generator, len(seeds), seeds)
    z = torch.cat([generator.sample_latent(1, int(s)) for s in seeds])  # (B, D)
    path = [z.detach().clone()]
    others = [k for k in range(len(judge.names)) if k != t] if keep_weight else []
    original = None

    def objective(z):  # per seed: the target logit, less λ times how far the other logits moved
        nonlocal original
        logits = judge.logits(generator.generate(z, labels))  # (B, K)
        if original is None:
            original = logits[:, others].detach()
        value = direction * logits[:, t]
        return value - keep_weight * (logits[:, others] - original).norm(dim=1) if others else value

    with evaluating(generator, judge.classifier):  # autograd.grad differentiates z only: no weight changes
        for _ in range(steps):
            z = z.detach().requires_grad_(True)
            now = objective(z)
            (grad,) = torch.autograd.grad(now.sum(), z)
            size = torch.full((len(seeds), 1), step_size)
            if others:  # the penalty is stiff: a step that lowers a seed's objective is halved (up to 10 times)
                with torch.no_grad():
                    for _ in range(10):
                        worse = (objective(z + size * grad) < now).unsqueeze(1)
                        if not worse.any():
                            break
                        size = torch.where(worse, size / 2, size)
            z = z.detach() + size * grad
            path.append(z.clone())
    latents = torch.stack(path)  # (T, B, D)
    images, probs = _frames(generator, judge, latents, labels)
    return Trajectory("gradient", target, direction, [int(s) for s in seeds], latents, images, probs,
                      judge.names, judge.multilabel)


# ----------------------------------------------------------------------------- linear directions

_DIRECTIONS: dict[tuple, dict] = {}


def fit_directions(generator, judge: Judge, n: int = 2000, seed: int = 12345) -> dict:
    """InterFaceGAN: per attribute, a linear SVM on (z, judge's verdict) of ``n`` samples; the unit
    normal of its hyperplane. Cached per (generator, judge, n, seed) for the process.

    Returns {"normals": {name: (D,) unit tensor}, "accuracy": {name: SVM training accuracy},
    "positive_share": {name: share of samples with the attribute}}. A multi-label judge gives one
    direction per attribute; a softmax judge one per class (that class against the rest).
    """
    key = (id(generator), id(judge.classifier), n, seed)
    if key in _DIRECTIONS:
        return _DIRECTIONS[key]
    from sklearn.svm import LinearSVC

    z = generator.sample_latent(n, seed)
    labels = generator.sample_labels(n, seed + 1) if getattr(generator, "num_classes", 0) else None
    with evaluating(generator, judge.classifier), torch.no_grad():
        probs = torch.cat([judge.probabilities(judge.logits(generator.generate(zb, None if labels is None else lb)))
                           for zb, lb in zip(z.split(250), (labels.split(250) if labels is not None else [None] * n))])
    verdict = (probs > 0.5).cpu().numpy() if judge.multilabel else np.eye(probs.shape[1])[probs.argmax(1).cpu().numpy()] > 0
    normals, accuracy, share = {}, {}, {}
    features = z.cpu().numpy()
    for k, name in enumerate(judge.names):
        y = verdict[:, k].astype(int)
        share[name] = float(y.mean())
        if y.min() == y.max():  # the GAN never (or always) draws it: no hyperplane
            continue
        svm = LinearSVC(C=1.0, dual=False, max_iter=5000).fit(features, y)
        w = torch.as_tensor(svm.coef_[0], dtype=torch.float32)
        normals[name] = w / w.norm()
        accuracy[name] = float(svm.score(features, y))
    result = {"normals": normals, "accuracy": accuracy, "positive_share": share}
    _DIRECTIONS[key] = result
    return result


def conditional_direction(normal: torch.Tensor, kept: Sequence[torch.Tensor]) -> torch.Tensor:
    """Project the kept directions out of ``normal`` (InterFaceGAN's conditional manipulation)."""
    if not kept:
        return normal / normal.norm()
    basis, _ = torch.linalg.qr(torch.stack(list(kept), dim=1))  # (D, k) orthonormal columns
    residual = normal - basis @ (basis.T @ normal)
    size = residual.norm()
    if size < 1e-4 * normal.norm():  # float32 rounding leaves ~1e-7 of a vector inside the span
        raise DataError("the target's direction lies within the kept ones: nothing is left to move along")
    return residual / size


def linear_edit(generator, judge: Judge, seeds: Sequence[int], target: str, direction: int = 1, *,
                steps: int = 10, distance: float = 3.0, keep: Sequence[str] = (), n_fit: int = 2000) -> Trajectory:
    """Move each seed's z by signed distances 0 .. direction * ``distance`` along the target's normal
    (conditional on ``keep``: along their normals' projection n', far enough that the target's signed
    distance changes by ``distance`` too)."""
    _check(generator, judge, target, direction, steps, seeds)
    if not 0 < distance <= 20:
        raise DataError(f"distance must lie in (0, 20], got {distance!r}")
    fitted = fit_directions(generator, judge, n=n_fit)
    normals = fitted["normals"]
    if target not in normals:
        raise DataError(f"the model never (or always) draws {target!r}: no direction to move along")
    kept = [judge.names[judge.index(name)] for name in keep if name != target]
    normal = conditional_direction(normals[target], [normals[k] for k in kept if k in normals])
    # n' . n = 1 without kept attributes; with them, go further along n' so that the target's signed
    # distance moves by `distance`, as the linear edit does (entangled attributes leave n' little of n)
    alignment = float(normal @ normals[target])
    if alignment < MIN_ALIGNMENT:
        raise DataError(f"{target!r} lies almost within the kept attributes' directions (cos {alignment:.2f} with "
                        f"its own normal after projecting them out): keep fewer attributes")
    z = torch.cat([generator.sample_latent(1, int(s)) for s in seeds]).cpu()  # (B, D)
    distances = torch.linspace(0, direction * distance / alignment, steps + 1)  # (T,)
    latents = z.unsqueeze(0) + distances[:, None, None] * normal[None, None, :]  # (T, B, D)
    images, probs = _frames(generator, judge, latents, _labels(generator, len(seeds), seeds))
    method = "conditional" if kept else "linear"
    return Trajectory(method, target, direction, [int(s) for s in seeds], latents, images, probs,
                      judge.names, judge.multilabel)


def edit(generator, judge: Judge, seeds: Sequence[int], target: str, direction: int = 1, *, method: str = "gradient",
         steps: int = 10, strength: float = 1.0, keep_weight: float = 0.0, keep: Sequence[str] = ()) -> Trajectory:
    """One entry for the pages: ``strength`` scales the step (gradient: step size 0.1 x strength;
    linear: total distance 3 x strength)."""
    if method not in METHODS:
        raise DataError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}")
    if not 0 < strength <= 5:
        raise DataError(f"strength must lie in (0, 5], got {strength!r}")
    if method == "gradient":
        return gradient_edit(generator, judge, seeds, target, direction, steps=steps, step_size=0.1 * strength,
                             keep_weight=keep_weight)
    return linear_edit(generator, judge, seeds, target, direction, steps=steps, distance=3.0 * strength,
                       keep=keep if method == "conditional" else ())


def probability_chart(trajectory: Trajectory, seed_index: int = 0):
    """Every attribute's probability at every step of one seed (plotly): the entanglement, visible."""
    import plotly.graph_objects as go

    probs = trajectory.probabilities[:, seed_index]  # (T, K)
    steps = list(range(len(probs)))
    traces = [go.Scatter(x=steps, y=probs[:, k], mode="lines+markers", name=name,
                         line={"width": 4 if name == trajectory.target else 2})
              for k, name in enumerate(trajectory.names)]
    # one constructor call with a plain layout: a third of the time of add_trace / add_hline / update_layout,
    # which the page pays at every slider move
    half = {"type": "line", "xref": "x domain", "x0": 0, "x1": 1, "yref": "y", "y0": 0.5, "y1": 0.5,
            "line": {"dash": "dot", "color": "gray"}}
    layout = {"title": {"text": f"{trajectory.method}: P(attribute) along the edit (seed {trajectory.seeds[seed_index]})"},
              "xaxis": {"title": {"text": "step"}}, "yaxis": {"title": {"text": "probability (the classifier's)"},
                                                             "range": [0, 1]},
              "height": 320, "margin": {"l": 40, "r": 10, "t": 40, "b": 40}, "shapes": [half]}
    return go.Figure(data=traces, layout=layout)
