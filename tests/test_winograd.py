"""studio.accel.winograd: F(2x2, 3x3) and F(4x4, 3x3), NCHW and NHWC, against torch's direct convolution,
and the prepared (NHWC, Winograd) ResNet generator of studio.translate against the eager model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from studio import translate

from studio.accel import translators, winograd
from studio.models import CycleGAN


def conv_case(batch: int, c_in: int, c_out: int, height: int, width: int, seed: int = 0):
    """Input (B, Cin, H, W), weights scaled like PyTorch's init, bias."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, c_in, height, width, generator=generator)
    weight = torch.randn(c_out, c_in, 3, 3, generator=generator) / (9 * c_in) ** 0.5
    bias = torch.randn(c_out, generator=generator)
    return x, weight, bias


# F(2x2, 3x3) only adds, subtracts and halves; F(4x4, 3x3)'s coefficients (up to 8, 1/24) lose a
# little more float32 precision
TOLERANCE = {2: 1e-5, 4: 5e-5}
LAYOUTS = {"nchw": torch.contiguous_format, "nhwc": torch.channels_last}


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("batch, c_in, c_out, height, width", [
    (1, 4, 8, 6, 6),     # 4x4 output: two F(2x2) tiles each way, one F(4x4) tile
    (2, 8, 4, 7, 9),     # odd output sides (5x7): padded to whole tiles, then cropped
    (3, 4, 4, 10, 5),    # even by odd, batch 3
    (1, 4, 8, 3, 3),     # one output pixel
    (2, 8, 8, 34, 18),   # more tiles
])
def test_matches_conv2d(m, layout, batch, c_in, c_out, height, width):
    algorithm = winograd.ALGORITHMS[m]
    x, weight, bias = conv_case(batch, c_in, c_out, height, width)
    x = x.contiguous(memory_format=LAYOUTS[layout])
    u = winograd.transform_filters(weight, algorithm)
    assert u.shape == ((m + 2) ** 2, c_out, c_in) and u.dtype == torch.float32
    expected = nn.functional.conv2d(x, weight, bias)
    got = winograd.winograd_conv3x3(x, u, bias, algorithm)
    torch.testing.assert_close(got, expected, atol=TOLERANCE[m], rtol=TOLERANCE[m])
    torch.testing.assert_close(winograd.winograd_conv3x3(x, u, None, algorithm), nn.functional.conv2d(x, weight),
                               atol=TOLERANCE[m], rtol=TOLERANCE[m])
    assert got.is_contiguous(memory_format=LAYOUTS[layout])  # the output keeps the input's layout
    with pytest.raises(ValueError, match="tile positions"):
        winograd.winograd_conv3x3(x, u, bias, winograd.ALGORITHMS[6 - m])


@pytest.mark.parametrize("layout", LAYOUTS)
def test_resnet_sized_convolution_stays_within_float32_noise(layout):
    """The case that matters (resnet_9blocks: 256 channels at 64x64), against a float64 convolution."""
    x, weight, bias = conv_case(1, 256, 256, 66, 66, seed=1)
    expected = nn.functional.conv2d(x.double(), weight.double(), bias.double())
    direct = (nn.functional.conv2d(x, weight, bias) - expected).abs().max().item()
    u = winograd.transform_filters(weight, winograd.F4)
    got = winograd.winograd_conv3x3(x.contiguous(memory_format=LAYOUTS[layout]), u, bias, winograd.F4)
    error = (got - expected).abs().max().item()
    assert error < 1e-4 and error < 100 * direct, (error, direct)  # outputs are of order 1


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("batch, c_in, c_out, height, width", [
    (1, 4, 8, 6, 6), (2, 8, 4, 7, 9), (3, 4, 4, 10, 5), (1, 4, 8, 3, 3), (2, 8, 8, 34, 18),
])
def test_onednn_products_match_conv2d(m, batch, c_in, c_out, height, width):
    """The tiles-first layout with oneDNN's grouped convolution for the r^2 products (NHWC only)."""
    algorithm = winograd.ALGORITHMS[m]
    x, weight, bias = conv_case(batch, c_in, c_out, height, width, seed=6)
    x = x.contiguous(memory_format=torch.channels_last)
    u = winograd.transform_filters(weight, algorithm)
    product = winograd.OneDNNProduct(u)
    got = winograd.winograd_conv3x3(x, u, bias, algorithm, product)
    torch.testing.assert_close(got, nn.functional.conv2d(x, weight, bias), atol=TOLERANCE[m], rtol=TOLERANCE[m])
    assert got.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(winograd.winograd_conv3x3(x, u, None, algorithm, product),
                               nn.functional.conv2d(x, weight), atol=TOLERANCE[m], rtol=TOLERANCE[m])
    with pytest.raises(ValueError, match="channels_last"):
        winograd.winograd_conv3x3(x.contiguous(), u, bias, algorithm, product)


def test_onednn_products_on_resnet_sized_convolution_and_in_bands(monkeypatch):
    x, weight, bias = conv_case(1, 256, 256, 66, 66, seed=1)
    expected = nn.functional.conv2d(x.double(), weight.double(), bias.double())
    direct = (nn.functional.conv2d(x, weight, bias) - expected).abs().max().item()
    conv = nn.Conv2d(256, 256, 3)
    with torch.no_grad():
        conv.weight.copy_(weight), conv.bias.copy_(bias)
    fast = winograd.WinogradConv2d(conv, onednn=True)
    assert "oneDNN" in repr(fast)
    x = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        got = fast(x)
        error = (got - expected).abs().max().item()
        assert error < 1e-4 and error < 100 * direct, (error, direct)
        monkeypatch.setattr(winograd, "BAND_BYTES", 1)  # one tile row at a time: another packed shape
        torch.testing.assert_close(fast(x), got, atol=1e-5, rtol=0)
        torch.testing.assert_close(fast(x.contiguous()), got, atol=1e-4, rtol=0)  # NCHW: the bmm products


@pytest.mark.parametrize("layout", LAYOUTS)
def test_bands_of_tile_rows_give_the_same_result(monkeypatch, layout):
    x, weight, bias = conv_case(2, 4, 8, 15, 12)  # 13x10 output: 4 F(4x4) tile rows, the last one cropped
    x = x.contiguous(memory_format=LAYOUTS[layout])
    u = winograd.transform_filters(weight)
    whole = winograd.winograd_conv3x3(x, u, bias)
    monkeypatch.setattr(winograd, "BAND_BYTES", 1)  # one tile row at a time
    banded = winograd.winograd_conv3x3(x, u, bias)
    torch.testing.assert_close(banded, whole, atol=1e-5, rtol=0)  # the matmuls may sum in another order
    torch.testing.assert_close(banded, nn.functional.conv2d(x, weight, bias), atol=5e-5, rtol=5e-5)


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
        torch.testing.assert_close(model(x), expected, atol=5e-5, rtol=5e-5)
        assert "F(4x4, 3x3)" in repr(model)  # the default
        # another dtype runs the plain convolution
        torch.testing.assert_close(model.double()(x.double()), expected.double(), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="3x3"):
        winograd.WinogradConv2d(nn.Conv2d(4, 4, 3, padding=1))
    with pytest.raises(ValueError, match="tiles of side"):
        winograd.WinogradConv2d(nn.Conv2d(4, 4, 3), m=3)


def test_prepared_resnet_generator_matches_the_eager_model(monkeypatch):
    monkeypatch.setattr(translators, "WINOGRAD_MIN_CHANNELS", 1)  # the tiny model's 16-channel blocks too
    torch.manual_seed(2)
    model = CycleGAN(image_size=32, ngf=4, ndf=4, n_blocks=2).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.rand(2, 3, 32, 28) * 2 - 1
    with torch.no_grad():
        expected = model.generator_ab(x)
    got = translate.translate_tensor(model, x)
    entry = translators._prepared(model, "a2b")
    kinds = [type(m) for m in entry.nhwc.modules()]
    assert kinds.count(winograd.WinogradConv2d) == 4  # 2 residual blocks x 2 convs
    assert kinds.count(translators._InstanceNormNHWC) == 1 + 2 + 2 * 2 + 2  # stem, down, blocks, up
    assert kinds.count(translators._ReflectionPadNHWC) == 1 + 2 * 2 + 1
    assert winograd.WinogradConv2d not in [type(m) for m in model.modules()]  # the caller's model is untouched
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert got.shape == expected.shape
    assert (got - expected).abs().max().item() < 1e-4
    for path in ("nhwc-winograd", "nhwc-winograd-onednn"):
        nhwc = translators.translate_fast(model, x, "a2b", path=path)
        assert nhwc.is_contiguous(memory_format=torch.channels_last)  # NHWC from end to end
        assert (nhwc - expected).abs().max().item() < 1e-4, path
    kinds = [type(m) for m in entry.nhwc_onednn.modules()]
    assert kinds.count(winograd.WinogradConv2d) == 4 and kinds.count(translators._PackedConv) == 1 + 2 + 2 + 1 + 4  # stem, down, up, out; the Winograd convs' fallbacks
    shared = [m.u for m in entry.nhwc.modules() if isinstance(m, winograd.WinogradConv2d)]
    assert all(any(m.u is u for u in shared) for m in entry.nhwc_onednn.modules()
               if isinstance(m, winograd.WinogradConv2d))  # the transformed filters are not duplicated

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
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    got = translate.translate_tensor(model, x)
    assert winograd.WinogradConv2d not in [type(m) for m in translators._prepared(model, "a2b").nhwc.modules()]
    with torch.no_grad():
        torch.testing.assert_close(got, model.generator_ab(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("affine, running", [(False, False), (True, False), (True, True)])
def test_nhwc_instance_norm_matches_and_keeps_the_layout(batch, affine, running):
    torch.manual_seed(4)
    norm = nn.InstanceNorm2d(6, affine=affine, track_running_stats=running)
    if affine:
        nn.init.normal_(norm.weight), nn.init.normal_(norm.bias)
    if running:
        norm.running_mean.normal_(), norm.running_var.uniform_(0.5, 2)
    norm.eval()
    x = torch.randn(batch, 6, 9, 7) * 3 + 1
    nhwc = translators._InstanceNormNHWC(norm)
    with torch.no_grad():
        expected = norm(x)
        got = nhwc(x.contiguous(memory_format=torch.channels_last))
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
        assert got.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(nhwc(x), expected)  # NCHW input: the plain op
    if running:
        assert norm.running_mean.abs().sum() > 0  # untouched by the NHWC path (no statistics update)


@pytest.mark.parametrize("padding", [1, 3, (1, 2, 3, 0), (0, 0, 2, 1)])
def test_nhwc_reflection_pad_is_exact_and_keeps_the_layout(padding):
    pad = nn.ReflectionPad2d(padding)
    x = torch.randn(2, 5, 7, 6)
    got = translators._ReflectionPadNHWC(pad)(x.contiguous(memory_format=torch.channels_last))
    assert torch.equal(got, pad(x))
    assert got.is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(RuntimeError):  # wider than the image: torch's own error
        translators._ReflectionPadNHWC(nn.ReflectionPad2d(7))(x.contiguous(memory_format=torch.channels_last))


class FakeClock:
    """A clock that each candidate path moves forward by its own cost: timing without waiting."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_fastest_path_is_chosen_once_and_remembered(monkeypatch):
    clock = FakeClock()
    costs = {"nhwc-winograd": 3.0, "nhwc-winograd-onednn": 4.0, "nhwc": 2.0, "eager": 1.0}  # as on some AVX2 machines
    calls = {name: 0 for name in costs}
    real = translators._candidates

    def timed(entry, x):
        def wrap(name, run):
            def path(t):
                calls[name] += 1
                clock.now += costs[name]
                return run(t)
            return path
        return {name: wrap(name, run) for name, run in real(entry, x).items()}

    real_fastest = translators._fastest
    monkeypatch.setattr(translators, "_candidates", timed)
    monkeypatch.setattr(translators, "_fastest", lambda paths, x: real_fastest(paths, x, clock=clock))
    monkeypatch.setattr(translators, "_CHOSEN", {})
    torch.manual_seed(5)
    model = CycleGAN(image_size=32, ngf=4, ndf=4, n_blocks=2).eval()
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        expected = model.generator_ab(x)
    first = translate.translate_tensor(model, x)
    assert (first - expected).abs().max().item() < 1e-4
    assert list(translators.chosen_paths().values()) == ["eager"]
    assert calls == {name: 1 + translators.TIMED_RUNS for name in costs}  # timed once each, taking turns
    translate.translate_tensor(model, x)
    translate.translate_tensor(CycleGAN(image_size=32, ngf=4, ndf=4, n_blocks=2).eval(), x)  # same kind: remembered
    assert calls["eager"] == 3 + translators.TIMED_RUNS and calls["nhwc"] == 1 + translators.TIMED_RUNS
    costs["eager"] = 5.0  # another input shape is timed afresh
    translate.translate_tensor(model, torch.rand(1, 3, 32, 64) * 2 - 1)
    assert sorted(translators.chosen_paths().values()) == ["eager", "nhwc"]
