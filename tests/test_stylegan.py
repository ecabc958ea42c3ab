"""StyleGAN (studio/models/stylegan.py) and its training step: tiny configs, exact checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from studio.checkpoints import load, save
from studio.errors import DataError
from studio.models import FAMILIES, StyleGAN, build
from training import apply_overrides, get_recipe, read_events, train
from training.losses import LOSSES
from training.steps import STEPS, StepContext, optimizer_groups, progressive_stage, real_at_stage

TINY = dict(latent_dim=8, w_dim=8, mapping_layers=2, image_size=16, channels=1, width=8, disc_width=8)


@pytest.fixture
def model() -> StyleGAN:
    torch.manual_seed(0)
    m = StyleGAN(**TINY).eval()
    with torch.no_grad():  # a w_avg away from 0, as after training
        m.w_avg.copy_(torch.randn(m.w_dim))
        for layer in m.synthesis_network.layers:  # noise that shows (its scales start at 0)
            layer.noise_strength.fill_(0.5)
    return m


def test_registered_shapes_and_layers(model):
    assert FAMILIES["stylegan"] is StyleGAN
    assert model.resolutions == [4, 8, 16] and model.num_ws == 6
    assert [model.layer_resolution(i) for i in range(6)] == [4, 4, 8, 8, 16, 16]
    assert model.layers_at([4, 8]) == [0, 1, 2, 3]
    z = model.sample_latent(3, seed=1)
    ws = model.mapping(z)
    assert ws.shape == (3, 6, 8)
    assert model.synthesis(ws).shape == (3, 1, 16, 16)
    assert model.sample(3, seed=1).shape == (3, 1, 16, 16)
    with pytest.raises(ValueError, match="resolution must be one of"):
        model.set_stage(12)
    with pytest.raises(ValueError, match="image_size must be one of"):
        StyleGAN(**{**TINY, "image_size": 28})


def test_seed_determinism_and_mapping_plus_synthesis_is_the_forward(model):
    a, b = model.sample(4, seed=3), model.sample(4, seed=3)
    assert torch.equal(a, b)
    assert not torch.equal(a, model.sample(4, seed=4))
    z = model.sample_latent(4, seed=3)  # seeds map to z like every other family
    assert torch.equal(z, torch.randn(4, 8, generator=torch.Generator().manual_seed(3)))
    with torch.no_grad():
        assert torch.equal(model.synthesis(model.mapping(z), noise_mode="const"), model(z))
        assert torch.equal(model.synthesis(model.mapping(z)), a)
        # random noise with a seed repeats; another seed changes the image
        r1 = model.synthesis(model.mapping(z), noise_mode="random", noise_seed=5)
        assert torch.equal(r1, model.synthesis(model.mapping(z), noise_mode="random", noise_seed=5))
        assert not torch.equal(r1, model.synthesis(model.mapping(z), noise_mode="random", noise_seed=6))


def test_truncation_psi_one_is_a_no_op_and_psi_zero_is_the_average_image(model):
    z = model.sample_latent(5, seed=0)
    with torch.no_grad():
        ws = model.mapping(z)
        assert torch.equal(model.mapping(z, psi=1.0), ws)
        assert torch.equal(model.mapping(z, psi=1.0, cutoff=2), ws)
        zero = model.mapping(z, psi=0.0)
        assert torch.allclose(zero, model.w_avg.expand_as(zero))
        images = model.synthesis(zero)
        average = model.synthesis(model.w_avg.expand(1, 6, 8))
        assert torch.allclose(images, average.expand_as(images), atol=1e-5)  # every z draws the average image (batch 5 vs 1: ~2e-6 of float noise on AVX-512)
        half = model.mapping(z, psi=0.5)
        assert torch.allclose(half, model.w_avg + 0.5 * (ws - model.w_avg), atol=1e-6)
        cut = model.mapping(z, psi=0.0, cutoff=2)  # only the first two (4x4) layers truncated
        assert torch.allclose(cut[:, :2], model.w_avg.expand(5, 2, 8))
        assert torch.equal(cut[:, 2:], ws[:, 2:])


def test_mixing_the_same_seed_is_the_identity_and_all_layers_is_the_other(model):
    with torch.no_grad():
        wa, wb = model.mapping(model.sample_latent(2, 0)), model.mapping(model.sample_latent(2, 1))
        for layers in ([0, 1], model.layers_at([16]), range(6)):
            assert torch.equal(model.synthesis(model.mix(wa, wa, layers)), model.synthesis(wa))
        assert torch.equal(model.synthesis(model.mix(wa, wb, range(6))), model.synthesis(wb))
        coarse = model.synthesis(model.mix(wa, wb, [0, 1]))
        assert not torch.equal(coarse, model.synthesis(wa)) and not torch.equal(coarse, model.synthesis(wb))


def test_fade_in_at_alpha_zero_is_the_lower_resolution_upsampled(model):
    ws = model.mapping(model.sample_latent(3, seed=2))
    with torch.no_grad():
        for low, high in ((4, 8), (8, 16)):
            faded = model.synthesis(ws, resolution=high, alpha=0.0)
            lower = model.synthesis(ws, resolution=low, alpha=1.0)
            # tanh of the upsampled RGB equals the upsampled tanh: nearest copies pixels
            assert torch.allclose(faded, F.interpolate(lower, scale_factor=2, mode="nearest"), atol=1e-6)
            assert not torch.allclose(model.synthesis(ws, resolution=high, alpha=1.0), faded)
            # the discriminator: at alpha 0 it sees only the downsampled image through the lower from-RGB
            x = torch.randn(3, 1, high, high)
            assert torch.allclose(model.discriminate(x, resolution=high, alpha=0.0),
                                  model.discriminate(F.avg_pool2d(x, 2), resolution=low, alpha=1.0), atol=1e-5)


def test_noise_is_per_channel_and_can_be_switched_off_per_resolution(model):
    ws = model.mapping(model.sample_latent(1, seed=0)).repeat(4, 1, 1)
    with torch.no_grad():
        draws = model.synthesis(ws, noise_mode="random", noise_seed=0)
        assert draws.std(0).mean() > 0  # the same w, four noise draws: different images
        none = model.synthesis(ws, noise_mode="none")
        assert torch.equal(none[0], none[3])
        coarse_only = model.synthesis(ws, noise_mode="random", noise_seed=0, noise_resolutions=[4])
        assert 0 < coarse_only.std(0).mean() < draws.std(0).mean() * 2
        assert torch.equal(model.synthesis(ws, noise_mode="random", noise_seed=0, noise_resolutions=[]), none)
    assert model.synthesis_network.layers[0].noise_strength.shape == (1, 16, 1, 1)  # one scale per channel


def test_config_and_checkpoint_round_trip_keep_w_avg_and_stage(model, tmp_path):
    config = json.loads(json.dumps(model.config))
    assert config == {**TINY, "w_avg_beta": 0.995}
    twin = build("stylegan", config)
    twin.load_state_dict(model.state_dict(), strict=True)
    model.set_stage(8, 0.25)
    save(model, tmp_path / "sg", metadata={"title": "tiny stylegan", "dataset": "mnist"})
    loaded = load(tmp_path / "sg").model
    assert torch.equal(loaded.w_avg, model.w_avg)
    assert loaded.current_stage == (8, 0.25)
    assert torch.equal(loaded.sample(3, seed=7), model.sample(3, seed=7))
    assert loaded.sample(3, seed=7).shape == (3, 1, 16, 16)  # drawn at 8x8 (fading), upsampled


def test_progressive_schedule():
    res = [4, 8, 16, 32]
    stages = [progressive_stage(s, res, 4, 2) for s in range(1, 15)]
    assert stages[:4] == [(4, 1.0)] * 4
    assert stages[4:8] == [(8, 0.0), (8, 0.5), (8, 1.0), (8, 1.0)]
    assert stages[8:10] == [(16, 0.0), (16, 0.5)]
    assert stages[12:] == [(32, 0.0), (32, 0.5)]
    assert progressive_stage(100, res, 4, 2) == (32, 1.0)  # the last resolution trains to the end
    assert progressive_stage(1, res, 0, 0) == (32, 1.0)  # no growing
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    assert torch.equal(real_at_stage(x, 2, 1.0), F.avg_pool2d(x, 2))
    assert torch.equal(real_at_stage(x, 4, 0.0), F.interpolate(F.avg_pool2d(x, 2), scale_factor=2))


def tiny_recipe(**extra):
    settings = {"model.width": 8, "model.disc_width": 8, "model.latent_dim": 8, "model.w_dim": 8, "model.mapping_layers": 2,
                "image_size": 16, "batch_size": 8, "phase_steps": 2, "fade_steps": 2, "steps": 6, "sample_every": 0,
                "checkpoint_every": 3, "data_split": "test", **extra}
    return apply_overrides(get_recipe("mnist-stylegan"), [f"{k}={v}" for k, v in settings.items()])


def test_one_step_per_phase_and_resume_mid_fade_reproduces_the_run(tmp_path):
    recipe = tiny_recipe()
    train(recipe, out=tmp_path, run_id="whole")
    calls = iter(range(1, 100))  # stopped after step 4: in the middle of the 8x8 fade-in
    assert train(recipe, out=tmp_path, run_id="split", should_stop=lambda: next(calls) == 4).step == 4
    assert load(tmp_path / "split").model.current_stage == (8, 0.5)
    train(recipe, resume=tmp_path / "split")
    whole = [e for e in read_events(tmp_path / "whole") if "event" not in e]
    split = [e for e in read_events(tmp_path / "split") if "event" not in e]
    assert [(e["resolution"], e["alpha"]) for e in whole] == [(4, 1), (4, 1), (8, 0), (8, 0.5), (16, 0), (16, 0.5)]
    keys = ["loss_g", "loss_d", "r1", "d_real", "d_fake", "grad_norm_g", "grad_norm_d", "resolution", "alpha"]
    assert [e["step"] for e in split] == [1, 2, 3, 4, 5, 6]
    assert [[e[k] for k in keys] for e in split] == [[e[k] for k in keys] for e in whole]
    assert all(e["r1"] > 0 for e in whole)
    final = load(tmp_path / "whole").model
    assert torch.count_nonzero(final.w_avg) > 0  # the EMA moved during training
    assert torch.equal(final.w_avg, load(tmp_path / "split").model.w_avg)


def test_d_channels_last_puts_d_alone_in_nhwc_and_trains_the_same(tmp_path):
    """mnist-stylegan's layout: D's convolution weights NHWC, G's NCHW; the same losses as all NCHW."""
    from studio.accel import is_channels_last
    from training.loop import Trainer

    recipe = tiny_recipe(steps=4)
    assert recipe.d_channels_last and not recipe.channels_last  # the recipe's own layout
    trainer = Trainer(recipe, run=None, device=torch.device("cpu"))
    kernels = lambda module: [p for p in module.parameters() if p.dim() == 4 and p.shape[-1] > 1]  # noqa: E731
    assert kernels(trainer.model.discriminator) and all(is_channels_last(p) for p in kernels(trainer.model.discriminator))
    assert kernels(trainer.model.synthesis_network) and all(p.is_contiguous() for p in kernels(trainer.model.synthesis_network))
    # the optimizer updates the very tensors the model runs
    d_params = {id(p) for p in trainer.model.discriminator.parameters()}
    assert d_params == {id(p) for group in trainer.optimizers["d"].param_groups for p in group["params"]}

    train(recipe, out=tmp_path, run_id="nhwc-d")
    train(apply_overrides(recipe, ["d_channels_last=false"]), out=tmp_path, run_id="nchw")
    keys = ["loss_g", "loss_d", "r1", "d_real", "d_fake"]
    nhwc_d, nchw = ([[e[k] for k in keys] for e in read_events(tmp_path / run) if "event" not in e] for run in ("nhwc-d", "nchw"))
    assert len(nhwc_d) == 4 and np.allclose(nhwc_d, nchw, rtol=1e-4, atol=1e-5)  # the same maths, other rounding


def test_d_channels_last_is_refused_where_it_means_nothing():
    from training.recipes import RecipeError, validate

    with pytest.raises(RecipeError, match="channels_last=false"):  # the whole model is NHWC already
        validate(apply_overrides(get_recipe("mnist-dcgan"), ["d_channels_last=true", "channels_last=true"]))
    with pytest.raises(RecipeError, match="no discriminator"):
        validate(apply_overrides(get_recipe("mnist-classifier"), ["d_channels_last=true", "channels_last=false"]))
    validate(apply_overrides(get_recipe("mnist-dcgan"), ["d_channels_last=true", "channels_last=false"]))


def make_context(model, real, lr_g, lr_d, **recipe_extra):
    recipe = apply_overrides(get_recipe("mnist-stylegan"), ["d_augment=", *[f"{k}={v}" for k, v in recipe_extra.items()]])
    groups = optimizer_groups("stylegan", model)
    optimizers = {name: torch.optim.Adam([p for c in children for p in getattr(model, c).parameters()],
                                         lr=lr_g if name == "g" else lr_d, betas=(0.0, 0.99))
                  for name, children in groups.items()}
    return StepContext(model=model, recipe=recipe, loss=LOSSES["nonsat"], optimizers=optimizers, groups=groups,
                       next_batch=lambda: (real, torch.zeros(len(real), dtype=torch.long)), device=torch.device("cpu"))


def test_direction_of_learning_d_and_g_steps():
    """D's updates separate reals from fakes; G's updates raise D(G(z)) (D held still)."""
    torch.manual_seed(0)
    model = StyleGAN(**TINY)
    assert optimizer_groups("stylegan", model) == {"g": ["mapping_network", "synthesis_network"], "d": ["discriminator"]}
    real = torch.rand(16, 1, 16, 16) * 2 - 1
    z = model.sample_latent(16, seed=0)

    def gap():
        with torch.no_grad():
            return (model.discriminate(real) - model.discriminate(model(z))).mean().item()

    ctx = make_context(model, real, lr_g=0.0, lr_d=1e-2, phase_steps=0, r1_gamma=0.0, mixing_prob=0.0)
    before = gap()
    for step in range(1, 6):
        ctx.step = step
        STEPS["stylegan"](ctx)
    assert gap() > before + 0.03

    def fooled():
        with torch.no_grad():
            return model.discriminate(model(z)).mean().item()

    ctx = make_context(model, real, lr_g=1e-2, lr_d=0.0, phase_steps=0, r1_gamma=0.0, mixing_prob=0.0)
    before, d_weights = fooled(), [p.clone() for p in model.discriminator.parameters()]
    for step in range(1, 6):
        ctx.step = step
        STEPS["stylegan"](ctx)
    assert fooled() > before + 0.03
    assert all(torch.equal(a, b) for a, b in zip(d_weights, model.discriminator.parameters()))


# ----------------------------------------------------------------------------- explore: mixing


def test_presets_follow_the_models_resolutions():
    from studio.explore import mixing

    def p(size):
        return mixing.presets(StyleGAN(**{**TINY, "image_size": size}))

    assert p(32) == {"coarse": (4, 8), "middle": (16,), "fine": (32,)}
    assert p(16) == {"coarse": (4, 8), "fine": (16,)}
    assert p(8) == {"coarse": (4,), "fine": (8,)}
    assert p(128) == {"coarse": (4, 8), "middle": (16, 32), "fine": (64, 128)}


def test_mixing_matrix_cells_rows_and_columns(model):
    from studio.explore import mixing

    matrix = mixing.mixing_matrix(model, [0, 1], [2, 3, 4], (4, 8))
    assert matrix.cells.shape == (2, 3, 16, 16, 1) and matrix.layers == [0, 1, 2, 3]
    assert matrix.grid().shape == (3 * 18 + 2, 4 * 18 + 2, 1)  # a header row and column of sources
    # a cell equals drawing the mixed w directly
    ws = model.mix(mixing.styles(model, [1]), mixing.styles(model, [3]), [0, 1, 2, 3])
    assert np.array_equal(matrix.cells[1, 1], mixing.draw(model, ws)[0])
    # the same seed on both sides: the cell is the row's image
    same = mixing.mixing_matrix(model, [5], [5], (4, 8))
    assert np.array_equal(same.cells[0, 0], same.rows[0])
    every = mixing.mixing_matrix(model, [0], [2], model.resolutions)  # all layers from the column
    assert np.array_equal(every.cells[0, 0], every.columns[0])
    with pytest.raises(DataError, match="no layers at"):
        mixing.mixing_matrix(model, [0], [1], (32,))
    with pytest.raises(DataError, match="StyleGAN"):
        mixing.mixing_matrix(StyleGAN and build("dcgan", {"latent_dim": 8, "image_size": 28, "channels": 1, "width": 4}),
                             [0], [1], (4,))


def test_stochastic_variation_and_w_truncation(model):
    from studio.explore import mixing

    v = mixing.stochastic_variation(model, seed=0, n=16, noise_seed=1)
    assert v.images.shape == (16, 16, 16, 1) and v.std.shape == (16, 16) and v.std.max() > 0
    off = mixing.stochastic_variation(model, seed=0, n=4, noise_resolutions=[])
    assert off.std.max() == 0  # noise off everywhere: 4 identical images
    assert mixing.std_image(v.std).shape == (16, 16, 3)
    average = mixing.w_truncated(model, seed=0, psi=0.0, n=4)
    assert all(np.array_equal(average[0], image) for image in average)
    assert np.array_equal(mixing.w_truncated(model, 0, 1.0, n=4), mixing.draw(model, mixing.styles(model, range(4))))


def test_recipe_json_round_trip_reproduces_the_pixels(model):
    from studio.explore import mixing

    recipe = mixing.MixRecipe("tiny", mixing.weights_hash(model), [0, 1], [2, 3], [16], psi=0.7, cutoff=4,
                              noise_mode="random", noise_seed=9)
    first = mixing.render_recipe(model, recipe).grid()
    again = mixing.MixRecipe.from_json(recipe.to_json())
    assert again == recipe
    assert np.array_equal(mixing.render_recipe(model, again).grid(), first)
    other = mixing.MixRecipe.from_json(recipe.to_json().replace('"noise_seed": 9', '"noise_seed": 10'))
    assert not np.array_equal(mixing.render_recipe(model, other).grid(), first)
    with torch.no_grad():
        model.w_avg.add_(1.0)  # other weights: refused, not silently redrawn
    with pytest.raises(DataError, match="other weights"):
        mixing.render_recipe(model, again)
    for bad in ("{", '{"kind": "x"}', recipe.to_json().replace('"psi": 0.7', '"psi": "high"'),
                recipe.to_json().replace('"noise_seed": 9', '"noise_seed": 1.5')):
        with pytest.raises(DataError):
            mixing.MixRecipe.from_json(bad)


def test_equalized_lr_keeps_the_signal_scale_through_the_discriminator():
    """He's gain sqrt(2) before each LeakyReLU: without it every D block halved the variance and
    D's outputs faded to a constant in training (found in a first mnist-stylegan run)."""
    torch.manual_seed(0)
    d = StyleGAN(**{**TINY, "image_size": 32, "disc_width": 32}).discriminator
    x = torch.rand(64, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        h = F.leaky_relu(d.from_rgb[3](x), 0.2)
        first = h.std().item()
        for k in (3, 2, 1):
            h = d.blocks[k](h)
    assert h.std().item() > 0.35 * first  # 0.48 with the gain; 0.14 without it (average pooling also lowers it)


def test_a_walk_in_w_is_a_straight_line_between_the_seeds_w(model):
    """Latent interpolation in W (space="w"): its key frames are the seeds' own images, the frames in
    between are lerps of w (not of z), so they differ from the z-slerp walk's."""
    from studio import explore, imaging
    from studio.models import DCGAN

    walk_w = explore.walk(model, [3, 9], frames=6, space="w")
    walk_z = explore.walk(model, [3, 9], frames=6, method="slerp")
    ends = explore.candidates(model, [3, 9])  # (2, H, W, C): the seeds' images
    assert walk_w.frames.shape == (6, 16, 16, 1) and "W" in walk_w.note
    assert np.array_equal(walk_w.frames[0], ends[0]) and np.array_equal(walk_w.frames[-1], ends[1])
    assert np.array_equal(walk_z.frames[0], ends[0]) and np.array_equal(walk_z.frames[-1], ends[1])
    assert not np.array_equal(walk_w.frames[1:-1], walk_z.frames[1:-1])
    with torch.no_grad():  # frame 2 of 6 lies at t = 0.4 on the line from w(3) to w(9)
        w = model.mapping(explore.seed_latents(model, [3, 9]))  # (2, num_ws, w_dim)
        expected = imaging.to_uint8(model.synthesis(torch.lerp(w[:1], w[1:], 0.4), noise_mode="const"))
    np.testing.assert_array_equal(walk_w.frames[2], expected[0])
    model.set_stage(8)  # a model still growing: frames at image_size, as generate() draws them
    assert explore.walk(model, [3, 9], frames=3, space="w").frames.shape == (3, 16, 16, 1)
    with pytest.raises(ValueError, match="space must be one of"):
        explore.walk(model, [3, 9], frames=3, space="x")
    with pytest.raises(ValueError, match="needs a StyleGAN"):
        explore.walk(DCGAN(latent_dim=8, image_size=28, channels=1, width=4).eval(), [3, 9], frames=3, space="w")
