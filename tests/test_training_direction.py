"""The engine learns in the right direction.

Each test builds a Trainer (the engine's model, optimizers and step function of training.steps)
on a tiny network and a fixed batch, takes one real ``train_step`` (or a few), and checks that the
numbers its objective should move moved the right way: D's scores on real and generated images, G's
score under D, WGAN-GP's gradient norm, the pix2pix and CycleGAN L1 terms, ACGAN's class accuracy,
InfoGAN's code reconstruction. A sign or target swap, or an optimizer that never steps, fails them.
Fixed seeds, a few steps: the direction is checked, never a time. The last test is a real learning
run: an MLP GAN on a ring of 8 Gaussians (the GAN Lab picture).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F

from studio.data import get_dataset
from training import apply_overrides, get_recipe
from training import steps as S
from training.loop import Trainer
from training.losses import clip_weights_

CPU = torch.device("cpu")
SEED = 7  # seeds the noise the step draws, so the test can draw the same
# tricks that make D's view random or mix real and fake batches are off: the step is compared
# with its objective on exactly the images it saw
PLAIN = {"d_augment": "", "fuse_d": "false", "label_smoothing": "0", "sample_every": "0", "channels_last": "false",
         "pair_augment": "false"}
CONV = {"model.width": "4", "model.disc_width": "4", "model.latent_dim": "8", "batch_size": "16"}
P2P = {"image_size": "64", "model.ngf": "4", "model.ndf": "4", "model.head": "4", "batch_size": "4"}
CYCLE = {"model.ngf": "4", "model.ndf": "4", "model.n_blocks": "1", "batch_size": "4"}


@pytest.fixture(autouse=True)
def one_thread():
    """Networks this small run ~20x faster on one thread than on two busy cores."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def digits():
    return get_dataset("mnist", image_size=32, split="test")  # 1,000 digits


@pytest.fixture(scope="module")
def tiles():
    return get_dataset("maps", image_size=64, split="train", n=8)


@pytest.fixture(scope="module")
def silhouettes():
    return get_dataset("horse2zebra", image_size=32, split="test")


def tiny_trainer(recipe: str, dataset, **settings) -> Trainer:
    """``recipe`` at a tiny size, tricks off, with one batch of ``dataset`` served at every draw."""
    overrides = {**PLAIN, **{k: str(v) for k, v in settings.items()}}
    trainer = Trainer(apply_overrides(get_recipe(recipe), [f"{k}={v}" for k, v in overrides.items()]),
                      run=None, device=CPU, dataset=dataset)
    batch = trainer.data.next()
    trainer.ctx.next_batch = lambda: batch
    return trainer


def fixed_batch(trainer: Trainer) -> tuple[torch.Tensor, ...]:
    return trainer.ctx.next_batch()


# ----------------------------------------------------------------------------- GANs: D and G steps


@dataclass
class OneStep:
    """D's mean scores around one engine step (D before -> D after), on the step's own images."""

    real: tuple[float, float]  # D(x)
    fake: tuple[float, float]  # D(G(z)), G before the step
    generated: tuple[float, float]  # D after the step on G(z): G before -> G after
    logged_d_fake: float  # what the step logged as D(G(z)) ...
    readout_d_fake: float  # ... and the same readout of the test's fakes: equal when the test drew the step's z
    loss: str


GAN_CASES = {
    "mlp": ("mnist-mlp", {"model.hidden_dim": "8", "model.latent_dim": "8", "batch_size": "16", "image_size": "32"}),
    "dcgan": ("mnist-dcgan", CONV),
    "dcgan-minimax": ("mnist-dcgan", {**CONV, "loss": "minimax"}),
    "dcgan-hinge": ("mnist-dcgan", {**CONV, "loss": "hinge"}),
    "dcgan-lsgan": ("mnist-dcgan", {**CONV, "loss": "lsgan"}),
    # the WGAN paper's RMSprop rate 5e-5, not the recipe's 1e-3: RMSprop's first step moves every weight
    # by ~10x the rate, which at 1e-3 is the whole clip range 0.01, a step no first-order check can judge
    "dcgan-wgan-clip": ("mnist-dcgan", {**CONV, "loss": "wgan", "optimizer": "rmsprop", "lr_d": "5e-5", "lr_g": "5e-5"}),
    "wgangp": ("mnist-wgangp", {**CONV, "n_critic": "1"}),
    "cgan": ("mnist-cgan", CONV),
    "acgan": ("mnist-acgan", CONV),
    "infogan": ("mnist-infogan", {"model.width": "4", "model.disc_width": "4", "model.noise_dim": "6",
                                  "batch_size": "16"}),
}


def step_noise(model, real: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(z, labels for G) as the family's step draws them after torch.manual_seed(SEED)."""
    torch.manual_seed(SEED)
    if model.family == "infogan":
        z, codes, _ = S.infogan_codes(model, real.shape[0], CPU)
        return z, codes
    z = torch.randn(real.shape[0], model.latent_dim)  # (B, latent)
    return z, labels if getattr(model, "num_classes", 0) else None


@torch.no_grad()
def d_scores(model, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    return model.discriminate(images, labels if model.family == "cgan" else None)  # (B,)


def d_score(model, images: torch.Tensor, labels: torch.Tensor | None) -> float:
    return d_scores(model, images, labels).mean().item()


@pytest.fixture(scope="module", params=list(GAN_CASES))
def gan_step(request, digits) -> OneStep:
    recipe, settings = GAN_CASES[request.param]
    trainer = tiny_trainer(recipe, digits, **settings)
    real, labels = fixed_batch(trainer)
    if trainer.recipe.loss == "wgan":  # a critic as any step leaves it, so the step's clipping only bounds its update
        clip_weights_(trainer.ctx.params("d"), trainer.recipe.clip_value)
    before = copy.deepcopy(trainer.model)
    z, g_labels = step_noise(trainer.model, real, labels)
    with torch.no_grad():
        fake = before.generate(z, g_labels)  # (B, C, H, W): the fakes the step will draw
    torch.manual_seed(SEED)
    event = trainer.train_step()
    after = trainer.model
    with torch.no_grad():
        generated = after.generate(z, g_labels)
    scores = d_scores(before, fake, labels)
    return OneStep(
        real=(d_score(before, real, labels), d_score(after, real, labels)),
        fake=(d_score(before, fake, labels), d_score(after, fake, labels)),
        generated=(d_score(after, fake, labels), d_score(after, generated, labels)),
        logged_d_fake=event["d_fake"],
        readout_d_fake=(scores.sigmoid() if trainer.ctx.loss.probabilities else scores).mean().item(),
        loss=trainer.recipe.loss,
    )


def test_discriminator_step_raises_real_scores_and_lowers_fake_ones(gan_step):
    step = gan_step
    assert step.logged_d_fake == pytest.approx(step.readout_d_fake, rel=1e-4, abs=1e-6)
    assert step.real[1] > step.real[0], f"D(x) fell: {step.real}"
    assert step.real[1] - step.fake[1] > step.real[0] - step.fake[0], f"D(x) - D(G(z)) shrank: {step.real}, {step.fake}"
    if step.loss not in ("lsgan", "wgan"):
        # LSGAN's fakes start near their target 0 and clipped WGAN scores near 0 too: a first step
        # that lifts the real scores (shared weights, a sign-like first update) may lift them a
        # little as well. The gap above still widens; every other loss pushes them down at once.
        assert step.fake[1] < step.fake[0], f"D(G(z)) rose: {step.fake}"


def test_generator_step_raises_d_on_its_samples(gan_step):
    assert gan_step.generated[1] > gan_step.generated[0], f"D(G(z)) under the new D did not rise: {gan_step.generated}"


def test_weight_clipping_bounds_the_critic_only(digits):
    trainer = tiny_trainer("mnist-dcgan", digits, **CONV, loss="wgan", optimizer="rmsprop", clip_value=0.01)
    critic, generator = trainer.model.discriminator.parameters, trainer.model.generator.parameters
    assert max(p.abs().max().item() for p in critic()) > 0.01  # DCGAN's init draws N(0, 0.02)
    trainer.train_step()
    assert max(p.abs().max().item() for p in critic()) <= 0.01
    assert max(p.abs().max().item() for p in generator()) > 0.01


def critic_gradient_norm(model, real: torch.Tensor, fake: torch.Tensor) -> float:
    """Mean ||grad_x D(x)|| on fixed points between real and fake images."""
    eps = torch.linspace(0, 1, real.shape[0]).view(-1, 1, 1, 1)
    mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)  # (B, C, H, W)
    (grad,) = torch.autograd.grad(model.discriminate(mixed).sum(), mixed)
    return grad.flatten(1).norm(dim=1).mean().item()


@pytest.mark.parametrize("scale", [10.0, 0.1], ids=["steep", "flat"])
def test_gradient_penalty_moves_the_critic_gradient_norm_toward_1(scale, digits):
    """The critic starts far from 1-Lipschitz (its last layer scaled); three critic steps with the
    penalty bring ||grad D|| closer to 1, and closer than the same steps without it."""
    distance = {}
    for weight in (10.0, 0.0):
        trainer = tiny_trainer("mnist-wgangp", digits, **CONV, n_critic=1, gp_weight=weight)
        with torch.no_grad():
            trainer.model.discriminator.main[-1].weight.mul_(scale)
        real, _ = fixed_batch(trainer)
        with torch.no_grad():
            fake = trainer.model.generate(torch.randn(real.shape[0], trainer.model.latent_dim))
        start = critic_gradient_norm(trainer.model, real, fake)
        for _ in range(3):
            trainer.train_step()
        distance[weight] = abs(critic_gradient_norm(trainer.model, real, fake) - 1), abs(start - 1)
    (with_penalty, start), (without, _) = distance[10.0], distance[0.0]
    assert with_penalty < start and with_penalty < without, distance


# ----------------------------------------------------------------------------- auxiliary terms


def test_acgan_auxiliary_loss_raises_class_accuracy(digits):
    trainer = tiny_trainer("mnist-acgan", digits, **CONV)
    model = trainer.model
    real, labels = fixed_batch(trainer)

    def class_error(images: torch.Tensor) -> tuple[float, float]:  # (cross-entropy, accuracy) of D's class head
        with torch.no_grad():
            _, logits = model.discriminate(images, return_aux=True)  # (B, K)
        return F.cross_entropy(logits, labels).item(), (logits.argmax(1) == labels).float().mean().item()

    z, _ = step_noise(model, real, labels)
    with torch.no_grad():
        fake = model.generate(z, labels)
    start = class_error(real)
    torch.manual_seed(SEED)
    trainer.train_step()
    with torch.no_grad():
        generated = model.generate(z, labels)
    assert class_error(real)[0] < start[0]  # D's class head learned the real batch's classes
    assert class_error(generated)[0] < class_error(fake)[0]  # G draws its classes more recognisably
    for _ in range(9):
        trainer.train_step()
    loss, accuracy = class_error(real)
    assert loss < start[0] and accuracy > start[1] + 0.2, (start, (loss, accuracy))


def test_infogan_q_loss_lowers_code_reconstruction_error(digits):
    trainer = tiny_trainer("mnist-infogan", digits, **GAN_CASES["infogan"][1])
    model = trainer.model
    real, _ = fixed_batch(trainer)
    torch.manual_seed(SEED)
    z, codes, continuous = S.infogan_codes(model, real.shape[0], CPU)

    def code_error(images: torch.Tensor) -> tuple[float, float]:  # Q's (categorical CE, continuous MSE)
        with torch.no_grad():
            _, q = model.discriminate(images, return_aux=True)
        return F.cross_entropy(q["cat"], codes).item(), F.mse_loss(q["cont"], continuous).item()

    with torch.no_grad():
        fake = model.generate(z, codes)
    start = code_error(fake)
    torch.manual_seed(SEED)
    trainer.train_step()
    with torch.no_grad():
        generated = model.generate(z, codes)
    after_q = code_error(fake)  # Q's step, on the images it trained on
    after_g = code_error(generated)  # G's step: codes easier to read off its new images
    assert after_q[0] < start[0] and after_q[1] < start[1], (start, after_q)
    assert after_g[0] < after_q[0] and after_g[1] < after_q[1], (after_q, after_g)


# ----------------------------------------------------------------------------- translation


@torch.no_grad()
def pix2pix_scores(model, x, y, fake) -> tuple[float, float]:
    return model.discriminate(x, y).mean().item(), model.discriminate(x, fake).mean().item()


def test_pix2pix_discriminator_step_raises_real_pairs_and_lowers_fake_ones(tiles):
    trainer = tiny_trainer("maps-pix2pix", tiles, **P2P)
    model = trainer.model
    x, y = fixed_batch(trainer)
    torch.manual_seed(SEED)  # the generator's dropout: the step's masks
    with torch.no_grad():
        fake = model.translate(x)
    real_before, fake_before = pix2pix_scores(model, x, y, fake)
    torch.manual_seed(SEED)
    trainer.train_step()
    real_after, fake_after = pix2pix_scores(model, x, y, fake)
    assert real_after > real_before and fake_after < fake_before, ((real_before, real_after), (fake_before, fake_after))


def pix2pix_l1_after_one_step(tiles, l1_weight: float) -> tuple[float, float]:
    """Mean |G(x) - y| before and after one step, with the step's dropout masks."""
    trainer = tiny_trainer("maps-pix2pix", tiles, **P2P, l1_weight=l1_weight)
    x, y = fixed_batch(trainer)

    def distance() -> float:
        torch.manual_seed(SEED)
        with torch.no_grad():
            return (trainer.model.translate(x) - y).abs().mean().item()

    before = distance()
    torch.manual_seed(SEED)
    trainer.train_step()
    return before, distance()


def test_pix2pix_l1_term_lowers_the_distance_to_the_target(tiles):
    before, with_l1 = pix2pix_l1_after_one_step(tiles, get_recipe("maps-pix2pix").l1_weight)
    same_start, adversarial_only = pix2pix_l1_after_one_step(tiles, 0.0)
    assert same_start == before
    assert with_l1 < before and with_l1 < adversarial_only, (before, with_l1, adversarial_only)


@torch.no_grad()
def cycle_distances(model, a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """(|G_ba(G_ab(a)) - a| + |G_ab(G_ba(b)) - b|, |G_ba(a) - a| + |G_ab(b) - b|), means."""
    cycle = (model.translate(model.translate(a, "a2b"), "b2a") - a).abs().mean() + \
        (model.translate(model.translate(b, "b2a"), "a2b") - b).abs().mean()
    identity = (model.translate(a, "b2a") - a).abs().mean() + (model.translate(b, "a2b") - b).abs().mean()
    return cycle.item(), identity.item()


def cyclegan_after_three_steps(silhouettes, **weights) -> tuple[tuple[float, float], tuple[float, float]]:
    trainer = tiny_trainer("horse2zebra-cyclegan", silhouettes, **CYCLE, **weights)
    a, b = fixed_batch(trainer)
    before = cycle_distances(trainer.model, a, b)
    for _ in range(3):
        trainer.train_step()
    return before, cycle_distances(trainer.model, a, b)


def test_cyclegan_cycle_and_identity_terms_lower_their_distances(silhouettes):
    recipe = get_recipe("horse2zebra-cyclegan")
    assert recipe.cycle_weight > 0 and recipe.identity_weight > 0
    before, both = cyclegan_after_three_steps(silhouettes)
    _, cycle_only = cyclegan_after_three_steps(silhouettes, identity_weight=0)
    _, neither = cyclegan_after_three_steps(silhouettes, cycle_weight=0, identity_weight=0)  # adversarial only
    # each term against the same steps without it (the identity term alone would shorten cycles too)
    assert cycle_only[0] < before[0] and cycle_only[0] < neither[0], ("cycle", before, cycle_only, neither)
    assert both[1] < before[1] and both[1] < cycle_only[1], ("identity", before, both, cycle_only)


def test_cyclegan_discriminator_step_separates_real_from_fake(silhouettes):
    trainer = tiny_trainer("horse2zebra-cyclegan", silhouettes, **CYCLE)
    model = trainer.model
    a, b = fixed_batch(trainer)
    with torch.no_grad():  # what D is shown: G's images from before the step (the pool is not full yet)
        fake_a, fake_b = model.translate(b, "b2a"), model.translate(a, "a2b")

    @torch.no_grad()
    def scores() -> tuple[float, float]:  # mean D on real images, on fakes, both domains
        real = (model.discriminator_a(a).mean() + model.discriminator_b(b).mean()) / 2
        fake = (model.discriminator_a(fake_a).mean() + model.discriminator_b(fake_b).mean()) / 2
        return real.item(), fake.item()

    real_before, fake_before = scores()
    trainer.train_step()
    real_after, fake_after = scores()
    # LSGAN from scores near 0: real ones head for 1, and the gap to the fakes widens
    assert real_after > real_before
    assert real_after - fake_after > real_before - fake_before, ((real_before, real_after), (fake_before, fake_after))


# ----------------------------------------------------------------------------- a real learning run


class Ring:
    """8 Gaussians (std 0.03) on a circle of radius 0.75: points stored as (N, 2, 1, 1) "images"."""

    name = "ring of 8 Gaussians"
    modes, radius, std = 8, 0.75, 0.03

    def __init__(self, n: int = 4096, seed: int = 0):
        generator = torch.Generator().manual_seed(seed)
        angles = torch.arange(self.modes) * 2 * math.pi / self.modes
        self.centres = self.radius * torch.stack([angles.cos(), angles.sin()], 1)  # (8, 2)
        mode = torch.randint(self.modes, (n,), generator=generator)
        points = self.centres[mode] + self.std * torch.randn(n, 2, generator=generator)  # (N, 2)
        self.images, self.targets = points.view(n, 2, 1, 1), mode

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int):
        return self.images[index], self.targets[index]


def ring_coverage(model, ring: Ring, n: int = 2000) -> tuple[int, float]:
    """(modes covered, share of samples near a mode): a sample is near a mode within 0.1 (3.3 std);
    a mode is covered when at least a quarter of its fair share of samples is near it."""
    points = model.sample(n, seed=1).view(n, 2)
    nearest, mode = torch.cdist(points, ring.centres).min(1)
    near = nearest < 0.1
    counts = torch.bincount(mode[near], minlength=ring.modes)
    return int((counts >= n / ring.modes / 4).sum()), near.float().mean().item()


def test_mlp_gan_covers_a_ring_of_gaussians():
    ring = Ring()
    settings = {"image_size": 1, "channels": 2, "model.hidden_dim": 16, "model.latent_dim": 8, "batch_size": 64,
                "lr_g": 3e-3, "lr_d": 3e-3, "sample_every": 0, "channels_last": "false"}
    recipe = apply_overrides(get_recipe("mnist-mlp"), [f"{k}={v}" for k, v in settings.items()])
    trainer = Trainer(recipe, run=None, device=CPU, dataset=ring)
    assert ring_coverage(trainer.model, ring) == (0, 0.0)  # untrained: a blob in the middle
    # 2,000 steps: at 1,000 a third of training seeds sat on the bar (6 modes, 0.35-0.39 near) with
    # either Adam kernel; at 2,000 every seed of 0-5 covered 6-8 modes with 0.72-0.91 near
    for _ in range(2000):
        trainer.train_step()
    covered, near = ring_coverage(trainer.model, ring)
    assert covered >= 6 and near >= 0.4, (covered, near)


def test_generator_ema_is_the_running_average_of_gs_weights(digits, tmp_path):
    """After each step ema = d * ema + (1 - d) * G with d = min(g_ema, (1 + step) / (10 + step)),
    BatchNorm statistics included; samples and checkpoints show the average, training goes on from
    the live G (restored bit for bit), and the checkpoint keeps the live G for a resume."""
    from studio.checkpoints import load
    from training.runs import RunDir, load_training_state

    recipe = apply_overrides(get_recipe("mnist-dcgan"), [f"{k}={v}" for k, v in {**CONV, **PLAIN, "g_ema": 0.3}.items()])
    trainer = Trainer(recipe, run=None, device=CPU, dataset=digits)
    expected = {key: value.clone() for key, value in trainer._generator_tensors().items()}
    assert any(key.endswith("running_mean") for key in expected)
    for step in range(1, 5):  # d: 2/11, 3/12, then capped at 0.3
        trainer.train_step()
        decay = min(0.3, (1 + step) / (10 + step))
        live = trainer._generator_tensors()
        expected = {key: decay * expected[key] + (1 - decay) * live[key] for key in expected}
    live = {key: value.clone() for key, value in trainer._generator_tensors().items()}
    assert trainer.ema.keys() == expected.keys()
    for key in expected:
        assert torch.allclose(trainer.ema[key], expected[key], rtol=1e-5, atol=1e-7), key
    assert max((expected[key] - live[key]).abs().max().item() for key in live) > 1e-3  # not simply the live G

    trainer.run = RunDir.create(tmp_path / "run")
    trainer.save_checkpoint()
    assert all(torch.equal(trainer._generator_tensors()[key], live[key]) for key in live)  # the live G is back
    checkpoint = tmp_path / "run" / "checkpoints" / "step-00000004"
    saved = load(checkpoint).model.state_dict()
    for key in expected:
        assert torch.allclose(saved[key], expected[key], rtol=1e-5, atol=1e-7), key
    assert all(torch.equal(saved[key], value) for key, value in trainer.model.state_dict().items()
               if key.startswith("discriminator."))  # D is not averaged
    tensors, _ = load_training_state(checkpoint)
    assert all(torch.equal(tensors[f"g_live.{key}"], live[key]) for key in live)
