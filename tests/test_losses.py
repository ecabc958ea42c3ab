"""Each loss against its formula, on small hand-made tensors."""

from __future__ import annotations

import math

import pytest
import torch

from training import losses as L


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def test_bce_d_loss_is_the_minimax_value_function():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    # D: maximize log D(x) + log(1 - D(G(z))), as a loss: the negative means
    expected = -(math.log(sig(2.0)) + math.log(sig(-1.0))) / 2 - (math.log(1 - sig(0.5)) + math.log(1 - sig(-3.0))) / 2
    assert L.bce_d_loss(real, fake).item() == pytest.approx(expected, rel=1e-6)


def test_one_sided_label_smoothing_changes_only_the_real_target():
    real, fake = torch.tensor([1.5]), torch.tensor([-0.5])
    t = L.real_target(0.1)
    assert t == pytest.approx(0.9)
    expected = -(0.9 * math.log(sig(1.5)) + 0.1 * math.log(1 - sig(1.5))) - math.log(1 - sig(-0.5))
    assert L.bce_d_loss(real, fake, t).item() == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError):
        L.real_target(0.6)


def test_generator_losses_minimax_and_nonsaturating():
    fake = torch.tensor([-4.0, 0.0, 3.0])
    minimax = sum(math.log(1 - sig(v)) for v in (-4.0, 0.0, 3.0)) / 3
    nonsat = -sum(math.log(sig(v)) for v in (-4.0, 0.0, 3.0)) / 3
    assert L.minimax_g_loss(fake).item() == pytest.approx(minimax, rel=1e-6)
    assert L.nonsaturating_g_loss(fake).item() == pytest.approx(nonsat, rel=1e-6)
    # the point of the non-saturating loss: a strong gradient when D confidently rejects the fake
    weak = torch.tensor([-6.0], requires_grad=True)
    L.minimax_g_loss(weak).backward()
    strong = torch.tensor([-6.0], requires_grad=True)
    L.nonsaturating_g_loss(strong).backward()
    assert abs(strong.grad.item()) > 100 * abs(weak.grad.item())


def test_wasserstein_hinge_and_least_squares():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([-2.0, 0.5])
    assert L.wasserstein_d_loss(real, fake).item() == pytest.approx((-2.0 + 0.5) / 2 - (1.0 + 3.0) / 2)
    assert L.wasserstein_g_loss(fake).item() == pytest.approx(0.75)
    # hinge: mean(relu(1 - real)) + mean(relu(1 + fake))
    assert L.hinge_d_loss(real, fake).item() == pytest.approx((0 + 0) / 2 + (0 + 1.5) / 2)
    assert L.lsgan_d_loss(real, fake).item() == pytest.approx(0.5 * (0 + 4) / 2 + 0.5 * (4 + 0.25) / 2)
    assert L.lsgan_g_loss(fake).item() == pytest.approx(0.5 * (9 + 0.25) / 2)
    assert set(L.LOSSES) == {"minimax", "nonsat", "wgan", "wgan-gp", "hinge", "lsgan"}


def test_gradient_penalty_of_a_linear_critic():
    torch.manual_seed(0)
    real, fake = torch.randn(4, 1, 2, 2), torch.randn(4, 1, 2, 2)
    w = torch.tensor([3.0, 0.0, 4.0, 0.0]) / 5.0  # ||w|| = 1: a 1-Lipschitz critic, penalty 0
    assert L.gradient_penalty(lambda x: x.flatten(1) @ w, real, fake, 10.0).item() == pytest.approx(0.0, abs=1e-10)
    # ||2w|| = 2: every interpolate's gradient norm is 2, penalty = lambda * (2 - 1)^2
    assert L.gradient_penalty(lambda x: x.flatten(1) @ (2 * w), real, fake, 10.0).item() == pytest.approx(10.0, rel=1e-6)


def test_gradient_penalty_reaches_the_critic_weights():
    weight = torch.tensor([2.0, 0.0, 0.0, 0.0], requires_grad=True)
    penalty = L.gradient_penalty(lambda x: x.flatten(1) @ weight, torch.randn(3, 1, 2, 2), torch.randn(3, 1, 2, 2), 1.0)
    penalty.backward()  # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w|| = [2, 0, 0, 0]
    assert torch.allclose(weight.grad, torch.tensor([2.0, 0.0, 0.0, 0.0]))


def test_weight_clipping():
    params = [torch.nn.Parameter(torch.tensor([-1.0, 0.005, 0.5]))]
    L.clip_weights_(params, 0.01)
    assert params[0].tolist() == pytest.approx([-0.01, 0.005, 0.01])


def test_translation_losses():
    a, b = torch.zeros(2, 1, 2, 2), torch.ones(2, 1, 2, 2)
    assert L.l1_loss(a + 0.5, a, 100.0).item() == pytest.approx(50.0)
    # cycle: lambda * (|a~ - a| + |b~ - b|)
    assert L.cycle_loss(a, a + 0.1, b, b - 0.2, 10.0).item() == pytest.approx(10 * (0.1 + 0.2))
    assert L.identity_loss(a, a + 0.2, b, b, 5.0).item() == pytest.approx(5 * 0.2)


def test_instance_noise_anneals_to_zero():
    assert L.instance_noise_std(0, 0.1, 100) == pytest.approx(0.1)
    assert L.instance_noise_std(50, 0.1, 100) == pytest.approx(0.05)
    assert L.instance_noise_std(200, 0.1, 100) == 0.0
    assert L.instance_noise_std(5, 0.1, 0) == pytest.approx(0.1)  # constant when not annealed
    x = torch.zeros(1000)
    assert torch.equal(L.add_instance_noise(x, 0.0), x)
    assert L.add_instance_noise(x, 0.5).std().item() == pytest.approx(0.5, rel=0.1)


def test_flipped_targets():
    torch.manual_seed(0)
    real_t, fake_t = L.flip_targets(10_000, 0.9, 0.2, torch.device("cpu"))
    flipped = real_t == 0
    assert flipped.float().mean().item() == pytest.approx(0.2, abs=0.02)
    assert torch.equal(fake_t == 0.9, flipped)  # a flipped pair swaps both targets
    assert torch.all(flipped | torch.isclose(real_t, torch.tensor(0.9)))


def test_auxiliary_losses():
    logits = torch.tensor([[5.0, 0.0], [0.0, 5.0]])
    labels = torch.tensor([0, 1])
    assert L.classification_loss(logits, labels).item() == pytest.approx(-math.log(sig(5.0)), rel=1e-5)
    cont = torch.tensor([[0.5, -0.5]])
    info = L.info_loss(logits[:1], labels[:1], cont + 1.0, cont)
    assert info.item() == pytest.approx(-math.log(sig(5.0)) + 0.5 * 1.0, rel=1e-5)


def test_diffaugment_transforms_keep_shapes_gradients_and_content():
    torch.manual_seed(0)
    x = torch.randn(16, 1, 8, 8, requires_grad=True)
    for name, transform in L.AUGMENTATIONS.items():
        y = transform(x)
        assert y.shape == x.shape, name
        y.sum().backward()  # differentiable: G learns through D's augmented view
        assert x.grad is not None and torch.isfinite(x.grad).all()
        x.grad = None
    # translation moves whole images and fills with the background value -1
    ramp = torch.arange(64.0).view(1, 1, 8, 8).expand(32, 1, 8, 8)
    moved = L.translate(ramp)
    for image in moved[:, 0]:
        kept = image[image >= 0]
        assert len(kept) >= 49 and torch.all((image == -1) | (image >= 0))
    # cutout blanks exactly one half-size square (clipped at the border) to 0
    holes = (L.cutout(torch.ones(32, 1, 8, 8)) == 0).sum((1, 2, 3))
    assert holes.max() == 16 and holes.min() >= 4
    # turn: each image is either itself or rotated by 180 degrees
    turned = L.turn(ramp)
    assert all(torch.equal(t, r) or torch.equal(t, r.flip(-2, -1)) for t, r in zip(turned, ramp))
    assert [f.__name__ for f in L.parse_policy("translation, cutout")] == ["translate", "cutout"]
    with pytest.raises(ValueError):
        L.parse_policy("colour")


def _largest_shift(moved: torch.Tensor, image: torch.Tensor) -> int:
    """The largest shift (in pixels, either axis) of a single bright pixel across a batch."""
    y0, x0 = (image[0, 0] == image.max()).nonzero()[0].tolist()
    found = [(m[0] == image.max()).nonzero()[0].tolist() for m in moved]
    return max(max(abs(y - y0), abs(x - x0)) for y, x in found)


def test_a_policy_can_set_the_size_of_translation_and_cutout():
    torch.manual_seed(0)
    dot = torch.full((1, 1, 32, 32), -1.0)
    dot[0, 0, 16, 16] = 1.0
    batch = dot.expand(512, 1, 32, 32)
    # DiffAugment's default: up to 1/8 of the size (4 pixels at 32); "translation:0.0625": up to 2
    assert _largest_shift(L.parse_policy("translation")[0](batch), dot) == 4
    small = L.parse_policy("translation:0.0625")[0]
    assert small.__name__ == "translate" and _largest_shift(small(batch), dot) == 2
    # cutout's square: half the size by default (16x16 at 32), "cutout:0.25" an 8x8 one
    holes = (L.parse_policy("cutout:0.25, translation")[0](torch.ones(64, 1, 32, 32)) == 0).sum((1, 2, 3))
    assert holes.max() == 64
    for bad, says in [("translation:0", "above 0"), ("translation:0.6", "at most 0.5"), ("cutout:x", "a number"),
                      ("translation:nan", "above 0"), ("turn:0.2", "only translation, cutout, blur"), ("blur:5", "at most 4.0 px"), ("shift:2", "unknown")]:
        with pytest.raises(ValueError, match=says):
            L.parse_policy(bad)


def test_gaussian_blur_matches_the_formula_and_keeps_the_mean():
    # a single bright pixel spreads into the separable Gaussian exp(-d^2 / 2 sigma^2), normalised
    dot = torch.zeros(2, 1, 15, 15)
    dot[:, 0, 7, 7] = 1.0
    out = L.gaussian_blur(dot, torch.tensor([0.0, 1.0]))
    assert torch.equal(out[0], dot[0])  # sigma 0: the image itself
    d = torch.arange(-3.0, 4.0)
    g = torch.exp(-d ** 2 / 2)
    g = g / g.sum()
    assert torch.allclose(out[1, 0, 4:11, 4:11], torch.outer(g, g), atol=1e-6)
    assert out[1].sum().item() == pytest.approx(1.0, abs=1e-5)
    # a flat image stays flat (the border repeats rather than fading to zero), channels_last is kept
    flat = torch.full((3, 3, 8, 8), -0.5).contiguous(memory_format=torch.channels_last)
    blurred = L.gaussian_blur(flat, 1.5)
    assert torch.allclose(blurred, flat) and blurred.is_contiguous(memory_format=torch.channels_last)


def test_blur_augmentation_draws_a_strength_per_image_up_to_its_size():
    torch.manual_seed(0)
    dot = torch.zeros(256, 1, 15, 15)
    dot[:, 0, 7, 7] = 1.0
    peaks = L.parse_policy("blur:1.5")[0](dot)[:, 0, 7, 7]  # the centre keeps g(0)^2 of the dot
    weakest = 1 / (torch.exp(-torch.arange(-5.0, 6.0) ** 2 / (2 * 1.5 ** 2)).sum() ** 2)
    assert peaks.max() <= 1.0 and peaks.min() >= weakest - 1e-6
    assert peaks.max() > 0.5 and peaks.min() < 1.5 * weakest  # strengths spread from none to the largest
    assert len(peaks.unique()) > 200


def test_classifier_augment_reaches_only_the_classifier_batch():
    from training.recipes import RecipeError, apply_overrides, get_recipe, validate
    from training.steps import StepContext

    recipe = apply_overrides(get_recipe("faces-attributes"), ["augment=blur:2"])
    ctx = StepContext(model=None, recipe=recipe, loss=None, optimizers={}, groups={}, next_batch=None,
                      device=torch.device("cpu"))
    dot = torch.zeros(64, 3, 9, 9)
    dot[:, :, 4, 4] = 1.0
    assert (ctx.augmented(dot)[:, :, 4, 4] < 1.0).float().mean() > 0.9  # blurred
    plain = StepContext(model=None, recipe=get_recipe("mnist-classifier"), loss=None, optimizers={}, groups={},
                        next_batch=None, device=torch.device("cpu"))
    assert plain.augmented(dot) is dot
    with pytest.raises(RecipeError, match="not a classifier"):
        validate(apply_overrides(get_recipe("mnist-dcgan"), ["augment=blur"]))
    with pytest.raises(RecipeError, match="augment: unknown"):
        validate(apply_overrides(get_recipe("faces-attributes"), ["augment=sharpen"]))


def test_square_symmetry_moves_a_pair_together():
    torch.manual_seed(0)
    ramp = torch.arange(16.0).view(1, 1, 4, 4).expand(64, 2, 4, 4).contiguous()
    paired = ramp * 10  # a "target" that must get the same symmetry as its input
    a, b = L.square_symmetry(ramp, paired)
    assert a.shape == ramp.shape and torch.equal(b, a * 10)
    symmetries = [torch.rot90(base, k, (-2, -1)) for base in (ramp[0], ramp[0].flip(-1)) for k in range(4)]
    seen = {next(i for i, s in enumerate(symmetries) if torch.equal(image, s)) for image in a}
    assert seen == set(range(8))  # all 8 symmetries of the square, and nothing else
    nhwc = ramp.contiguous(memory_format=torch.channels_last)
    assert L.square_symmetry(nhwc)[0].is_contiguous(memory_format=torch.channels_last)


def test_r1_from_the_loss_pass_equals_r1_from_its_own_pass():
    # D(x) = sum(x^2 * c): grad = 2 c x, so R1 = gamma/2 * mean_b sum (2 c x)^2, by hand
    torch.manual_seed(0)
    c = torch.tensor([1.0, -2.0, 0.5, 3.0], requires_grad=True)
    critic = lambda x: (x.flatten(1) ** 2 * c).sum(1)  # noqa: E731
    real = torch.randn(5, 1, 2, 2)
    by_hand = 0.5 * 10.0 * ((2 * c.detach() * real.flatten(1)) ** 2).sum(1).mean()
    separate = L.r1_penalty(critic, real, 10.0)
    x = real.clone().requires_grad_(True)
    shared = L.r1_from_scores(critic(x), x, 10.0)
    assert separate.item() == pytest.approx(by_hand.item(), rel=1e-6)
    assert shared.item() == pytest.approx(by_hand.item(), rel=1e-6)
    (weight_grad,) = torch.autograd.grad(shared, c)  # the penalty reaches D's weights (create_graph)
    assert torch.allclose(weight_grad, 0.5 * 10.0 * (8 * c.detach() * real.flatten(1) ** 2).sum(0) / 5, rtol=1e-5)
