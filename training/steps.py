"""One training step per family: what is forwarded, which loss, which optimizer steps.

The loop (training/loop.py) owns everything around a step: data order, logging, checkpoints,
stopping. A step pulls its real batches with ``ctx.next_batch()`` (WGAN critics take
``n_critic`` of them), updates the optimizers in ``ctx.optimizers`` and returns scalar tensors
for the event log; the loop turns them into floats once per step.

Batches are tuples of tensors: ``(images (B, C, H, W), labels (B,))`` for GANs and classifiers;
``(a, b)`` for translation (paired for pix2pix, unpaired for CycleGAN).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from training import losses as L
from training.distributed import frozen
from training.losses import GANLoss
from training.recipes import Recipe

Metrics = dict[str, Tensor]


@dataclass
class StepContext:
    model: nn.Module  # the training view (DDP-wrapped children under torchrun)
    recipe: Recipe
    loss: GANLoss
    optimizers: dict[str, torch.optim.Optimizer]
    groups: dict[str, list[str]]  # optimizer name -> child module names
    next_batch: Callable[[], tuple[Tensor, ...]]
    device: torch.device
    wrappers: dict[str, nn.Module] = field(default_factory=dict)  # child name -> DDP wrapper
    step: int = 0  # the 1-based number of the step being taken
    state: dict = field(default_factory=dict)  # per-family persistent state (CycleGAN image pools)

    def params(self, group: str) -> list[nn.Parameter]:
        return [p for name in self.groups[group] for p in getattr(self.model, name).parameters()]

    def frozen(self, group: str):
        """Forward through ``group`` without training it (D in the G step)."""
        return frozen(self.params(group), [self.wrappers[n] for n in self.groups[group] if n in self.wrappers])

    def d_view(self, images: Tensor) -> Tensor:
        """What D sees of real or fake images: DiffAugment transforms, then instance noise."""
        r = self.recipe
        if images.dim() == 4 and r.d_augment:
            images = L.augment(images, self._policy("d_augment"))
        return L.add_instance_noise(images, L.instance_noise_std(self.step - 1, r.instance_noise, r.instance_noise_steps))

    def augmented(self, images: Tensor) -> Tensor:
        """A classifier's training batch under the recipe's ``augment`` policy (unchanged without one)."""
        return L.augment(images, self._policy("augment")) if self.recipe.augment else images

    def _policy(self, field_name: str) -> list:
        """The transforms of the recipe's ``d_augment`` or ``augment`` policy, parsed once per run."""
        if field_name not in self.state:
            self.state[field_name] = L.parse_policy(getattr(self.recipe, field_name))
        return self.state[field_name]


def grad_norm(parameters: list[nn.Parameter]) -> Tensor:
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.nn.utils.get_total_norm(grads)


def update(optimizer: torch.optim.Optimizer, loss: Tensor, parameters: list[nn.Parameter]) -> Tensor:
    """zero_grad(set_to_none) -> backward -> step; returns the gradient norm before the step."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    norm = grad_norm(parameters)
    optimizer.step()
    return norm


def d_targets(ctx: StepContext, batch: int) -> tuple[float | Tensor, float | Tensor]:
    """BCE targets for D: one-sided smoothing of the real target, optional random flips."""
    real = L.real_target(ctx.recipe.label_smoothing)
    if ctx.recipe.d_label_flip > 0:
        return L.flip_targets(batch, real, ctx.recipe.d_label_flip, ctx.device)
    return real, 0.0


def split_batch(out, n: int):
    """(first n rows, the rest) of a tensor, or of every tensor in a tuple or dict (aux heads)."""
    if isinstance(out, Tensor):
        return out[:n], out[n:]
    if isinstance(out, dict):
        parts = {key: split_batch(value, n) for key, value in out.items()}
        return {k: a for k, (a, _) in parts.items()}, {k: b for k, (_, b) in parts.items()}
    parts = [split_batch(value, n) for value in out]
    return tuple(a for a, _ in parts), tuple(b for _, b in parts)


def discriminate_pair(ctx: StepContext, real: Tensor, fake: Tensor, real_labels, fake_labels, aux: bool = False):
    """D on real and fake images; with ``fuse_d`` as one batch (BatchNorm sees both halves)."""
    model, extra = ctx.model, {"return_aux": True} if aux else {}
    if ctx.recipe.fuse_d:
        labels = None if real_labels is None else torch.cat([real_labels, fake_labels])
        return split_batch(model.discriminate(torch.cat([real, fake]), labels, **extra), real.shape[0])
    return model.discriminate(real, real_labels, **extra), model.discriminate(fake, fake_labels, **extra)


def discriminate_fake(ctx: StepContext, real: Tensor, fake: Tensor, labels, aux: bool = False):
    """D on the fakes for the G step. With ``fuse_d`` the real batch goes along, so BatchNorm
    normalizes with the same mixed statistics as in the D step; on a batch of fakes alone a
    shift shared by every fake (a grey background, say) would be normalized away, unseen."""
    if ctx.recipe.fuse_d:
        return discriminate_pair(ctx, real, fake, labels, labels, aux=aux)[1]
    return ctx.model.discriminate(fake, labels, **({"return_aux": True} if aux else {}))


def adversarial_d_loss(ctx: StepContext, d_real: Tensor, d_fake: Tensor) -> Tensor:
    if ctx.loss.smoothing:
        real_t, fake_t = d_targets(ctx, d_real.shape[0])
        return L.bce_d_loss(d_real, d_fake, real_t, fake_t)
    return ctx.loss.d_loss(d_real, d_fake)


def d_readout(ctx: StepContext, d_real: Tensor, d_fake: Tensor) -> Metrics:
    """D(x), D(G(z)) as probabilities for BCE losses, raw scores otherwise; the Wasserstein estimate."""
    d_real, d_fake = d_real.detach(), d_fake.detach()
    out = {}
    if ctx.loss.probabilities:
        out["d_real"], out["d_fake"] = torch.sigmoid(d_real).mean(), torch.sigmoid(d_fake).mean()
    else:
        out["d_real"], out["d_fake"] = d_real.mean(), d_fake.mean()
    if ctx.loss.wasserstein:
        out["wasserstein"] = d_real.mean() - d_fake.mean()
    return out


def critic_constraints(ctx: StepContext, real: Tensor, fake: Tensor, labels) -> Tensor | None:
    """WGAN-GP's penalty term (returned) or WGAN's clipping (applied after the update)."""
    if ctx.loss.name == "wgan-gp":
        return L.gradient_penalty(lambda x: ctx.model.discriminate(x, labels), real, fake, ctx.recipe.gp_weight)
    return None


# ----------------------------------------------------------------------------- GANs


def gan_step(ctx: StepContext) -> Metrics:
    """Unconditional and class-conditional GANs with any adversarial loss (mlp, dcgan, wgangp, cgan).

    Conditional families draw fakes for the labels of the real batch, so D compares like with
    like and the WGAN-GP interpolates keep one label per pair.
    """
    model, r = ctx.model, ctx.recipe
    opt_d, opt_g = ctx.optimizers["d"], ctx.optimizers["g"]
    conditional = bool(getattr(model, "num_classes", 0))
    for critic_step in range(r.n_critic):
        real, labels = ctx.next_batch()[:2]  # (B, C, H, W), (B,)
        labels = labels if conditional else None
        z = torch.randn(real.shape[0], model.latent_dim, device=ctx.device)  # (B, latent)
        last = critic_step == r.n_critic - 1
        with torch.set_grad_enabled(last):  # only the last fake is reused by the G step
            fake = model.generate(z, labels)  # (B, C, H, W)
        seen_real, seen_fake = ctx.d_view(real), ctx.d_view(fake.detach())
        d_real, d_fake = discriminate_pair(ctx, seen_real, seen_fake, labels, labels)
        loss_d = adversarial_d_loss(ctx, d_real, d_fake)
        penalty = critic_constraints(ctx, seen_real, seen_fake, labels)  # on what the critic saw
        total_d = loss_d if penalty is None else loss_d + penalty
        norm_d = update(opt_d, total_d, ctx.params("d"))
        if ctx.loss.name == "wgan":
            L.clip_weights_(ctx.params("d"), r.clip_value)

    with ctx.frozen("d"):
        d_gen = discriminate_fake(ctx, ctx.d_view(real), ctx.d_view(fake), labels)  # (B,)
        loss_g = ctx.loss.g_loss(d_gen)
        norm_g = update(opt_g, loss_g, ctx.params("g"))

    metrics = {"loss_g": loss_g.detach(), "loss_d": total_d.detach(), **d_readout(ctx, d_real, d_fake)}
    if penalty is not None:
        metrics["gradient_penalty"] = penalty.detach()
    metrics.update(grad_norm_g=norm_g, grad_norm_d=norm_d)
    return metrics


def acgan_step(ctx: StepContext) -> Metrics:
    """AC-GAN: D = (real/fake, class); both players also minimise the class cross-entropy."""
    model, r = ctx.model, ctx.recipe
    real, labels = ctx.next_batch()[:2]
    z = torch.randn(real.shape[0], model.latent_dim, device=ctx.device)
    fake = model.generate(z, labels)  # (B, C, H, W) drawn for the real batch's classes
    (adv_real, cls_real), (adv_fake, cls_fake) = discriminate_pair(ctx, ctx.d_view(real), ctx.d_view(fake.detach()), None, None, aux=True)
    # D: adversarial loss + lambda * (CE(C(x), y) + CE(C(G(z, y)), y))
    loss_cls_d = L.classification_loss(cls_real, labels) + L.classification_loss(cls_fake, labels)
    loss_d = adversarial_d_loss(ctx, adv_real, adv_fake) + r.aux_weight * loss_cls_d
    norm_d = update(ctx.optimizers["d"], loss_d, ctx.params("d"))

    with ctx.frozen("d"):
        adv_gen, cls_gen = discriminate_fake(ctx, ctx.d_view(real), ctx.d_view(fake), None, aux=True)
        # G: adversarial loss + lambda * CE(C(G(z, y)), y)
        loss_cls_g = L.classification_loss(cls_gen, labels)
        loss_g = ctx.loss.g_loss(adv_gen) + r.aux_weight * loss_cls_g
        norm_g = update(ctx.optimizers["g"], loss_g, ctx.params("g"))

    accuracy = (cls_real.detach().argmax(1) == labels).float().mean()
    return {
        "loss_g": loss_g.detach(),
        "loss_d": loss_d.detach(),
        "loss_class": loss_cls_d.detach(),
        "class_accuracy": accuracy,
        **d_readout(ctx, adv_real, adv_fake),
        "grad_norm_g": norm_g,
        "grad_norm_d": norm_d,
    }


def infogan_codes(model: nn.Module, batch: int, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """z = [noise ~ N(0, 1); continuous codes ~ U(-1, 1)] and a uniform categorical code."""
    n_cont = int(model.n_continuous)
    noise = torch.randn(batch, model.latent_dim - n_cont, device=device)
    cont = torch.rand(batch, n_cont, device=device) * 2 - 1  # (B, n_cont)
    cat = torch.randint(model.num_classes, (batch,), device=device)  # (B,)
    return torch.cat([noise, cont], 1), cat, cont


def infogan_step(ctx: StepContext) -> Metrics:
    """InfoGAN: D's Q head recovers the codes of G(z, c); G and Q maximise that mutual information."""
    model, r = ctx.model, ctx.recipe
    real = ctx.next_batch()[0]
    z, cat, cont = infogan_codes(model, real.shape[0], ctx.device)
    fake = model.generate(z, cat)  # (B, C, H, W)
    (adv_real, _), (adv_fake, q_fake) = discriminate_pair(ctx, ctx.d_view(real), ctx.d_view(fake.detach()), None, None, aux=True)
    # D and Q: adversarial loss + lambda * L_I(Q(G(z, c)), c) on the detached fake
    info_d = L.info_loss(q_fake["cat"], cat, q_fake.get("cont"), cont)
    loss_d = adversarial_d_loss(ctx, adv_real, adv_fake) + r.aux_weight * info_d
    norm_d = update(ctx.optimizers["d"], loss_d, ctx.params("d"))

    with ctx.frozen("d"):
        adv_gen, q_gen = discriminate_fake(ctx, ctx.d_view(real), ctx.d_view(fake), None, aux=True)
        # G: adversarial loss + lambda * L_I(Q(G(z, c)), c)
        info_g = L.info_loss(q_gen["cat"], cat, q_gen.get("cont"), cont)
        loss_g = ctx.loss.g_loss(adv_gen) + r.aux_weight * info_g
        norm_g = update(ctx.optimizers["g"], loss_g, ctx.params("g"))

    return {
        "loss_g": loss_g.detach(),
        "loss_d": loss_d.detach(),
        "loss_info": info_g.detach(),
        "code_accuracy": (q_gen["cat"].detach().argmax(1) == cat).float().mean(),
        **d_readout(ctx, adv_real, adv_fake),
        "grad_norm_g": norm_g,
        "grad_norm_d": norm_d,
    }


# ----------------------------------------------------------------------------- StyleGAN


def progressive_stage(step: int, resolutions: list[int], phase_steps: int, fade_steps: int) -> tuple[int, float]:
    """(resolution, alpha) at 1-based ``step``: ProGAN's schedule, a function of the step alone
    (so a run resumed mid-fade takes the same stages). phase_steps 0: the last resolution, no fade."""
    if phase_steps <= 0:
        return resolutions[-1], 1.0
    k = min((step - 1) // phase_steps, len(resolutions) - 1)
    local = step - 1 - k * phase_steps  # steps already taken at this resolution
    alpha = 1.0 if k == 0 or fade_steps <= 0 else min(1.0, local / fade_steps)
    return resolutions[k], alpha


def real_at_stage(images: Tensor, resolution: int, alpha: float) -> Tensor:
    """Reals as D sees them at a stage: box-downsampled to ``resolution``; while it fades in,
    blended with their half-resolution version (ProGAN does the same to the reals)."""
    x = torch.nn.functional.avg_pool2d(images, images.shape[-1] // resolution) if images.shape[-1] != resolution else images
    if alpha < 1:
        lower = torch.nn.functional.interpolate(torch.nn.functional.avg_pool2d(x, 2), scale_factor=2, mode="nearest")
        x = torch.lerp(lower, x, alpha)
    return x  # (B, C, resolution, resolution)


def mixed_styles(model: nn.Module, batch: int, mixing_prob: float, device: torch.device) -> Tensor:
    """w for a training batch with style-mixing regularization (StyleGAN 3.1): with probability
    ``mixing_prob`` a sample takes the layers from a random crossover on from a second z."""
    z = torch.randn(batch, model.latent_dim, device=device)
    ws = model.mapping(z, update_w_avg=True)  # (B, num_ws, w_dim); w_avg follows the batches' w
    z2 = torch.randn(batch, model.latent_dim, device=device)
    crossover = torch.randint(1, model.num_ws, (batch, 1), device=device)  # first layer taken from z2
    mixing = torch.rand(batch, 1, device=device) < mixing_prob
    if mixing_prob > 0:
        ws2 = model.mapping(z2)
        take = mixing & (torch.arange(model.num_ws, device=device)[None, :] >= crossover)  # (B, num_ws)
        ws = torch.where(take[:, :, None], ws2, ws)
    return ws


def stylegan_step(ctx: StepContext) -> Metrics:
    """StyleGAN: non-saturating loss with R1 on reals, at the progressive schedule's stage."""
    model, r = ctx.model, ctx.recipe
    resolution, alpha = progressive_stage(ctx.step, model.resolutions, r.phase_steps, r.fade_steps)
    model.set_stage(resolution, alpha)
    real = real_at_stage(ctx.next_batch()[0], resolution, alpha)  # (B, C, r, r)
    ws = mixed_styles(model, real.shape[0], r.mixing_prob, ctx.device)
    fake = model.synthesis(ws, noise_mode="random")  # (B, C, r, r)

    # D: minimize softplus(D(G(z))) + softplus(-D(x)) + gamma/2 E||grad_x D(x)||^2
    # One D pass on the reals serves the loss and R1's gradient (the same value as a second pass, one
    # forward fewer: python -m bench train --models stylegan)
    seen_real = ctx.d_view(real).detach().requires_grad_(r.r1_gamma > 0)
    d_real, d_fake = model.discriminate(seen_real), model.discriminate(ctx.d_view(fake.detach()))
    loss_d = ctx.loss.d_loss(d_real, d_fake)
    penalty = (L.r1_from_scores(d_real, seen_real, r.r1_gamma) if r.r1_gamma > 0
               else torch.zeros((), device=ctx.device))
    norm_d = update(ctx.optimizers["d"], loss_d + penalty, ctx.params("d"))

    # G: minimize softplus(-D(G(z)))
    with ctx.frozen("d"):
        loss_g = ctx.loss.g_loss(model.discriminate(ctx.d_view(fake)))
        norm_g = update(ctx.optimizers["g"], loss_g, ctx.params("g"))
    return {
        "loss_g": loss_g.detach(),
        "loss_d": (loss_d + penalty).detach(),
        "r1": penalty.detach(),
        **d_readout(ctx, d_real, d_fake),
        "resolution": torch.tensor(float(resolution)),
        "alpha": torch.tensor(float(alpha)),
        "grad_norm_g": norm_g,
        "grad_norm_d": norm_d,
    }


# ----------------------------------------------------------------------------- classifier


def classifier_step(ctx: StepContext) -> Metrics:
    images, labels = ctx.next_batch()[:2]
    logits = ctx.model(ctx.augmented(images))  # (B, K)
    # minimize -log p(y | x)
    loss = L.classification_loss(logits, labels)
    norm = update(ctx.optimizers["model"], loss, ctx.params("model"))
    return {"loss": loss.detach(), "accuracy": (logits.detach().argmax(1) == labels).float().mean(), "grad_norm": norm}


def multilabel_step(ctx: StepContext) -> Metrics:
    """Attribute classifier: one sigmoid per attribute; accuracy is the mean over attributes."""
    images, labels = ctx.next_batch()[:2]  # (B, C, H, W), (B, K) 0/1
    logits = ctx.model(ctx.augmented(images))  # (B, K)
    loss = L.multilabel_loss(logits, labels)
    norm = update(ctx.optimizers["model"], loss, ctx.params("model"))
    accuracy = ((logits.detach() > 0).float() == labels).float().mean()
    return {"loss": loss.detach(), "accuracy": accuracy, "grad_norm": norm}


def segmentation_step(ctx: StepContext) -> Metrics:
    """U-Net: per-pixel cross-entropy on (image, classes) pairs; pair_augment turns both alike."""
    images, classes = ctx.next_batch()[:2]  # (B, C, H, W), (B, H, W) long
    if ctx.recipe.pair_augment:
        images, turned = L.square_symmetry(images, classes.unsqueeze(1).float())
        classes = turned[:, 0].round().long()
    logits = ctx.model(images)  # (B, K, H, W)
    loss = L.segmentation_loss(logits, classes)
    norm = update(ctx.optimizers["model"], loss, ctx.params("model"))
    return {"loss": loss.detach(), "pixel_accuracy": (logits.detach().argmax(1) == classes).float().mean(), "grad_norm": norm}


# ----------------------------------------------------------------------------- translation


def pix2pix_step(ctx: StepContext) -> Metrics:
    """pix2pix: conditional PatchGAN on (x, y) pairs plus lambda * L1 to the target."""
    model, r = ctx.model, ctx.recipe
    x, y = ctx.next_batch()[:2]  # (B, C_in, H, W), (B, C_out, H, W)
    if r.pair_augment:
        x, y = L.square_symmetry(x, y)
    fake = model.translate(x)  # (B, C_out, H, W)
    d_real, d_fake = model.discriminate(x, y), model.discriminate(x, fake.detach())  # (B, 1, h, w) patches
    # D: the paper halves D's loss to slow it relative to G
    loss_d = 0.5 * adversarial_d_loss(ctx, d_real, d_fake)
    norm_d = update(ctx.optimizers["d"], loss_d, ctx.params("d"))

    with ctx.frozen("d"):
        loss_adv = ctx.loss.g_loss(model.discriminate(x, fake))
        loss_l1 = L.l1_loss(fake, y, r.l1_weight)
        loss_g = loss_adv + loss_l1
        norm_g = update(ctx.optimizers["g"], loss_g, ctx.params("g"))
    return {
        "loss_g": loss_g.detach(),
        "loss_d": loss_d.detach(),
        "loss_l1": loss_l1.detach(),
        **d_readout(ctx, d_real, d_fake),
        "grad_norm_g": norm_g,
        "grad_norm_d": norm_d,
    }


def cyclegan_step(ctx: StepContext) -> Metrics:
    """CycleGAN: two translators, two PatchGAN critics (LSGAN), cycle and identity L1 terms."""
    from studio.models.cyclegan import ImagePool

    model, r = ctx.model, ctx.recipe
    a, b = ctx.next_batch()[:2]  # unpaired (B, C_a, H, W), (B, C_b, H, W)
    pools = ctx.state.setdefault("pools", {"a": ImagePool(r.pool_size, r.seed), "b": ImagePool(r.pool_size, r.seed + 1)})
    fake_b, fake_a = model.translate(a, "a2b"), model.translate(b, "b2a")

    with ctx.frozen("d"):
        loss_adv = ctx.loss.g_loss(model.discriminator_b(fake_b)) + ctx.loss.g_loss(model.discriminator_a(fake_a))
        loss_cycle = L.cycle_loss(a, model.translate(fake_b, "b2a"), b, model.translate(fake_a, "a2b"), r.cycle_weight)
        loss_identity = torch.zeros((), device=ctx.device)
        if r.identity_weight > 0 and model.in_channels == model.out_channels:
            same_a, same_b = model.translate(a, "b2a"), model.translate(b, "a2b")
            loss_identity = L.identity_loss(a, same_a, b, same_b, r.identity_weight * r.cycle_weight)
        loss_g = loss_adv + loss_cycle + loss_identity
        norm_g = update(ctx.optimizers["g"], loss_g, ctx.params("g"))

    # D_a: real A vs a history of G_ba(b); D_b: real B vs a history of G_ab(a); halved as in the paper
    old_a, old_b = pools["a"].query(fake_a), pools["b"].query(fake_b)
    d_real_b, d_fake_b = model.discriminator_b(b), model.discriminator_b(old_b)
    d_real_a, d_fake_a = model.discriminator_a(a), model.discriminator_a(old_a)
    loss_d = 0.5 * (adversarial_d_loss(ctx, d_real_a, d_fake_a) + adversarial_d_loss(ctx, d_real_b, d_fake_b))
    norm_d = update(ctx.optimizers["d"], loss_d, ctx.params("d"))
    return {
        "loss_g": loss_g.detach(),
        "loss_d": loss_d.detach(),
        "loss_cycle": loss_cycle.detach(),
        "loss_identity": loss_identity.detach(),
        **d_readout(ctx, torch.cat([d_real_a.flatten(), d_real_b.flatten()]), torch.cat([d_fake_a.flatten(), d_fake_b.flatten()])),
        "grad_norm_g": norm_g,
        "grad_norm_d": norm_d,
    }


# ----------------------------------------------------------------------------- registries

StepFn = Callable[[StepContext], Metrics]

STEPS: dict[str, StepFn] = {
    "mlp": gan_step,
    "dcgan": gan_step,
    "wgangp": gan_step,
    "cgan": gan_step,
    "acgan": acgan_step,
    "infogan": infogan_step,
    "classifier": classifier_step,
    "attributes": multilabel_step,
    "unet": segmentation_step,
    "pix2pix": pix2pix_step,
    "cyclegan": cyclegan_step,
    "stylegan": stylegan_step,
}

# Which child modules each optimizer trains; every other child with parameters goes to "d"
# (so a family's auxiliary heads, e.g. InfoGAN's Q, train with the discriminator).
GENERATOR_CHILDREN: dict[str, tuple[str, ...]] = {
    "mlp": ("generator",),
    "dcgan": ("generator",),
    "wgangp": ("generator",),
    "cgan": ("generator",),
    "acgan": ("generator",),
    "infogan": ("generator",),
    "pix2pix": ("generator",),
    "cyclegan": ("generator_ab", "generator_ba"),
    "stylegan": ("mapping_network", "synthesis_network"),
}


def optimizer_groups(family: str, model: nn.Module) -> dict[str, list[str]]:
    """{"g": [...], "d": [...]} for GANs, {"model": [...]} for a classifier (child module names)."""
    trainable = [name for name, child in model.named_children() if any(p.requires_grad for p in child.parameters())]
    if family not in GENERATOR_CHILDREN:
        return {"model": trainable}
    generator = [name for name in GENERATOR_CHILDREN[family] if name in trainable]
    missing = set(GENERATOR_CHILDREN[family]) - set(generator)
    if missing:
        raise ValueError(f"{family}: expected child modules {sorted(missing)} on the model")
    return {"g": generator, "d": [name for name in trainable if name not in generator]}
