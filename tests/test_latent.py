"""studio.explore.latent and studio.accel.generators: interpolation, paths, truncation."""

from __future__ import annotations

import math

import pytest
import torch

from studio.accel import generators
from studio.explore import latent


def unit(v):
    return v / v.norm(dim=-1, keepdim=True)


def test_lerp_endpoints_and_midpoint():
    a, b = torch.randn(5), torch.randn(5)
    assert torch.equal(latent.lerp(a, b, 0.0), a) and torch.equal(latent.lerp(a, b, 1.0), b)
    assert torch.allclose(latent.lerp(a, b, 0.5), (a + b) / 2)
    batch = latent.lerp(a, b, torch.tensor([0.0, 0.25, 1.0]))  # N weights -> N vectors
    assert batch.shape == (3, 5) and torch.equal(batch[0], a) and torch.equal(batch[2], b)


def test_slerp_endpoints_and_unit_norms():
    a, b = unit(torch.randn(16)), unit(torch.randn(16))
    t = torch.linspace(0, 1, 11)
    out = latent.slerp(a, b, t)  # (11, 16)
    assert torch.allclose(out[0], a, atol=1e-6) and torch.allclose(out[-1], b, atol=1e-6)
    assert torch.allclose(out.norm(dim=1), torch.ones(11), atol=1e-5)
    # Equal angular steps along the great circle.
    angles = torch.acos((out[:-1] * out[1:]).sum(1).clamp(-1, 1))
    assert torch.allclose(angles, angles.mean().expand(10), atol=1e-4)
    # The straight line cuts inside the sphere.
    assert latent.lerp(a, b, 0.5).norm() < 1 - 1e-3


def test_slerp_batched_and_degenerate_cases():
    a, b = unit(torch.randn(4, 8)), unit(torch.randn(4, 8))
    out = latent.slerp(a, b, 0.3)
    assert out.shape == (4, 8) and torch.allclose(out.norm(dim=1), torch.ones(4), atol=1e-5)
    for row in range(4):
        assert torch.allclose(out[row], latent.slerp(a[row], b[row], 0.3), atol=1e-6)
    parallel = latent.slerp(a[0], 2 * a[0], 0.5)  # sin(omega) = 0: falls back to lerp
    assert torch.allclose(parallel, 1.5 * a[0]) and torch.isfinite(parallel).all()
    zero = latent.slerp(torch.zeros(8), b[0], 0.5)
    assert torch.allclose(zero, b[0] / 2)


@pytest.mark.parametrize("method", ["lerp", "slerp"])
def test_path_passes_through_every_key_point(method):
    points = torch.randn(3, 10)
    frames = latent.path(points, 9, method)
    assert frames.shape == (9, 10)
    for frame, key in ((0, 0), (4, 1), (8, 2)):
        assert torch.allclose(frames[frame], points[key], atol=1e-6)
    uneven = latent.path(points, 8, method)  # 7 steps over 2 segments: keys still exact
    assert uneven.shape == (8, 10) and torch.allclose(uneven[-1], points[2], atol=1e-6)
    assert any(torch.allclose(row, points[1], atol=1e-6) for row in uneven)


def test_path_loop_and_validation():
    points = torch.randn(2, 4)
    looped = latent.path(points, 6, "slerp", loop=True)
    assert looped.shape == (6, 4)
    assert torch.allclose(looped[0], points[0], atol=1e-6) and torch.allclose(looped[3], points[1], atol=1e-6)
    assert not torch.allclose(looped[-1], points[0])  # stops one step short: the loop repeats seamlessly
    with pytest.raises(ValueError, match="method"):
        latent.path(points, 6, "cubic")
    with pytest.raises(ValueError, match="K >= 2"):
        latent.path(points[:1], 6)
    with pytest.raises(ValueError, match="cannot pass through"):
        latent.path(torch.randn(5, 4), 3)


def test_slerp_path_keeps_gaussian_norms_better_than_lerp():
    points = torch.randn(2, 512, generator=torch.Generator().manual_seed(0))
    middle = {m: latent.path(points, 5, m)[2].norm().item() for m in ("lerp", "slerp")}
    assert middle["slerp"] > 0.95 * math.sqrt(512) > middle["lerp"]


def test_interpolate_labels():
    labels = latent.interpolate_labels([0, 2], num_classes=3, frames=5)
    assert labels.shape == (5, 3)
    assert torch.allclose(labels.sum(1), torch.ones(5))
    assert labels[0].tolist() == [1, 0, 0] and labels[-1].tolist() == [0, 0, 1]
    assert labels[2].tolist() == [0.5, 0, 0.5]
    with pytest.raises(ValueError, match="class"):
        latent.interpolate_labels([0, 3], num_classes=3, frames=4)


def test_truncated_normal_bounds_and_determinism():
    z = latent.truncated_normal(64, 32, 0.5, seed=7)
    assert z.shape == (64, 32) and z.dtype == torch.float32
    assert z.abs().max() <= 0.5
    assert z.std() > 0.2  # still spread over the interval, not collapsed
    assert torch.equal(z, latent.truncated_normal(64, 32, 0.5, seed=7))
    assert not torch.equal(z, latent.truncated_normal(64, 32, 0.5, seed=8))
    # Entries already inside the threshold are those of the plain draw with the same seed.
    plain = latent.truncated_normal(64, 32, None, seed=7)
    assert torch.equal(plain, torch.randn(64, 32, generator=torch.Generator().manual_seed(7)))
    inside = plain.abs() <= 0.5
    assert torch.equal(z[inside], plain[inside])
    assert torch.equal(latent.truncated_normal(4, 3, math.inf, seed=1), latent.truncated_normal(4, 3, None, seed=1))
    assert latent.truncated_normal(8, 8, 0.01, seed=0).abs().max() <= 0.01
    with pytest.raises(ValueError, match="positive"):
        latent.truncated_normal(2, 2, 0.0, seed=0)


def test_truncate_toward_mean():
    w, mean = torch.randn(3, 8), torch.randn(8)
    assert torch.allclose(latent.truncate_toward_mean(w, mean, 1.0), w)
    assert torch.allclose(latent.truncate_toward_mean(w, mean, 0.0), mean.expand(3, 8))
    half = latent.truncate_toward_mean(w, mean, 0.5)
    assert torch.allclose((half - mean).norm(dim=1), 0.5 * (w - mean).norm(dim=1))


# --- fast generation: exact rewrites of transposed convolutions ------------------------------------


@pytest.mark.parametrize("c_out", [1, 3, 4])
@pytest.mark.parametrize("bias", [False, True])
def test_subpixel_conv_equals_transposed_conv(c_out, bias):
    torch.manual_seed(c_out)
    conv = torch.nn.ConvTranspose2d(6, c_out, 4, 2, 1, bias=bias)
    x = torch.randn(2, 6, 5, 7)  # odd, non-square sizes
    with torch.no_grad():
        expected = conv(x)
        got = generators._SubPixelConvTranspose(conv)(x)
    assert got.shape == expected.shape == (2, c_out, 10, 14)
    assert torch.allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("kernel,stride", [(4, 1), (3, 2), (7, 1)])
def test_project_vector_equals_transposed_conv(kernel, stride):
    torch.manual_seed(kernel)
    conv = torch.nn.ConvTranspose2d(5, 8, kernel, stride, 0, bias=True)
    project = generators._ProjectVector(conv)
    x = torch.randn(3, 5, 1, 1)
    with torch.no_grad():
        assert torch.allclose(project(x), conv(x), atol=1e-6)
        wide = torch.randn(3, 5, 2, 2)  # not a vector: falls back to the convolution itself
        assert torch.equal(project(wide), conv(wide))


def test_generate_fast_draws_the_asked_class(tiny_checkpoints):
    from studio import checkpoints

    model = checkpoints.load(tiny_checkpoints["cgan"]).model.eval()  # structured: classes draw apart
    z = model.sample_latent(10, seed=3)
    labels = torch.arange(10)
    with torch.no_grad():
        expected = model.generate(z, labels)
        next_class = model.generate(z, (labels + 1) % 10)
    fast = generators.generate_fast(model, z, labels)
    assert torch.allclose(fast, expected, atol=1e-4)
    assert (fast - next_class).abs().mean() > 0.1  # the check can tell one class from the next


def test_generate_fast_matches_generate_and_reuses_its_copy():
    from studio.models import DCGAN

    torch.manual_seed(0)
    model = DCGAN(image_size=32, channels=1, latent_dim=8, width=8)
    model.train()
    with torch.no_grad():
        model.generate(model.sample_latent(8))  # BatchNorm statistics of its own
    model.eval()
    z = model.sample_latent(5, seed=1)
    with torch.no_grad():
        expected = model.generate(z)
    fast = generators.generate_fast(model, z)
    assert fast.shape == (5, 1, 32, 32) and torch.allclose(fast, expected, atol=1e-5)
    copy = generators._PREPARED[model].model
    generators.generate_fast(model, z)
    assert generators._PREPARED[model].model is copy  # unchanged weights: no rebuild
    kinds = {type(m) for m in copy.modules()}
    assert generators._ProjectVector in kinds and generators._SubPixelConvTranspose in kinds
    assert torch.nn.BatchNorm2d not in kinds  # folded into the convolutions
