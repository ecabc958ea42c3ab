"""studio.winograd: F(2x2, 3x3) against torch's direct convolution, and inside the prepared ResNet generator."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from studio import translate, winograd
from studio.models import CycleGAN


def conv_case(batch: int, c_in: int, c_out: int, height: int, width: int, seed: int = 0):
    """Input (B, Cin, H, W), weights scaled like PyTorch's init, bias."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, c_in, height, width, generator=generator)
    weight = torch.randn(c_out, c_in, 3, 3, generator=generator) / (9 * c_in) ** 0.5
    bias = torch.randn(c_out, generator=generator)
    return x, weight, bias


@pytest.mark.parametrize("batch, c_in, c_out, height, width", [
    (1, 4, 8, 6, 6),     # even output sides: 4x4, two tiles each way
    (2, 8, 4, 7, 9),     # odd output sides (5x7): padded to even, then cropped
    (3, 4, 4, 10, 5),    # even by odd, batch 3
    (1, 4, 8, 3, 3),     # one output pixel
    (2, 8, 8, 34, 18),   # more tiles
])
def test_matches_conv2d(batch, c_in, c_out, height, width):
    x, weight, bias = conv_case(batch, c_in, c_out, height, width)
    u = winograd.transform_filters(weight)
    assert u.shape == (16, c_out, c_in) and u.dtype == torch.float32
    expected = nn.functional.conv2d(x, weight, bias)
    torch.testing.assert_close(winograd.winograd_conv3x3(x, u, bias), expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(winograd.winograd_conv3x3(x, u), nn.functional.conv2d(x, weight),
                               atol=1e-5, rtol=1e-5)


def test_bands_of_tile_rows_give_the_same_result(monkeypatch):
    x, weight, bias = conv_case(2, 4, 8, 13, 12)  # 11x10 output: 6 tile rows, the last one cropped
    u = winograd.transform_filters(weight)
    whole = winograd.winograd_conv3x3(x, u, bias)
    monkeypatch.setattr(winograd, "BAND_BYTES", 1)  # one tile row at a time
    banded = winograd.winograd_conv3x3(x, u, bias)
    torch.testing.assert_close(banded, whole, atol=2e-6, rtol=0)  # the matmuls may sum in another order
    torch.testing.assert_close(banded, nn.functional.conv2d(x, weight, bias), atol=1e-5, rtol=1e-5)


def test_module_replaces_only_what_it_computes():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.ReflectionPad2d(1), nn.Conv2d(8, 8, 3),  # replaced
        nn.Conv2d(8, 8, 3, padding=1),  # padded by the conv itself: kept
        nn.Conv2d(8, 8, 3, stride=2),  # strided: kept
        nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(8, 4, 3, bias=False)),  # nested, no bias: replaced
        nn.Conv2d(4, 4, 5),  # 5x5: kept
    ).eval()
    x = torch.randn(2, 8, 19, 20)
    with torch.no_grad():
        expected = model(x)
        assert winograd.use_winograd(model, min_channels=16) == 0  # too narrow for that threshold
        assert winograd.use_winograd(model) == 2
        assert [type(m) for m in model.modules()].count(winograd.WinogradConv2d) == 2
        torch.testing.assert_close(model(x), expected, atol=1e-5, rtol=1e-5)
        # another dtype runs the plain convolution
        torch.testing.assert_close(model.double()(x.double()), expected.double(), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="3x3"):
        winograd.WinogradConv2d(nn.Conv2d(4, 4, 3, padding=1))


def test_prepared_resnet_generator_matches_the_eager_model(monkeypatch):
    monkeypatch.setattr(translate, "WINOGRAD_MIN_CHANNELS", 1)  # the tiny model's 16-channel blocks too
    torch.manual_seed(2)
    model = CycleGAN(image_size=32, ngf=4, ndf=4, n_blocks=2).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.rand(2, 3, 32, 28) * 2 - 1
    with torch.no_grad():
        expected = model.generator_ab(x)
    got = translate.translate_tensor(model, x)
    entry = translate._prepared(model, "a2b")
    kinds = [type(m) for m in entry.winograd.modules()]
    assert kinds.count(winograd.WinogradConv2d) == 4  # 2 residual blocks x 2 convs
    assert winograd.WinogradConv2d not in [type(m) for m in model.modules()]  # the caller's model is untouched
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert got.shape == expected.shape
    assert (got - expected).abs().max().item() < 1e-5

    image = np.random.default_rng(0).integers(0, 256, (30, 26, 3), dtype=np.uint8)  # padded to 32x28 inside
    output, _ = translate.translate_image(model, image)
    plain = torch.from_numpy(np.pad(image, ((0, 2), (0, 2), (0, 0)), mode="edge")).permute(2, 0, 1)[None]
    with torch.no_grad():
        reference = model.generator_ab(plain.float() / 127.5 - 1)[:, :, :30, :26]
    reference = ((reference[0].permute(1, 2, 0) + 1) * 127.5 + 0.5).clamp(0, 255).to(torch.uint8).numpy()
    assert output.shape == (30, 26, 3)
    assert np.abs(output.astype(int) - reference.astype(int)).max() <= 1


def test_narrow_generators_keep_the_direct_convolution():
    torch.manual_seed(3)
    model = CycleGAN(image_size=32, ngf=4, ndf=4, n_blocks=2).eval()  # 16 channels < WINOGRAD_MIN_CHANNELS
    translate.translate_tensor(model, torch.zeros(1, 3, 32, 32))
    assert translate._prepared(model, "a2b").winograd is None
