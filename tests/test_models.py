"""Model families: shapes, ranges, seeds, config and hub round trips, errors, gradients.

Tiny configs (widths 2-8) so the whole file runs in seconds on two CPU cores.
"""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from studio.errors import CheckpointError
from studio.models import (
    ACGAN,
    DCGAN,
    FAMILIES,
    MLPGAN,
    WGANGP,
    ConditionalGAN,
    DigitClassifier,
    InfoGAN,
    ShapeError,
    build,
)

TINY = {
    "mlp": ("mlp", dict(latent_dim=8, image_size=8, channels=1, hidden_dim=4)),
    "dcgan28": ("dcgan", dict(latent_dim=8, image_size=28, channels=1, width=4, disc_width=4)),
    "dcgan28-resize": ("dcgan", dict(latent_dim=8, image_size=28, channels=1, width=4, upsample="resize")),
    "dcgan32-resize": ("dcgan", dict(latent_dim=8, image_size=32, channels=3, width=4, upsample="resize")),
    "dcgan32-layer-d": ("dcgan", dict(latent_dim=8, image_size=32, channels=1, width=4, disc_norm="layer")),
    "dcgan32-extra-convs": ("dcgan", dict(latent_dim=8, image_size=32, channels=1, width=4, extra_convs=1)),
    "dcgan32-extra-conv-at": ("dcgan", dict(latent_dim=8, image_size=32, channels=1, width=4, extra_conv_at=[4, 8])),
    "wgangp28": ("wgangp", dict(latent_dim=8, image_size=28, channels=1, width=4, disc_width=4)),
    "wgangp32-nonorm": ("wgangp", dict(latent_dim=8, image_size=32, channels=3, width=4, critic_norm="none")),
    "cgan28": ("cgan", dict(latent_dim=8, image_size=28, channels=1, num_classes=3, width=4, disc_width=4)),
    "acgan32": ("acgan", dict(latent_dim=8, image_size=32, channels=3, num_classes=3, width=4)),
    "infogan28": (
        "infogan",
        dict(noise_dim=6, num_classes=3, n_continuous=2, image_size=28, channels=1, width=4, disc_width=4),
    ),
}


def make(name: str):
    family, config = TINY[name]
    torch.manual_seed(0)
    return build(family, config).eval()


def labels_for(model, n: int):
    return torch.arange(n) % model.num_classes if model.num_classes else None


@pytest.fixture(params=sorted(TINY))
def model(request):
    return make(request.param)


def test_registry_names_match_classes():
    # the GAN families and the classifier come first; the translation families follow them
    assert list(FAMILIES)[:8] == ["mlp", "dcgan", "wgangp", "cgan", "acgan", "infogan", "stylegan", "classifier"]
    for name, cls in FAMILIES.items():
        assert cls.family == name
    assert DigitClassifier.task == "classifier"
    assert {FAMILIES[n].task for n in ("mlp", "dcgan", "wgangp")} == {"unconditional"}


def test_build_errors():
    with pytest.raises(CheckpointError, match=r"unknown model family 'stylegan9'; known: mlp, dcgan"):
        build("stylegan9", {})
    with pytest.raises(CheckpointError, match="dcgan takes no argument depth"):
        build("dcgan", {"depth": 3})
    with pytest.raises(CheckpointError, match="image_size must be one of"):
        build("dcgan", {"image_size": 48})
    # a whole config.json (with the checkpoint's own keys) builds the model
    m = build("mlp", {**TINY["mlp"][1], "family": "mlp", "studio": {"title": "x"}})
    assert isinstance(m, MLPGAN) and m.config == TINY["mlp"][1]


@pytest.mark.parametrize(
    "cls, kwargs, message",
    [
        (DCGAN, dict(image_size=48), r"image_size must be one of \(28, 32, 64, 128\)"),
        (DCGAN, dict(upsample="bilinear"), "upsample must be one of"),
        (DCGAN, dict(disc_norm="instance"), "norm must be one of"),
        (DCGAN, dict(latent_dim=0), "latent_dim must be a positive integer"),
        (WGANGP, dict(critic_norm="batch"), "critic_norm must be one of"),
        (ConditionalGAN, dict(num_classes=1), "num_classes must be at least 2"),
        (ACGAN, dict(width=2.5), "width must be a positive integer"),
        (InfoGAN, dict(n_continuous=-1), "n_continuous must be an integer >= 0"),
        (MLPGAN, dict(hidden_dim=0), "hidden_dim must be a positive integer"),
        (DigitClassifier, dict(image_size=30), "multiple of 4"),
    ],
)
def test_constructor_rejects_bad_arguments(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(**kwargs)


def test_sample_shape_range_and_seeds(model):
    n = 5
    images = model.sample(n, seed=3)
    assert images.shape == (n, model.channels, model.image_size, model.image_size)
    assert images.dtype == torch.float32
    assert images.min() >= -1 and images.max() <= 1
    assert images.std() > 0
    assert torch.equal(images, model.sample(n, seed=3))
    assert not torch.allclose(images, model.sample(n, seed=4))
    if model.num_classes:
        labels = labels_for(model, n)
        fixed = model.sample(n, seed=3, labels=labels)
        assert torch.equal(fixed, model.sample(n, seed=3, labels=labels))
        assert not torch.allclose(fixed, model.sample(n, seed=3, labels=(labels + 1) % model.num_classes))
        one_class = model.sample(n, seed=3, labels=1)  # a single label applies to all n
        assert torch.equal(one_class, model.sample(n, seed=3, labels=torch.ones(n, dtype=torch.long)))


def test_sampling_is_inference_also_in_training_mode(model):
    statistics = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    expected = model.sample(4, seed=5)  # the fixture is in eval mode
    model.train()
    assert torch.equal(model.sample(4, seed=5), expected)
    assert model.training and all(m.training for m in model.modules())
    assert all(torch.equal(model.state_dict()[k], v) for k, v in statistics.items())  # BatchNorm untouched


def test_discriminate_shapes(model):
    x = model.sample(4, seed=0)
    labels = labels_for(model, 4)
    assert model.discriminate(x, labels).shape == (4,)
    if isinstance(model, ACGAN):
        adv, class_logits = model.discriminate(x, return_aux=True)
        assert adv.shape == (4,) and class_logits.shape == (4, model.num_classes)
        assert torch.equal(adv, model.discriminate(x))
    elif isinstance(model, InfoGAN):
        adv, q = model.discriminate(x, labels, return_aux=True)
        assert adv.shape == (4,)
        assert q["cat"].shape == (4, model.num_classes) and q["cont"].shape == (4, model.n_continuous)
    else:
        with pytest.raises(ValueError, match="no auxiliary head"):
            model.discriminate(x, labels, return_aux=True)


def test_config_round_trip_and_strict_load(model):
    config = json.loads(json.dumps(model.config))  # plain JSON values only
    assert config == model.config
    twin = type(model)(**config).eval()
    twin.load_state_dict(model.state_dict(), strict=True)
    assert twin.config == model.config
    labels = labels_for(model, 3)
    z = model.sample_latent(3, seed=1)
    assert torch.equal(twin.generate(z, labels), model.generate(z, labels))


def test_hub_mixin_round_trip(model, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model.save_pretrained(tmp_path)
    assert (tmp_path / "config.json").exists() and (tmp_path / "model.safetensors").exists()
    assert json.loads((tmp_path / "config.json").read_text()) == model.config
    loaded = type(model).from_pretrained(tmp_path, strict=True)
    assert type(loaded) is type(model) and not loaded.training
    assert loaded.config == model.config
    assert torch.equal(loaded.sample(3, seed=7), model.sample(3, seed=7))
    x = model.sample(3, seed=8)
    assert torch.equal(loaded.discriminate(x, labels_for(model, 3)), model.discriminate(x, labels_for(model, 3)))


def test_bad_shapes_raise_clear_errors(model):
    d, c, s = model.latent_dim, model.channels, model.image_size
    labels = labels_for(model, 2)
    with pytest.raises(ShapeError, match=rf"latent z: expected shape \('B', {d}\), got \(2, {d + 1}\)"):
        model.generate(torch.randn(2, d + 1), labels)
    with pytest.raises(ShapeError, match="expected shape"):
        model.generate(torch.randn(d))
    with pytest.raises(ShapeError, match=rf"discriminator input: expected shape \('B', {c}, {s}, {s}\)"):
        model.discriminate(torch.randn(2, c, s + 4, s + 4), labels)
    with pytest.raises(ShapeError, match="discriminator input"):
        model.discriminate(torch.randn(2, c + 1, s, s), labels)


def test_bad_labels_raise_clear_errors(model):
    z = model.sample_latent(3, seed=0)
    if not model.num_classes:
        with pytest.raises(ValueError, match="unconditional"):
            model.generate(z, torch.zeros(3, dtype=torch.long))
        with pytest.raises(ValueError, match="unconditional"):
            model.sample(3, seed=0, labels=0)
        return
    k = model.num_classes
    with pytest.raises(ValueError, match=rf"class labels must lie in \[0, {k}\)"):
        model.generate(z, torch.tensor([0, 1, k]))
    with pytest.raises(ValueError, match="must lie in"):
        model.generate(z, torch.tensor([0, -1, 1]))
    with pytest.raises(ValueError, match="conditional: pass class labels"):
        model.generate(z)
    with pytest.raises(ValueError, match="must be integers"):
        model.generate(z, torch.tensor([0.0, 1.5, 1.0]))
    with pytest.raises(ShapeError, match=r"labels: expected shape \(3,\), got \(2,\)"):
        model.generate(z, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="must lie in"):
        model.discriminate(model.generate(z, torch.tensor([0, 1, 0])), torch.tensor([0, 1, k]))


def test_backward_pass_reaches_every_parameter(model):
    model.train()
    n = 4
    z = model.sample_latent(n, seed=0)
    labels = labels_for(model, n)
    fake = model.generate(z, labels)
    if isinstance(model, ACGAN):
        adv, class_logits = model.discriminate(fake, return_aux=True)
        loss = F.binary_cross_entropy_with_logits(adv, torch.ones(n)) + F.cross_entropy(class_logits, labels)
    elif isinstance(model, InfoGAN):
        adv, q = model.discriminate(fake, return_aux=True)
        loss = (
            F.binary_cross_entropy_with_logits(adv, torch.ones(n))
            + F.cross_entropy(q["cat"], labels)
            + F.mse_loss(q["cont"], model.continuous_codes(z))
        )
    else:
        loss = F.binary_cross_entropy_with_logits(model.discriminate(fake, labels), torch.ones(n))
    loss.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
    assert any(p.grad.abs().sum() > 0 for p in model.generator.parameters())


def test_wgangp_gradient_penalty_double_backward():
    model = make("wgangp28").train()
    real = torch.rand(4, 1, 28, 28) * 2 - 1
    fake = model.generate(model.sample_latent(4, seed=0)).detach()
    eps = torch.rand(4, 1, 1, 1)
    mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(model.discriminate(mixed).sum(), mixed, create_graph=True)
    penalty = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
    loss = model.discriminate(fake).mean() - model.discriminate(real).mean() + 10 * penalty
    loss.backward()
    assert all(p.grad is not None for p in model.discriminator.parameters())
    # the paper's critic: no BatchNorm anywhere (it would couple the per-sample penalty)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.discriminator.modules())
    assert any(isinstance(m, nn.GroupNorm) for m in model.discriminator.modules())


def test_channels_last_gives_the_same_outputs(model):
    z = model.sample_latent(3, seed=2)
    labels = labels_for(model, 3)
    images = model.generate(z, labels)
    scores = model.discriminate(images, labels)
    model.to(memory_format=torch.channels_last)
    assert torch.allclose(model.generate(z, labels), images, atol=1e-5)
    x = images.contiguous(memory_format=torch.channels_last)
    assert torch.allclose(model.discriminate(x, labels), scores, atol=1e-5)
    model.train()
    model.discriminate(model.generate(z, labels), labels).sum().backward()


@pytest.mark.parametrize("size", [28, 32, 64, 128])
@pytest.mark.parametrize("upsample", ["transpose", "resize"])
def test_dcgan_every_size(size, upsample):
    model = DCGAN(latent_dim=4, image_size=size, channels=3, width=2, upsample=upsample).eval()
    images = model.sample(2, seed=0)
    assert images.shape == (2, 3, size, size)
    assert model.discriminate(images).shape == (2,)


def test_dcgan_init_follows_the_paper():
    model = DCGAN(latent_dim=8, image_size=32, channels=3, width=16)
    conv = model.generator.main[0].weight
    bn = model.generator.main[1].weight
    assert abs(conv.mean()) < 0.005 and abs(conv.std() - 0.02) < 0.003
    assert abs(bn.mean() - 1) < 0.02 and bn.std() < 0.05


def test_infogan_latent_codes():
    model = make("infogan28")
    z = model.sample_latent(500, seed=0)
    assert z.shape == (500, 8) and model.latent_dim == 8
    codes = model.continuous_codes(z)
    assert torch.equal(codes, z[:, 6:])
    assert codes.min() >= -1 and codes.max() <= 1 and codes.std() > 0.4  # U[-1, 1] has std 0.58
    assert z[:, :6].abs().max() > 2  # the noise part is Gaussian
    assert torch.equal(z, model.sample_latent(500, seed=0))


# --- weight compatibility with the reference implementations -------------------------------


class ExamplesGenerator(nn.Module):
    """pytorch/examples dcgan/main.py Generator, verbatim layers."""

    def __init__(self, nz, ngf, nc):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh(),
        )  # fmt: skip

    def forward(self, z):
        return self.main(z)


class ExamplesDiscriminator(nn.Module):
    """pytorch/examples dcgan/main.py Discriminator, verbatim layers."""

    def __init__(self, ndf, nc):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid(),
        )  # fmt: skip

    def forward(self, x):
        return self.main(x).view(-1, 1).squeeze(1)


def test_dcgan64_is_the_pytorch_examples_architecture():
    defaults = DCGAN()
    assert (defaults.latent_dim, defaults.image_size, defaults.channels) == (100, 64, 3)
    ref_g, ref_d = ExamplesGenerator(100, 64, 3), ExamplesDiscriminator(64, 3)
    shapes = {k: v.shape for k, v in defaults.generator.main.state_dict().items()}
    assert shapes == {k: v.shape for k, v in ref_g.main.state_dict().items()}
    shapes = {k: v.shape for k, v in defaults.discriminator.main.state_dict().items()}
    assert shapes == {k: v.shape for k, v in ref_d.main.state_dict().items()}

    # same weights, same outputs (a narrow copy keeps this fast)
    model = DCGAN(latent_dim=100, image_size=64, channels=3, width=4).eval()
    ref_g, ref_d = ExamplesGenerator(100, 4, 3).eval(), ExamplesDiscriminator(4, 3).eval()
    ref_g.main.load_state_dict(model.generator.main.state_dict(), strict=True)
    ref_d.main.load_state_dict(model.discriminator.main.state_dict(), strict=True)
    z = model.sample_latent(2, seed=0)
    images = model.generate(z)
    assert torch.allclose(images, ref_g(z[:, :, None, None]), atol=1e-6)
    assert torch.allclose(torch.sigmoid(model.discriminate(images)), ref_d(images), atol=1e-6)


def test_dcgan28_is_the_course_architecture():
    """GAN course week 2 Generator(z_dim, im_chan, hidden_dim=64) / Discriminator(im_chan, hidden_dim=16)."""

    def gen_block(c_in, c_out, k=3, s=2, final=False):
        if final:
            return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, k, s), nn.Tanh())
        return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, k, s), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))

    def disc_block(c_in, c_out, final=False):
        if final:
            return nn.Sequential(nn.Conv2d(c_in, c_out, 4, 2))
        return nn.Sequential(nn.Conv2d(c_in, c_out, 4, 2), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, inplace=True))

    z_dim, h, d = 10, 8, 4
    gen = nn.Sequential(
        gen_block(z_dim, h * 4), gen_block(h * 4, h * 2, k=4, s=1), gen_block(h * 2, h),
        gen_block(h, 1, k=4, final=True),
    ).eval()  # fmt: skip
    disc = nn.Sequential(disc_block(1, d), disc_block(d, d * 2), disc_block(d * 2, 1, final=True)).eval()
    model = DCGAN(latent_dim=z_dim, image_size=28, channels=1, width=h, disc_width=d).eval()
    gen.load_state_dict(model.generator.main.state_dict(), strict=True)
    disc.load_state_dict(model.discriminator.main.state_dict(), strict=True)
    z = model.sample_latent(2, seed=0)
    images = model.generate(z)
    assert torch.allclose(images, gen(z[:, :, None, None]), atol=1e-6)
    assert torch.allclose(model.discriminate(images), disc(images).view(-1), atol=1e-6)
    assert DCGAN(image_size=28, channels=1).discriminator.main[0][0].out_channels == 16  # course default


def test_mlp_is_the_course_architecture():
    model = MLPGAN(latent_dim=10, image_size=28, channels=1, hidden_dim=4)
    keys = {k: tuple(v.shape) for k, v in model.generator.main.state_dict().items()}
    assert keys["0.0.weight"] == (4, 10) and keys["3.0.weight"] == (32, 16) and keys["4.weight"] == (784, 32)
    keys = {k: tuple(v.shape) for k, v in model.discriminator.main.state_dict().items()}
    assert keys["0.0.weight"] == (16, 784) and keys["2.0.weight"] == (4, 8) and keys["3.weight"] == (1, 4)


# --- classifier ---------------------------------------------------------------------------------


def test_classifier_shapes_round_trip_and_errors(tmp_path):
    torch.manual_seed(0)
    model = DigitClassifier(num_classes=4, channels=1, image_size=12, width=4).eval()
    x = torch.rand(5, 1, 12, 12) * 2 - 1
    logits = model(x)
    assert logits.shape == (5, 4)
    assert model.embed(x).shape == (5, 16)
    predicted = model.predict(x)
    assert predicted.dtype == torch.long and predicted.shape == (5,)
    assert torch.equal(predicted, logits.argmax(1))
    with pytest.raises(ShapeError, match=r"classifier input: expected shape \('B', 1, 12, 12\), got \(5, 1, 28, 28\)"):
        model(torch.zeros(5, 1, 28, 28))
    model.save_pretrained(tmp_path)
    loaded = DigitClassifier.from_pretrained(tmp_path, strict=True)
    assert loaded.config == {"num_classes": 4, "channels": 1, "image_size": 12, "width": 4}
    assert torch.equal(loaded(x), logits)
    model.to(memory_format=torch.channels_last)
    assert torch.allclose(model(x.contiguous(memory_format=torch.channels_last)), logits, atol=1e-5)


def test_classifier_learns_a_toy_task():
    torch.manual_seed(0)
    model = DigitClassifier(num_classes=2, channels=1, image_size=8, width=4)
    x = torch.randn(32, 1, 8, 8) * 0.3
    y = torch.arange(32) % 2
    x[y == 1, :, :4] += 1.0  # class 1: bright top half
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(40):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    model.eval()
    assert (model.predict(x) == y).float().mean() == 1.0


def same_size_conv_shapes(model: DCGAN) -> list[tuple]:
    """(input, output) shapes (C, H, W) of the generator's 3x3 convolutions on one forward pass."""
    sizes = []
    for layer in model.generator.main:
        if type(layer) is torch.nn.Conv2d:
            layer.register_forward_hook(lambda m, i, o: sizes.append((i[0].shape[1:], o.shape[1:])))
    model.eval().generate(torch.randn(2, 8))
    return sizes


def test_extra_convs_deepen_each_doubling_but_the_last_at_the_same_size():
    """extra_convs=1 at 32 pixels: one 3x3 convolution at 8x8 and one at 16x16, none at 32x32."""
    model = DCGAN(latent_dim=8, image_size=32, channels=1, width=4, extra_convs=1)
    assert same_size_conv_shapes(model) == [((8, 8, 8), (8, 8, 8)), ((4, 16, 16), (4, 16, 16))]
    plain = DCGAN(latent_dim=8, image_size=32, channels=1, width=4)
    assert len(model.generator.main) == len(plain.generator.main) + 6
    with pytest.raises(ValueError, match="28-pixel"):
        DCGAN(latent_dim=8, image_size=28, channels=1, width=4, extra_convs=1)


def test_extra_conv_at_deepens_the_named_feature_map_sizes():
    """extra_conv_at=[4, 8] at 32 pixels: one 3x3 convolution on the first 4x4 map and one at 8x8,
    none at 16x16 (mnist-dcgan's recipe has [4]); the sizes are checked."""
    model = DCGAN(latent_dim=8, image_size=32, channels=1, width=4, extra_conv_at=[4, 8])
    assert same_size_conv_shapes(model) == [((16, 4, 4), (16, 4, 4)), ((8, 8, 8), (8, 8, 8))]
    plain = DCGAN(latent_dim=8, image_size=32, channels=1, width=4)
    assert len(model.generator.main) == len(plain.generator.main) + 6
    only_16 = DCGAN(latent_dim=8, image_size=32, channels=1, width=4, extra_conv_at=(16,))
    assert [m.in_channels for m in only_16.generator.main if type(m) is torch.nn.Conv2d] == [4]
    for bad in ([32], [2], [4, 4], ["4"], 4, [4.0]):
        with pytest.raises(ValueError, match="extra_conv_at must list distinct feature-map sizes"):
            DCGAN(latent_dim=8, image_size=32, channels=1, width=4, extra_conv_at=bad)
    with pytest.raises(ValueError, match="not both"):
        DCGAN(latent_dim=8, image_size=32, channels=1, width=4, extra_convs=1, extra_conv_at=[4])
    with pytest.raises(ValueError, match="28"):
        DCGAN(latent_dim=8, image_size=28, channels=1, width=4, extra_conv_at=[4])


def test_a_per_sample_discriminator_judges_each_image_alone():
    """disc_norm="layer": a sample's score does not depend on the rest of its batch (BatchNorm's does)."""
    x = torch.randn(6, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    for norm, alone in (("layer", True), ("batch", False)):
        model = DCGAN(latent_dim=8, image_size=32, channels=1, width=4, disc_norm=norm).train()
        with torch.no_grad():
            together, first_three = model.discriminate(x), model.discriminate(x[:3])
        assert torch.allclose(together[:3], first_three, atol=1e-5) is alone, norm

