"""GAN objectives and the classic stabilising tricks, each with its formula.

Papers: Goodfellow et al. 2014 (minimax, non-saturating); Arjovsky et al. 2017 (WGAN, weight
clipping); Gulrajani et al. 2017 (WGAN-GP); Lim & Ye 2017 / Miyato et al. 2018 (hinge);
Mao et al. 2017 (least squares); Isola et al. 2017 (pix2pix L1); Zhu et al. 2017 (cycle
consistency, identity). Tricks: Salimans et al. 2016 (one-sided label smoothing), Sønderby et
al. 2016 (instance noise), Heusel et al. 2017 (TTUR: separate learning rates, set in the recipe),
Chintala et al. "ganhacks" (flip labels for the generator, noisy discriminator labels).

Every loss takes raw discriminator outputs (logits / critic scores, never sigmoids) so that the
sigmoid is fused into a numerically stable BCE. ``softplus(-l) = -log sigmoid(l)`` and
``softplus(l) = -log(1 - sigmoid(l))``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from studio.accel import is_channels_last

# ----------------------------------------------------------------------------- adversarial


# D: maximize log D(x) + log(1 - D(G(z)))
#    == minimize BCE(D(x), t_real) + BCE(D(G(z)), t_fake), t_real = 1 - smoothing (one-sided)
def bce_d_loss(real: Tensor, fake: Tensor, real_target: float | Tensor = 1.0, fake_target: float | Tensor = 0.0) -> Tensor:
    real_target, fake_target = _per_sample(real_target, real), _per_sample(fake_target, fake)
    return F.binary_cross_entropy_with_logits(real, real_target) + F.binary_cross_entropy_with_logits(fake, fake_target)


def _per_sample(target: float | Tensor, scores: Tensor) -> Tensor:
    """A scalar or (B,) target broadcast over scores (B,) or PatchGAN scores (B, 1, h, w)."""
    target = torch.as_tensor(target, dtype=scores.dtype, device=scores.device)
    if target.dim() == 1:
        target = target.view(-1, *([1] * (scores.dim() - 1)))
    return target.expand_as(scores)


# G (original minimax, saturating): minimize log(1 - D(G(z))) = -softplus(l)
def minimax_g_loss(fake: Tensor) -> Tensor:
    return -F.softplus(fake).mean()


# G (non-saturating, a.k.a. "flip the labels for the generator"): maximize log D(G(z))
#    == minimize -log D(G(z)) = softplus(-l); strong gradients while D still wins easily.
def nonsaturating_g_loss(fake: Tensor) -> Tensor:
    return F.softplus(-fake).mean()


# Critic (WGAN, WGAN-GP): maximize E[D(x)] - E[D(G(z))]  ==  minimize E[D(G(z))] - E[D(x)]
def wasserstein_d_loss(real: Tensor, fake: Tensor) -> Tensor:
    return fake.mean() - real.mean()


# G (WGAN, hinge): minimize -E[D(G(z))]
def wasserstein_g_loss(fake: Tensor) -> Tensor:
    return -fake.mean()


# D (hinge): minimize E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]
def hinge_d_loss(real: Tensor, fake: Tensor) -> Tensor:
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


# D (least squares, a=0 b=1): minimize 1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2]
def lsgan_d_loss(real: Tensor, fake: Tensor) -> Tensor:
    return 0.5 * ((real - 1.0) ** 2).mean() + 0.5 * (fake**2).mean()


# G (least squares, c=1): minimize 1/2 E[(D(G(z)) - 1)^2]
def lsgan_g_loss(fake: Tensor) -> Tensor:
    return 0.5 * ((fake - 1.0) ** 2).mean()


@dataclass(frozen=True)
class GANLoss:
    """One adversarial objective: the D loss, the G loss, and how to read D's outputs."""

    name: str
    d_loss: Callable[[Tensor, Tensor], Tensor]
    g_loss: Callable[[Tensor], Tensor]
    probabilities: bool  # outputs are logits of D(x) = sigmoid(l): report sigmoid means
    wasserstein: bool  # E[D(x)] - E[D(G(z))] estimates the Wasserstein-1 distance
    smoothing: bool  # label smoothing / flipping apply (only to BCE targets)


LOSSES: dict[str, GANLoss] = {
    "minimax": GANLoss("minimax", bce_d_loss, minimax_g_loss, True, False, True),
    "nonsat": GANLoss("nonsat", bce_d_loss, nonsaturating_g_loss, True, False, True),
    "wgan": GANLoss("wgan", wasserstein_d_loss, wasserstein_g_loss, False, True, False),
    "wgan-gp": GANLoss("wgan-gp", wasserstein_d_loss, wasserstein_g_loss, False, True, False),
    "hinge": GANLoss("hinge", hinge_d_loss, wasserstein_g_loss, False, False, False),
    "lsgan": GANLoss("lsgan", lsgan_d_loss, lsgan_g_loss, False, False, False),
}


# ----------------------------------------------------------------------------- critic constraints


# WGAN: clip every critic weight to [-c, c] after each critic update (a crude Lipschitz bound).
@torch.no_grad()
def clip_weights_(parameters: Iterable[Tensor], clip_value: float) -> None:
    for parameter in parameters:
        parameter.clamp_(-clip_value, clip_value)


# WGAN-GP: lambda * E[(||grad_x^ D(x^)||_2 - 1)^2],  x^ = eps x + (1 - eps) G(z),  eps ~ U[0, 1]
def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, weight: float = 10.0) -> Tensor:
    eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)  # (B, 1, 1, 1)
    if real.dim() == 2:
        eps = eps.view(-1, 1)
    mixed = (eps * real.detach() + (1.0 - eps) * fake.detach()).requires_grad_(True)  # (B, C, H, W)
    scores = critic(mixed)  # (B,)
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)  # (B, C, H, W)
    norms = grad.flatten(1).norm(2, dim=1)  # (B,)
    return weight * ((norms - 1.0) ** 2).mean()


# R1 (Mescheder, Geiger & Nowozin 2018; StyleGAN's D regularizer): gamma/2 * E_x[||grad_x D(x)||^2] on reals
def r1_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, gamma: float = 10.0) -> Tensor:
    real = real.detach().requires_grad_(True)  # (B, C, H, W)
    return r1_from_scores(critic(real), real, gamma)


def r1_from_scores(scores: Tensor, real: Tensor, gamma: float = 10.0) -> Tensor:
    """R1 from scores (B,) already computed on ``real`` (a leaf with requires_grad), so the pass
    that gives D's loss also gives the penalty's gradient."""
    (grad,) = torch.autograd.grad(scores.sum(), real, create_graph=True)  # (B, C, H, W)
    return 0.5 * gamma * grad.pow(2).flatten(1).sum(1).mean()


# ----------------------------------------------------------------------------- image translation


# pix2pix: lambda * E[|G(x) - y|_1]   (lambda = 100 in the paper)
def l1_loss(fake: Tensor, target: Tensor, weight: float = 100.0) -> Tensor:
    return weight * (fake - target).abs().mean()


# CycleGAN: lambda * (E|G_BA(G_AB(a)) - a|_1 + E|G_AB(G_BA(b)) - b|_1)   (lambda = 10)
def cycle_loss(a: Tensor, a_cycled: Tensor, b: Tensor, b_cycled: Tensor, weight: float = 10.0) -> Tensor:
    return weight * ((a_cycled - a).abs().mean() + (b_cycled - b).abs().mean())


# CycleGAN identity: lambda_id * lambda * (E|G_BA(a) - a|_1 + E|G_AB(b) - b|_1)   (lambda_id = 0.5)
def identity_loss(a: Tensor, a_same: Tensor, b: Tensor, b_same: Tensor, weight: float = 5.0) -> Tensor:
    return weight * ((a_same - a).abs().mean() + (b_same - b).abs().mean())


# ----------------------------------------------------------------------------- tricks


def real_target(smoothing: float) -> float:
    """One-sided label smoothing: D aims at 1 - smoothing for real images, 0 (unchanged) for fakes."""
    if not 0.0 <= smoothing < 0.5:
        raise ValueError(f"label smoothing must be in [0, 0.5), got {smoothing}")
    return 1.0 - smoothing


def flip_targets(batch: int, real: float, flip_prob: float, device: torch.device) -> tuple[Tensor, Tensor]:
    """Noisy labels for D: with probability ``flip_prob`` a sample's real/fake target is swapped."""
    flip = (torch.rand(batch, device=device) < flip_prob).float()  # (B,)
    real_t = real * (1.0 - flip)  # flipped real images aim at 0
    fake_t = flip * real  # flipped fakes aim at "real"
    return real_t, fake_t


def instance_noise_std(step: int, initial: float, anneal_steps: int) -> float:
    """Instance noise std, annealed linearly from ``initial`` to 0 over ``anneal_steps`` steps."""
    if initial <= 0.0:
        return 0.0
    if anneal_steps <= 0:
        return initial
    return initial * max(0.0, 1.0 - step / anneal_steps)


# Instance noise: D sees x + n, n ~ N(0, sigma^2), for real and fake alike, so the two
# distributions overlap and D's gradients stay informative early on.
def add_instance_noise(images: Tensor, std: float) -> Tensor:
    if std <= 0.0:
        return images
    return images + std * torch.randn_like(images)


# Differentiable augmentation of everything D sees, real and fake alike (Zhao et al. 2020,
# "Differentiable Augmentation for Data-Efficient GAN Training", DiffAugment): with few images
# (the 5,000 bundled digits) D otherwise memorizes the data and G collapses. The same random
# transforms on both sides, differentiable, so G still learns untransformed images.
#   translation: shift by up to 1/8 of the size, filling with the background value -1
#   cutout:      blank a random square of half the size (value 0, as DiffAugment)
#   turn:        rotate by 180 degrees with probability 0.3 (lets the course's 28-pixel D, which
#                never looks at the last 6 rows and columns, see them; p < 0.5 so no rotated
#                digits leak into G: (1 - p) P + p rot(P) determines P)
def translate(images: Tensor, ratio: float = 0.125) -> Tensor:
    b, _, h, w = images.shape
    sy, sx = max(1, int(h * ratio + 0.5)), max(1, int(w * ratio + 0.5))
    dy = torch.randint(-sy, sy + 1, (b, 1, 1), device=images.device)
    dx = torch.randint(-sx, sx + 1, (b, 1, 1), device=images.device)
    rows = (torch.arange(h, device=images.device).view(1, h, 1) + dy).clamp(-1, h)  # (B, H, 1)
    cols = (torch.arange(w, device=images.device).view(1, 1, w) + dx).clamp(-1, w)  # (B, 1, W)
    padded = F.pad(images, (1, 1, 1, 1), value=-1.0)  # (B, C, H+2, W+2): index -1 / H land on the border
    batch = torch.arange(b, device=images.device).view(b, 1, 1)
    return padded.permute(0, 2, 3, 1)[batch, rows + 1, cols + 1].permute(0, 3, 1, 2)  # (B, C, H, W)


def cutout(images: Tensor, ratio: float = 0.5) -> Tensor:
    b, _, h, w = images.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    y0 = torch.randint(0, h + 1 - ch % 2, (b, 1, 1), device=images.device) - ch // 2
    x0 = torch.randint(0, w + 1 - cw % 2, (b, 1, 1), device=images.device) - cw // 2
    ys = torch.arange(h, device=images.device).view(1, h, 1)
    xs = torch.arange(w, device=images.device).view(1, 1, w)
    hole = (ys >= y0) & (ys < y0 + ch) & (xs >= x0) & (xs < x0 + cw)  # (B, H, W)
    return images * (~hole).unsqueeze(1).to(images.dtype)


def turn(images: Tensor, p: float = 0.3) -> Tensor:
    flip = torch.rand(images.shape[0], device=images.device) < p  # (B,)
    return torch.where(flip.view(-1, 1, 1, 1), images.flip(-2, -1), images)


def gaussian_blur(images: Tensor, sigma: Tensor | float) -> Tensor:
    """Blur each image with a Gaussian of standard deviation ``sigma`` pixels (a float, or one per
    image, shape (B,)); edges repeat the border pixel. sigma 0 gives the image back."""
    b, c, h, w = images.shape
    sigma = torch.as_tensor(sigma, dtype=images.dtype, device=images.device).expand(b)  # (B,)
    radius = max(1, int(torch.ceil(3 * sigma.max()).item()))
    offsets = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)  # (K,)
    # g(d) = exp(-d^2 / (2 sigma^2)), normalised; sigma -> 0 puts all the weight on d = 0
    kernel = torch.exp(-0.5 * (offsets / sigma.clamp_min(1e-3).unsqueeze(1)) ** 2)  # (B, K)
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (B*C, K): one per channel
    flat = F.pad(images.reshape(1, b * c, h, w), (radius,) * 4, mode="replicate")
    flat = F.conv2d(flat, kernel.view(b * c, 1, 1, -1), groups=b * c)  # rows, then columns: separable
    flat = F.conv2d(flat, kernel.view(b * c, 1, -1, 1), groups=b * c)
    out = flat.view(b, c, h, w)
    return out.contiguous(memory_format=torch.channels_last) if is_channels_last(images) else out


#   blur:        a Gaussian blur of a random strength per image, sigma uniform in [0, 1] px (a judge
#                trained with it reads soft GAN samples by their shapes, not their sharpness)
def blur(images: Tensor, sigma: float = 1.0) -> Tensor:
    return gaussian_blur(images, torch.rand(images.shape[0], device=images.device) * sigma)


AUGMENTATIONS: dict[str, Callable[[Tensor], Tensor]] = {"translation": translate, "cutout": cutout, "turn": turn,
                                                       "blur": blur}
# The size a policy may give after a colon: for translation and cutout a fraction of the image
# ("translation:0.0625" shifts by up to 1/16 of it, 2 pixels at 32; "cutout:0.25" blanks a
# quarter-size square), for blur the largest sigma in pixels ("blur:1.5").
@dataclass(frozen=True)
class Size:
    keyword: str  # the transform's argument it sets
    largest: float  # the largest size allowed
    unit: str
    meaning: str


SIZES = {"translation": Size("ratio", 0.5, "of the image", "a fraction of the image"),
         "cutout": Size("ratio", 1.0, "of the image", "a fraction of the image"),
         "blur": Size("sigma", 4.0, "px", "the largest sigma, in pixels")}


def parse_policy(policy: str) -> list[Callable[[Tensor], Tensor]]:
    """"translation,cutout" -> the transforms, in order; "translation:0.0625" sets a size (SIZES)."""
    transforms = []
    for item in (item.strip() for item in policy.split(",") if item.strip()):
        name, _, amount = (part.strip() for part in item.partition(":"))
        if name not in AUGMENTATIONS:
            raise ValueError(f"unknown augmentation {name}; choose from {', '.join(AUGMENTATIONS)}")
        transform = AUGMENTATIONS[name]
        if amount:
            if name not in SIZES:
                raise ValueError(f"{item}: only {', '.join(SIZES)} take a size after the colon")
            size = SIZES[name]
            try:
                value = float(amount)
            except ValueError:
                raise ValueError(f"{item}: the size must be a number ({size.meaning})") from None
            if not 0.0 < value <= size.largest:
                raise ValueError(f"{item}: the size ({size.meaning}) must be above 0 and at most {size.largest} "
                                 f"{size.unit}")
            transform = functools.update_wrapper(functools.partial(transform, **{size.keyword: value}), transform)
        transforms.append(transform)
    return transforms


def square_symmetry(*images: Tensor) -> tuple[Tensor, ...]:
    """One random symmetry of the square per sample (flip, then 0-3 quarter turns), the same for
    every tensor passed: paired translation data stays paired. (B, C, H, H) tensors."""
    b = images[0].shape[0]
    flip = torch.rand(b, device=images[0].device) < 0.5  # (B,)
    turns = torch.randint(0, 4, (b,), device=images[0].device)
    out = []
    for x in images:
        nhwc = is_channels_last(x)
        x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
        x = torch.stack([torch.rot90(x[i], int(k), (-2, -1)) for i, k in enumerate(turns.tolist())])
        out.append(x.contiguous(memory_format=torch.channels_last) if nhwc else x)
    return tuple(out)


def augment(images: Tensor, policy: list[Callable[[Tensor], Tensor]]) -> Tensor:
    for transform in policy:
        images = transform(images)
    return images


# ----------------------------------------------------------------------------- auxiliary


# Classifier / ACGAN auxiliary: minimize cross-entropy -log p(y | x)
def classification_loss(logits: Tensor, labels: Tensor) -> Tensor:
    return F.cross_entropy(logits, labels)


# multi-label: minimize -sum_k [y_k log sigmoid(l_k) + (1 - y_k) log(1 - sigmoid(l_k))] (mean over k)
def multilabel_loss(logits: Tensor, labels: Tensor) -> Tensor:
    return F.binary_cross_entropy_with_logits(logits, labels.float())


# U-Net segmentation: per-pixel cross-entropy -1/(N H W) sum log softmax(logits)[y], logits (B, K, H, W), y (B, H, W)
def segmentation_loss(logits: Tensor, classes: Tensor) -> Tensor:
    return F.cross_entropy(logits, classes)


# InfoGAN: maximize the mutual-information lower bound E[log Q(c | G(z, c))]
#    categorical code: cross-entropy; continuous codes: Gaussian NLL with unit variance = 1/2 MSE
def info_loss(cat_logits: Tensor, cat: Tensor, cont_pred: Tensor | None, cont: Tensor | None, cont_weight: float = 1.0) -> Tensor:
    loss = F.cross_entropy(cat_logits, cat)
    if cont_pred is not None and cont is not None and cont.numel():
        loss = loss + cont_weight * 0.5 * F.mse_loss(cont_pred, cont)
    return loss
