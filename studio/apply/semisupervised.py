"""The K+1-class semi-supervised GAN (Salimans et al. 2016, "Improved Techniques for Training
GANs", section 5): one discriminator is both the classifier and the real/fake judge. (The paper's
K is the number of classes, ten digits here; elsewhere in studio.apply K is labels per class.)

The discriminator has ten logits l_1..l_10, one per digit, and no eleventh: the "fake" class
has its logit fixed at 0 (subtracting a function of x from every logit leaves the softmax
unchanged, so this loses nothing). Then, with Z(x) = sum_k exp l_k(x),

    p(y = k | x, real) = softmax(l)_k          D(x) = p(real | x) = Z(x) / (Z(x) + 1) = sigmoid(logsumexp l)

and the discriminator minimises

    L_sup   = cross-entropy of softmax(l) on the K labelled digits per class
    L_unsup = -E_unlabelled real [log D(x)] - E_z [log(1 - D(G(z)))]
            = E_real [softplus(lse) - lse] + E_z [softplus(lse(l(G(z))))]

L_sup + w * L_unsup (w = ``unsup_weight``, 1 by default; the paper's code halves both terms of
L_unsup, which is w = 0.5). The generator is trained by
**feature matching** (the paper's choice for semi-supervised learning, section 3.1, and the one
that gave its best classifiers; minibatch discrimination made better-looking samples but worse
classifiers): || mean f(x_real) - mean f(G(z)) ||^2 with f the discriminator's last hidden layer.

Networks follow the paper's MNIST setup, scaled to a CPU: the discriminator an MLP (500-250 here,
1000-500-250-250-250 in the paper) with Gaussian noise added to its input (std 0.3, pixels in
[0, 1]) and to every hidden layer (0.5), weight-normalised linear layers, its fake logit started
so that D(x) is about 1/2; the generator an MLP (500-500) with batch norm and softplus. Adam,
lr 0.003, beta1 0.5, batches of 64 labelled, 64 unlabelled and 64 generated digits, one D and one
G step per round, as in the paper's code. The unlabelled digits are the 4,000 train digits (their
labels unused); the labelled ones are ``fewshot.few_labels(K, seed)`` and accuracy is on the
1,000 held-out test digits, as in the augmentation and transfer experiments.

    sgan        the K+1-class GAN: L_sup + L_unsup, generator by feature matching
    supervised  the same discriminator network, the same steps, L_sup only (the from-scratch
                baseline of this architecture)

Self-contained (plain torch, CPU-sized, like ``fewshot.train_classifier``), not an engine
recipe: the engine's data pipeline yields unlabelled images and its steps train one
generator-discriminator pair per family; this experiment needs a labelled subset beside the
unlabelled pool and its own accuracy after every run.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from studio.apply.fewshot import MAX_K, ProgressFn, accuracy, digits, few_labels, no_progress, summarise
from studio.errors import DataError

SGAN_CONDITIONS = ("sgan", "supervised")
DEFAULTS = {"ks": (10,), "seeds": 1, "steps": 1500, "batch_size": 64, "unsup_weight": 1.0, "lr": 3e-3,
            "hidden": (500, 250), "g_hidden": 500}
LATENT = 64
LABELS = {"sgan": "K+1-class GAN (feature matching)", "supervised": "same discriminator, labels only"}


class GaussianNoise(nn.Module):
    """Adds N(0, std^2) noise in training mode; the identity in eval mode."""

    def __init__(self, std: float):
        super().__init__()
        self.std = std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.std * torch.randn_like(x) if self.training and self.std > 0 else x


class ToUnit(nn.Module):
    """[-1, 1] -> [0, 1]: the paper's pixel scale, which its noise levels (0.3, 0.5) are set for."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x + 1) / 2


class SemiSupervisedDiscriminator(nn.Module):
    """Digits (B, 1, 28, 28) in [-1, 1] -> class logits (B, num_classes); ``features`` the last hidden layer.

    The real/fake probability is ``real_probability(logits)`` = Z / (Z + 1) (the fake logit is 0)."""

    def __init__(self, num_classes: int = 10, hidden=(500, 250), input_noise: float = 0.3, noise: float = 0.5):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten(), ToUnit(), GaussianNoise(input_noise)]
        width = 28 * 28
        for i, size in enumerate(hidden):
            if i:
                layers.append(GaussianNoise(noise))
            layers += [weight_norm(nn.Linear(width, size)), nn.ReLU()]
            width = size
        self.body = nn.Sequential(*layers)  # ends at the last hidden layer: the matched features
        last = nn.Linear(width, num_classes)
        with torch.no_grad():  # Z(x) ~ 1 at the start: D(x) ~ 1/2, neither side favoured
            last.bias.fill_(-math.log(num_classes))
        self.head = nn.Sequential(GaussianNoise(noise), weight_norm(last))
        self.num_classes = num_classes

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class MLPGenerator(nn.Module):
    """z (B, LATENT) -> digits (B, 1, 28, 28) in [-1, 1]: 500-500 softplus units with batch norm."""

    def __init__(self, latent: int = LATENT, hidden: int = 500):
        super().__init__()
        self.latent = latent
        self.net = nn.Sequential(
            nn.Linear(latent, hidden), nn.BatchNorm1d(hidden), nn.Softplus(),
            nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.Softplus(),
            weight_norm(nn.Linear(hidden, 28 * 28)), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, 1, 28, 28)


def real_probability(logits: torch.Tensor) -> torch.Tensor:
    """D(x) = Z / (Z + 1) with Z = sum_k exp l_k: sigmoid(logsumexp(l))."""
    return torch.sigmoid(torch.logsumexp(logits, dim=1))


def supervised_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the K real classes on labelled digits (the fake class plays no part)."""
    return F.cross_entropy(logits, labels)


def unsupervised_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-E log D(x_real) - E log(1 - D(G(z))) with D = Z / (Z + 1), in a numerically stable form."""
    lse_real = torch.logsumexp(real_logits, dim=1)
    lse_fake = torch.logsumexp(fake_logits, dim=1)
    return (F.softplus(lse_real) - lse_real).mean() + F.softplus(lse_fake).mean()


def feature_matching_loss(real_features: torch.Tensor, fake_features: torch.Tensor) -> torch.Tensor:
    """|| mean f(x_real) - mean f(G(z)) ||^2 over the batch (the generator's loss)."""
    return (real_features.mean(0) - fake_features.mean(0)).pow(2).sum()


class SemiSupervisedGAN:
    """The pair and its two Adam optimisers; ``d_step`` / ``g_step`` are one update each."""

    def __init__(self, seed: int = 0, lr: float = DEFAULTS["lr"], unsup_weight: float = DEFAULTS["unsup_weight"],
                 hidden=DEFAULTS["hidden"], g_hidden: int = DEFAULTS["g_hidden"]):
        torch.manual_seed(seed)
        self.discriminator = SemiSupervisedDiscriminator(hidden=hidden)
        self.generator = MLPGenerator(hidden=g_hidden)
        self.unsup_weight = unsup_weight
        self.d_optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=(0.5, 0.999))
        self.g_optimizer = torch.optim.Adam(self.generator.parameters(), lr=lr, betas=(0.5, 0.999))
        self.noise = torch.Generator().manual_seed(seed + 1)

    def latent(self, n: int) -> torch.Tensor:
        return torch.rand(n, self.generator.latent, generator=self.noise)

    def d_step(self, x_lab: torch.Tensor, y_lab: torch.Tensor, x_unl: torch.Tensor | None) -> dict:
        """One discriminator update: L_sup on (x_lab, y_lab) + w L_unsup on x_unl and as many fakes.
        ``x_unl`` None: labels only (the supervised baseline)."""
        d = self.discriminator.train()
        loss_sup = supervised_loss(d(x_lab), y_lab)
        loss = loss_sup
        out = {"loss_sup": loss_sup.item()}
        if x_unl is not None and self.unsup_weight > 0:
            with torch.no_grad():
                fake = self.generator.train()(self.latent(len(x_unl)))
            loss_unsup = unsupervised_loss(d(x_unl), d(fake))
            loss = loss + self.unsup_weight * loss_unsup
            out["loss_unsup"] = loss_unsup.item()
        self.d_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.d_optimizer.step()
        return out

    def g_step(self, x_unl: torch.Tensor) -> float:
        """One generator update by feature matching against the real batch ``x_unl``."""
        d, g = self.discriminator.train(), self.generator.train()
        with torch.no_grad():
            real_features = d.features(x_unl)
        loss = feature_matching_loss(real_features, d.features(g(self.latent(len(x_unl)))))
        self.g_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.g_optimizer.step()
        return loss.item()


def train_sgan(x_lab: torch.Tensor, y_lab: torch.Tensor, unlabelled: torch.Tensor | None, *, steps: int, seed: int,
               batch_size: int = DEFAULTS["batch_size"], lr: float = DEFAULTS["lr"],
               unsup_weight: float = DEFAULTS["unsup_weight"], hidden=DEFAULTS["hidden"], g_hidden: int = DEFAULTS["g_hidden"],
               progress=None) -> SemiSupervisedGAN:
    """``steps`` rounds of one D step and (with ``unlabelled``) one G step; batches drawn with
    replacement. ``unlabelled`` None: the supervised baseline (the same D, labels only)."""
    if steps < 1 or batch_size < 1:
        raise DataError(f"steps and batch_size must be at least 1, got {steps} and {batch_size}")
    gan = SemiSupervisedGAN(seed, lr=lr, unsup_weight=unsup_weight, hidden=hidden, g_hidden=g_hidden)
    draw = torch.Generator().manual_seed(seed)
    for step in range(steps):
        pick = torch.randint(0, len(y_lab), (batch_size,), generator=draw)
        x_unl = None
        if unlabelled is not None:
            x_unl = unlabelled[torch.randint(0, len(unlabelled), (batch_size,), generator=draw)]
        gan.d_step(x_lab[pick], y_lab[pick], x_unl)
        if x_unl is not None:
            gan.g_step(unlabelled[torch.randint(0, len(unlabelled), (batch_size,), generator=draw)])
        if progress is not None and step % 50 == 0:
            progress(step / steps)
    gan.discriminator.eval()
    gan.generator.eval()
    return gan


def check_settings(ks, conditions, seeds: int, steps: int) -> tuple[list[int], list[str]]:
    try:
        ks = sorted({int(k) for k in ks})
    except (TypeError, ValueError):
        raise DataError(f"K values must be whole numbers from 1 to {MAX_K}, got {ks!r}") from None
    if not ks or any(not 1 <= k <= MAX_K for k in ks):
        raise DataError(f"K values must be from 1 to {MAX_K} digits per class, got {ks}")
    asked = {str(c) for c in conditions}
    conditions = [c for c in SGAN_CONDITIONS if c in asked]
    if not conditions or asked - set(SGAN_CONDITIONS):
        raise DataError(f"conditions must be some of {', '.join(SGAN_CONDITIONS)}")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or not 1 <= seeds <= 20:
        raise DataError(f"seeds must be a whole number from 1 to 20, got {seeds!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= 20000:
        raise DataError(f"steps must be a whole number from 1 to 20000, got {steps!r}")
    return ks, conditions


def run_semisupervised(
    *,
    ks=DEFAULTS["ks"],
    conditions=SGAN_CONDITIONS,
    seeds: int = DEFAULTS["seeds"],
    steps: int = DEFAULTS["steps"],
    batch_size: int = DEFAULTS["batch_size"],
    unsup_weight: float = DEFAULTS["unsup_weight"],
    hidden=DEFAULTS["hidden"],
    g_hidden: int = DEFAULTS["g_hidden"],
    unlabelled: int | None = None,
    reference: bool = True,
    progress: ProgressFn = no_progress,
) -> dict:
    """Each (K, seed, condition): the K+1-class GAN or its discriminator trained on the labels only;
    returns rows, a summary per (condition, K) with 95% intervals, the bundled classifier's accuracy
    (``reference``) and the settings. ``unlabelled``: how many train digits form the unlabelled
    pool (default all 4,000)."""
    ks, conditions = check_settings(ks, conditions, seeds, steps)
    if not 0 <= unsup_weight <= 10:
        raise DataError(f"unsup_weight must be from 0 to 10, got {unsup_weight}")
    train_x, _ = digits("train")
    pool = train_x if unlabelled is None else train_x[: max(1, int(unlabelled))]
    test_x, test_y = digits("test")
    rows, total, done = [], len(ks) * seeds * len(conditions), 0
    for k in ks:
        for seed in range(seeds):
            x_lab, y_lab = few_labels(k, seed)
            for condition in conditions:
                message = f"K = {k}, seed {seed}: {LABELS[condition]}"
                progress(done / total, message)
                gan = train_sgan(x_lab, y_lab, pool if condition == "sgan" else None, steps=steps, seed=seed,
                                 batch_size=batch_size, unsup_weight=unsup_weight, hidden=hidden, g_hidden=g_hidden,
                                 progress=lambda f, d=done, m=message: progress((d + f) / total, m))
                rows.append({"condition": condition, "k": k, "seed": seed,
                             "accuracy": accuracy(gan.discriminator, test_x, test_y)})
                done += 1
    ref = None
    if reference:
        from studio.checkpoints import load

        ref = accuracy(load("mnist-classifier").model, test_x, test_y)
    progress(1.0, "done")
    settings = {"ks": ks, "conditions": conditions, "seeds": seeds, "steps": steps, "batch_size": batch_size,
                "unsup_weight": unsup_weight, "unlabelled": len(pool)}
    return {"rows": rows, "summary": summarise(rows), "reference": ref, "settings": settings}


def semisupervised_chart(result: dict):
    from studio.apply.augmentation import accuracy_chart

    return accuracy_chart(result["summary"], "condition", LABELS,
                          f"Few labels: K+1-class GAN vs labels only ({result['settings']['seeds']} seeds, 95% intervals)",
                          reference=result.get("reference"))


def semisupervised_verdict(result: dict) -> str:
    from studio.apply.augmentation import verdict

    text = verdict(result["summary"], "condition", "supervised", LABELS)
    if result.get("reference") is not None:
        text += f"\n- bundled mnist-classifier (about 400 labels per class): **{100 * result['reference']:.1f}%**"
    return text
