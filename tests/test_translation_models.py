"""pix2pix, CycleGAN and U-Net: shapes at tiny sizes, config round trips, one training step, ImagePool."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from studio.models import FAMILIES, CycleGAN, Pix2Pix, ShapeError, UNet, build
from studio.models.cyclegan import ImagePool
from studio.models.pix2pix import PatchDiscriminator


def images(b: int, c: int, size: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, c, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def tiny_pix2pix(**kw) -> Pix2Pix:
    return Pix2Pix(**{"in_channels": 3, "out_channels": 3, "image_size": 64, "ngf": 8, "ndf": 8, "depth": 6, **kw})


def tiny_cyclegan(**kw) -> CycleGAN:
    return CycleGAN(**{"image_size": 32, "ngf": 8, "ndf": 8, "n_blocks": 2, **kw})


def test_registry_holds_the_translation_families():
    assert FAMILIES["pix2pix"] is Pix2Pix and FAMILIES["cyclegan"] is CycleGAN and FAMILIES["unet"] is UNet
    assert (Pix2Pix.task, CycleGAN.task, UNet.task) == ("translation", "translation", "segmentation")


# ----------------------------------------------------------------------------- pix2pix


@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_pix2pix_shapes(norm):
    model = tiny_pix2pix(in_channels=1, out_channels=3, norm=norm).eval()
    x = images(2, 1, 64)
    y = model.translate(x)
    assert y.shape == (2, 3, 64, 64)
    assert y.min() >= -1 and y.max() <= 1
    assert model.discriminate(x, y).shape == (2, 1, 6, 6)  # 64 -> 32 -> 16 -> 8 -> 7 -> 6 patches
    # dropout sits in the depth - 5 innermost 8 ngf up blocks only
    assert sum(isinstance(m, nn.Dropout) for m in model.generator.modules()) == 1
    assert not any(isinstance(m, nn.Dropout) for m in tiny_pix2pix(dropout=False).modules())


def test_pix2pix_input_checks():
    model = tiny_pix2pix()
    with pytest.raises(ShapeError, match="expected shape"):
        model.translate(images(1, 1, 64))
    with pytest.raises(ValueError, match="multiples of 64"):
        model.translate(images(1, 3, 48))
    with pytest.raises(ValueError, match="divisible by 2\\*\\*depth"):
        Pix2Pix(image_size=96, depth=6)
    with pytest.raises(ValueError, match="depth >= 5"):
        Pix2Pix(image_size=16, depth=4)
    with pytest.raises(ValueError, match="norm must be one of"):
        Pix2Pix(norm="layer")
    assert Pix2Pix(image_size=128, ngf=4).depth == 7  # unet_128 by default


def test_patchgan_sees_70_pixel_patches():
    discriminator = PatchDiscriminator(in_channels=6, ndf=4, n_layers=3)
    assert discriminator.receptive_field == 70
    assert discriminator(images(1, 6, 256)).shape == (1, 1, 30, 30)


def test_full_resolution_head():
    reference = tiny_pix2pix()
    model = tiny_pix2pix(head=5).eval()
    x = images(2, 3, 64)
    y = model.translate(x)
    assert y.shape == (2, 3, 64, 64) and y.min() >= -1 and y.max() <= 1
    assert model.config["head"] == 5 and reference.config["head"] == 0
    # the head adds keys; the reference keys keep their places (the last transposed conv, now
    # followed by BatchNorm, loses its bias and makes head features instead of the image)
    keys, reference_keys = model.generator.state_dict(), reference.generator.state_dict()
    assert set(reference_keys) - set(keys) == {"model.model.3.bias"}
    assert {k for k in keys if k not in reference_keys} == {
        "model.model.4.weight", "model.model.4.bias", "model.model.4.running_mean", "model.model.4.running_var",
        "model.model.4.num_batches_tracked", "head.0.weight", "head.1.weight", "head.1.bias", "head.1.running_mean",
        "head.1.running_var", "head.1.num_batches_tracked", "head.3.weight", "head.3.bias"}
    assert keys["model.model.3.weight"].shape == (16, 5, 4, 4)  # 2 ngf -> head features at full resolution
    assert keys["head.0.weight"].shape == (5, 5 + 3, 3, 3)  # head features + the input image
    # the output depends on each input pixel through the full-resolution skip, not only via H/2
    x2 = x.clone()
    x2[:, :, 10, 10] += 1
    changed = (model.translate(x2) - y).abs().amax(1)[0] > 1e-6
    assert changed[9:12, 9:12].any()
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="head must be 0"):
            tiny_pix2pix(head=bad)
    with pytest.raises(ValueError, match="no head"):
        Pix2Pix(norm="instance", generator_arch="community_unet", head=4)


@pytest.mark.parametrize("head", [0, 4])
def test_pix2pix_training_step(head):
    torch.manual_seed(0)
    model = tiny_pix2pix(head=head).train()
    opt_g = torch.optim.Adam(model.generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    x, y = images(2, 3, 64, seed=1), images(2, 3, 64, seed=2)
    before = [p.detach().clone() for p in model.generator.parameters()]

    fake = model.translate(x)
    # D: maximize log D(x, y) + log(1 - D(x, G(x)))   (halved, as in the paper, to slow D)
    real_logits, fake_logits = model.discriminate(x, y), model.discriminate(x, fake.detach())
    loss_d = 0.5 * (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                    + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
    opt_d.zero_grad()
    loss_d.backward()
    assert all(p.grad is None for p in model.generator.parameters())  # fake was detached
    assert all(p.grad is not None and p.grad.isfinite().all() for p in model.discriminator.parameters())
    opt_d.step()

    # G: maximize log D(x, G(x)) + lambda * ||y - G(x)||_1, lambda = 100
    logits = model.discriminate(x, fake)
    loss_g = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits)) + 100 * F.l1_loss(fake, y)
    opt_g.zero_grad()
    loss_g.backward()
    assert all(p.grad is not None and p.grad.isfinite().all() for p in model.generator.parameters())
    opt_g.step()
    assert all(not torch.equal(a, b) for a, b in zip(before, model.generator.parameters()))


# ----------------------------------------------------------------------------- CycleGAN


def test_cyclegan_shapes_both_directions():
    model = tiny_cyclegan(in_channels=1, out_channels=3, n_blocks=6).eval()
    a, b = images(2, 1, 32), images(2, 3, 32)
    assert model.translate(a).shape == (2, 3, 32, 32)
    assert model.translate(b, direction="b2a").shape == (2, 1, 32, 32)
    assert model.discriminator_a(a).shape[:2] == (2, 1) and model.discriminator_b(b).shape[:2] == (2, 1)
    assert sum(isinstance(m, nn.Dropout) for m in model.modules()) == 0
    with pytest.raises(ShapeError):
        model.translate(b)  # domain A has 1 channel
    with pytest.raises(ValueError, match="direction must be one of"):
        model.translate(a, direction="ab")
    with pytest.raises(ValueError, match="multiples of 4"):
        model.translate(images(1, 1, 30))
    community = tiny_cyclegan(generator_arch="community_resnet").eval()
    assert community.translate(images(1, 3, 32)).shape == (1, 3, 32, 32)


def test_cyclegan_training_step_with_lsgan_cycle_identity_and_pool():
    torch.manual_seed(0)
    model = tiny_cyclegan().train()
    generators = [*model.generator_ab.parameters(), *model.generator_ba.parameters()]
    discriminators = [*model.discriminator_a.parameters(), *model.discriminator_b.parameters()]
    opt_g = torch.optim.Adam(generators, lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminators, lr=2e-4, betas=(0.5, 0.999))
    pool_a, pool_b = ImagePool(50, seed=0), ImagePool(50, seed=1)
    real_a, real_b = images(2, 3, 32, seed=1), images(2, 3, 32, seed=2)
    lambda_cyc, lambda_idt = 10.0, 0.5

    def lsgan(logits: torch.Tensor, target: float) -> torch.Tensor:
        return F.mse_loss(logits, torch.full_like(logits, target))

    fake_b, fake_a = model.translate(real_a, "a2b"), model.translate(real_b, "b2a")
    # G: minimize (D_b(G_ab(a)) - 1)^2 + (D_a(G_ba(b)) - 1)^2 + lambda_cyc * L_cyc + lambda_idt * lambda_cyc * L_idt
    loss_gan = lsgan(model.discriminator_b(fake_b), 1.0) + lsgan(model.discriminator_a(fake_a), 1.0)
    loss_cyc = F.l1_loss(model.translate(fake_b, "b2a"), real_a) + F.l1_loss(model.translate(fake_a, "a2b"), real_b)
    loss_idt = F.l1_loss(model.translate(real_b, "a2b"), real_b) + F.l1_loss(model.translate(real_a, "b2a"), real_a)
    loss_g = loss_gan + lambda_cyc * loss_cyc + lambda_idt * lambda_cyc * loss_idt
    opt_g.zero_grad()
    loss_g.backward()
    assert all(p.grad is not None and p.grad.isfinite().all() for p in generators)
    opt_g.step()

    # D: minimize (D(real) - 1)^2 + D(fake from the history pool)^2, halved
    loss_d_a = lsgan(model.discriminator_a(real_a), 1.0) + lsgan(model.discriminator_a(pool_a.query(fake_a)), 0.0)
    loss_d_b = lsgan(model.discriminator_b(real_b), 1.0) + lsgan(model.discriminator_b(pool_b.query(fake_b)), 0.0)
    loss_d = 0.5 * (loss_d_a + loss_d_b)
    opt_d.zero_grad()
    loss_d.backward()
    assert all(p.grad is not None and p.grad.isfinite().all() for p in discriminators)
    opt_d.step()
    assert torch.isfinite(loss_g) and torch.isfinite(loss_d) and len(pool_a) == 2


def test_image_pool_fills_then_mixes_history():
    assert torch.equal(ImagePool(0).query(images(3, 1, 4)), images(3, 1, 4))
    pool = ImagePool(4, seed=0)
    first = images(4, 1, 4, seed=1).requires_grad_()
    out = pool.query(first)
    assert torch.equal(out, first.detach()) and not out.requires_grad and len(pool) == 4

    fresh = images(64, 1, 4, seed=2)
    out = pool.query(fresh)
    assert out.shape == fresh.shape and len(pool) == 4
    history = list(first.detach()) + list(fresh)
    from_fresh = sum(torch.equal(o, f) for o, f in zip(out, fresh))
    assert 10 < from_fresh < 54  # about half the batch is swapped for a stored image
    assert all(any(torch.equal(o, h) for h in history) for o in out)  # never anything else
    again = ImagePool(4, seed=0)
    again.query(first)
    assert torch.equal(again.query(fresh), out)  # seeded: reproducible


# ----------------------------------------------------------------------------- U-Net


def test_unet_segmentation_shapes_and_step():
    torch.manual_seed(0)
    model = UNet(in_channels=1, num_classes=3, width=4, depth=3, image_size=32)
    x = images(2, 1, 32)
    logits = model(x)
    assert logits.shape == (2, 3, 32, 32)
    # L = mean over pixels of -log softmax(logits)[y]
    target = torch.randint(3, (2, 32, 32))
    loss = F.cross_entropy(logits, target)
    loss.backward()
    assert all(p.grad is not None and p.grad.isfinite().all() for p in model.parameters())
    masks = model.eval().segment(x)
    assert masks.shape == (2, 32, 32) and masks.dtype == torch.long and 0 <= masks.min() and masks.max() < 3
    binary = UNet(in_channels=3, num_classes=1, width=4, depth=2, image_size=16, norm="none").eval()
    assert set(binary.segment(images(1, 3, 16)).unique().tolist()) <= {0, 1}
    with pytest.raises(ValueError, match="multiples of 8"):
        model(images(1, 1, 36))
    with pytest.raises(ValueError, match="norm must be one of"):
        UNet(norm="group")


# ----------------------------------------------------------------------------- config round trip


@pytest.mark.parametrize(
    "model, make_input",
    [
        (tiny_pix2pix(in_channels=1, norm="instance"), lambda: images(1, 1, 64)),
        (tiny_cyclegan(dropout=True), lambda: images(1, 3, 32)),
        (UNet(in_channels=3, num_classes=2, width=4, depth=2, image_size=16), lambda: images(1, 3, 16)),
    ],
)
def test_config_round_trip(model, make_input, tmp_path):
    def run(m):
        with torch.no_grad():
            return m.eval().segment(x) if isinstance(m, UNet) else m.eval().translate(x)

    x = make_input()
    rebuilt = build(model.family, {**model.config, "family": model.family})
    assert type(rebuilt) is type(model) and rebuilt.config == model.config
    rebuilt.load_state_dict(model.state_dict())
    assert torch.equal(run(rebuilt), run(model))
    model.save_pretrained(tmp_path)  # config.json + model.safetensors via PyTorchModelHubMixin
    loaded = type(model).from_pretrained(tmp_path)
    assert loaded.config == model.config
    assert torch.equal(run(loaded), run(model))
