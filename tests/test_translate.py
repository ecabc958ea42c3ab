"""studio.translate: any image into a translation model, samples, map accuracy, the fast path.

Tiny pix2pix / CycleGAN models (ngf 4); uploads are real files encoded with PIL in memory.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from studio import checkpoints, imaging, translate
from studio.data.maps import MAP_PALETTE, map_classes
from studio.errors import DataError
from studio.models import DCGAN, CycleGAN, Pix2Pix

PALETTE = np.array(list(MAP_PALETTE.values()), dtype=np.uint8)


def with_batchnorm_statistics(model: Pix2Pix, seed: int = 0) -> Pix2Pix:
    """Non-trivial running statistics, so that folding BatchNorm into the convs is really tested."""
    generator = torch.Generator().manual_seed(seed)
    for norm in model.modules():
        if isinstance(norm, nn.BatchNorm2d):
            norm.running_mean.copy_(torch.randn(norm.num_features, generator=generator) * 0.1)
            norm.running_var.copy_(torch.rand(norm.num_features, generator=generator) + 0.5)
            norm.bias.data.copy_(torch.randn(norm.num_features, generator=generator) * 0.1)
    return model


@pytest.fixture(scope="module")
def pix2pix() -> Pix2Pix:
    torch.manual_seed(0)
    return with_batchnorm_statistics(Pix2Pix(image_size=32, ngf=4, ndf=4)).eval()  # depth 5


@pytest.fixture(scope="module")
def cyclegan() -> CycleGAN:
    torch.manual_seed(1)
    return CycleGAN(image_size=32, ngf=4, ndf=4, n_blocks=2).eval()


def random_image(height: int, width: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, channels), dtype=np.uint8)


def encode(picture: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def plain_translation(generator: nn.Module, image: np.ndarray) -> np.ndarray:
    """What a plain script does: uint8 -> [-1, 1] NCHW -> eager generator under no_grad -> uint8."""
    x = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float() / 127.5 - 1
    with torch.no_grad():
        y = generator(x)
    return ((y[0].permute(1, 2, 0) + 1) * 127.5 + 0.5).clamp(0, 255).to(torch.uint8).numpy()


# ----------------------------------------------------------------------------- uploads of every mode


def upload_cases() -> dict[str, tuple[bytes, str]]:
    rgb = Image.fromarray(random_image(20, 30))
    rgba = Image.fromarray(random_image(20, 30, 4))
    gray = Image.fromarray(random_image(20, 30, 1)[..., 0])
    return {
        "RGB PNG": (encode(rgb, "PNG"), ""),
        "RGBA PNG": (encode(rgba, "PNG"), "alpha channel dropped (transparent areas made white)"),
        "grayscale PNG": (encode(gray, "PNG"), "converted from grayscale to RGB"),
        "16-bit PNG": (encode(Image.fromarray(np.full((20, 30), 40000, np.uint16)), "PNG"), "16-bit image scaled to 8-bit"),
        "CMYK JPEG": (encode(Image.new("CMYK", (30, 20), (0, 255, 255, 0)), "JPEG", quality=95), "converted from CMYK to RGB"),
        "CMYK TIFF": (encode(Image.new("CMYK", (30, 20), (0, 255, 255, 0)), "TIFF"), "converted from CMYK to RGB"),
        "palette GIF": (encode(rgb.convert("P"), "GIF"), "converted from a palette (P) image to RGB"),
        "1-bit BMP": (encode(gray.convert("1"), "BMP"), "converted from 1-bit black and white"),
    }


@pytest.mark.parametrize("case", list(upload_cases()))
@pytest.mark.parametrize("family", ["pix2pix", "cyclegan"])
def test_uploads_of_every_mode_are_converted_with_notes(case, family, pix2pix, cyclegan):
    model = pix2pix if family == "pix2pix" else cyclegan
    data, expected_note = upload_cases()[case]
    image, notes = translate.read_image(data, channels=translate.io_channels(model)[0])
    assert image.dtype == np.uint8 and image.shape == (20, 30, 3)
    if expected_note:
        assert any(note.startswith(expected_note) for note in notes), notes
    else:
        assert notes == []
    output, size_notes = translate.translate_image(model, image)
    assert output.dtype == np.uint8
    if family == "pix2pix":  # the U-Net takes multiples of 32 here: resized to its training size
        assert output.shape == (32, 32, 3)
        assert size_notes == ["resized from 30x20 to 32x32 (the U-Net takes sides that are multiples of 32 pixels; "
                              "it was trained at 32)"]
    else:  # the ResNet keeps the size: padded to multiples of 4, cropped back
        assert output.shape == (20, 30, 3)
        assert size_notes == ["padded from 30x20 to 32x20 (the ResNet generator takes multiples of 4 pixels); "
                              "the output is cropped back to 30x20"]


def test_cmyk_colours_survive_the_conversion():
    image, _ = translate.read_image(upload_cases()["CMYK TIFF"][0])
    assert image[..., 0].min() > 200 and image[..., 1].max() < 60  # pure red


def test_arrays_of_every_kind(pix2pix, cyclegan):
    gray = random_image(32, 32, 1)
    output, notes = translate.translate_image(pix2pix, gray[..., 0])  # (H, W) without a channel axis
    assert output.shape == (32, 32, 3) and notes == ["converted from grayscale to RGB"]
    wide = (random_image(32, 64).astype(np.uint16) * 257)  # 16-bit RGB, a size the U-Net takes as is
    output, notes = translate.translate_image(pix2pix, wide)
    assert output.shape == (32, 64, 3) and notes == ["16-bit image scaled to 8-bit"]
    assert np.array_equal(output, translate.translate_image(pix2pix, random_image(32, 64))[0])
    gray_alpha = np.dstack([gray, np.zeros_like(gray)])  # fully transparent: white
    output, notes = translate.translate_image(cyclegan, gray_alpha)
    assert notes == ["alpha channel dropped (transparent areas made white)", "converted from grayscale to RGB"]
    white, _ = translate.translate_image(cyclegan, np.full((32, 32, 3), 255, np.uint8))
    assert np.array_equal(output, white)
    mask = np.zeros((32, 32), dtype=bool)
    assert translate.translate_image(cyclegan, mask)[1][0] == "converted from 1-bit black and white to 8-bit grayscale"


def test_one_channel_models_get_grayscale():
    model = Pix2Pix(in_channels=1, out_channels=3, image_size=32, ngf=4, ndf=4).eval()
    output, notes = translate.translate_image(model, random_image(32, 32))
    assert output.shape == (32, 32, 3) and notes == ["converted from RGB to grayscale"]
    expected = np.asarray(Image.fromarray(random_image(32, 32)).convert("L"))[..., None]
    assert np.array_equal(output, plain_translation(model.generator, expected))


def test_odd_sizes(pix2pix, cyclegan):
    output, notes = translate.translate_image(pix2pix, random_image(200, 300))
    assert output.shape == (32, 32, 3) and notes[0].startswith("resized from 300x200 to 32x32")
    output, notes = translate.translate_image(pix2pix, random_image(1, 1))
    assert output.shape == (32, 32, 3) and notes[0].startswith("resized from 1x1 to 32x32")
    # far from the training size: the longer side goes to 32, the aspect ratio stays, then padding
    output, notes = translate.translate_image(cyclegan, random_image(200, 300))
    assert output.shape == (21, 32, 3)
    assert notes == ["resized from 300x200 to 32x21 (longer side 32, the size the model was trained at)",
                     "padded from 32x21 to 32x24 (the ResNet generator takes multiples of 4 pixels); "
                     "the output is cropped back to 32x21"]
    output, notes = translate.translate_image(cyclegan, random_image(33, 47))  # near the training size: kept
    assert output.shape == (33, 47, 3) and len(notes) == 1 and notes[0].startswith("padded from 47x33 to 48x36")
    output, notes = translate.translate_image(cyclegan, random_image(7, 5))  # far too small: enlarged
    assert output.shape == (32, 23, 3) and notes[0].startswith("resized from 5x7 to 23x32")
    # a thin strip: scaled to 32x1, then padded to the 8 rows the residual blocks' reflection needs
    output, notes = translate.translate_image(cyclegan, random_image(2, 300))
    assert output.shape == (1, 32, 3)
    assert notes[1].startswith("padded from 32x1 to 32x8 (the ResNet generator takes multiples of 4 pixels, at least 8)")
    with pytest.raises(ValueError, match="at least 8"):
        translate.translate_tensor(cyclegan, torch.zeros(1, 3, 4, 32))
    # the padding is cropped off and does not change the pixels that were there
    image = random_image(28, 32)
    padded_run, _ = translate.translate_image(cyclegan, image)
    assert padded_run.shape == (28, 32, 3)
    assert np.array_equal(translate.translate_image(cyclegan, image[:28, :32])[0], padded_run)


def test_non_images_are_refused(pix2pix):
    with pytest.raises(DataError, match="is not an image"):
        translate.read_image(b"just some text, not pixels", name="notes.png")
    with pytest.raises(DataError, match="damaged or truncated"):
        translate.read_image(encode(Image.fromarray(random_image(20, 20)), "PNG")[:60])
    with pytest.raises(DataError, match="over"):
        translate.read_image(encode(Image.fromarray(random_image(20, 20)), "PNG"), max_bytes=100)
    for bad in (np.zeros(10, np.uint8), np.zeros((4, 4, 5), np.uint8), np.zeros((0, 4, 3), np.uint8)):
        with pytest.raises(DataError, match="not an image"):
            translate.translate_image(pix2pix, bad)
    with pytest.raises(DataError, match="uint8 or uint16 pixels, got dtype float64"):
        translate.translate_image(pix2pix, np.zeros((32, 32, 3)))
    with pytest.raises(DataError, match="numpy array"):
        translate.translate_image(pix2pix, b"bytes")


# ----------------------------------------------------------------------------- directions and models


def test_each_direction_takes_its_own_domains_channels():
    """Gray A <-> RGB B: a2b takes 1 channel and gives 3, b2a takes 3 and gives 1."""
    torch.manual_seed(2)
    model = CycleGAN(in_channels=1, out_channels=3, image_size=32, ngf=4, ndf=4, n_blocks=2).eval()
    assert translate.io_channels(model, "a2b") == (1, 3) and translate.io_channels(model, "b2a") == (3, 1)
    rgb = random_image(32, 32, channels=3)
    fitted, _, notes = translate.fit_to_model(model, rgb, "b2a")
    assert fitted.shape == (32, 32, 3) and np.array_equal(fitted, rgb) and not notes  # already B's channels
    fitted, _, notes = translate.fit_to_model(model, rgb, "a2b")
    assert fitted.shape == (32, 32, 1) and notes  # converted to gray, with a note
    assert translate.translate_image(model, rgb, "b2a")[0].shape == (32, 32, 1)
    assert translate.translate_image(model, rgb, "a2b")[0].shape == (32, 32, 3)


def test_directions_and_problems(pix2pix, cyclegan, tmp_path):
    assert translate.directions(pix2pix, {}) == ["a2b"]
    assert translate.directions(cyclegan, {}) == ["a2b", "b2a"]
    with pytest.raises(ValueError, match="one way only"):
        translate.translate_image(pix2pix, random_image(32, 32), "b2a")
    with pytest.raises(ValueError, match="direction must be one of"):
        translate.translate_image(cyclegan, random_image(32, 32), "sideways")
    # the two directions use the two generators
    image = random_image(32, 32)
    a2b, b2a = (translate.translate_image(cyclegan, image, d)[0] for d in ("a2b", "b2a"))
    assert np.array_equal(a2b, plain_translation(cyclegan.generator_ab, image))
    assert np.array_equal(b2a, plain_translation(cyclegan.generator_ba, image))

    # A reference CycleGAN generator file holds A -> B only: the loader's description says so
    path = tmp_path / "latest_net_G.pth"
    torch.save(cyclegan.generator_ab.state_dict(), path)
    imported = checkpoints.load(path, device="cpu")
    assert imported.model.family == "cyclegan"
    assert translate.directions(imported.model, imported.meta) == ["a2b"]

    assert translate.translation_problem(pix2pix) is None and translate.translation_problem(cyclegan) is None
    assert translate.translation_problem(None) == "No model is loaded."
    assert "does not translate images" in translate.translation_problem(DCGAN(latent_dim=8, image_size=28, width=4))
    assert translate.directions(DCGAN(latent_dim=8, image_size=28, width=4)) == []


def test_domains_and_labels():
    assert translate.direction_label("a2b", {"dataset": "maps"}) == "satellite photo → map"
    assert translate.direction_label("b2a", {"recipe": "horse2zebra-cyclegan"}) == "zebra → horse"
    assert translate.direction_label("b2a", {}) == "B → A"
    assert translate.direction_label("a2b", {"domains": ["day", "night"], "dataset": "maps"}) == "day → night"


# ----------------------------------------------------------------------------- samples and accuracy


def test_map_samples_are_paired_held_out_tiles():
    samples = translate.sample_inputs({"family": "pix2pix", "dataset": "maps", "image_size": 64}, count=3)
    assert [s.name for s in samples] == ["satellite tile 1", "satellite tile 2", "satellite tile 3"]
    for sample in samples:
        assert sample.image.shape == sample.truth.shape == (64, 64, 3)
        colours = {tuple(c) for c in sample.truth.reshape(-1, 3)}
        assert colours <= {tuple(c) for c in PALETTE}  # a map tile, all palette colours
        assert not np.array_equal(sample.image, sample.truth)
    reverse = translate.sample_inputs({"family": "pix2pix", "dataset": "maps", "image_size": 64}, "b2a", count=3)
    assert np.array_equal(reverse[0].image, samples[0].truth) and np.array_equal(reverse[0].truth, samples[0].image)
    # a tiny model's tiles are shrunk; the maps keep their flat colours
    tiny = translate.sample_inputs({"family": "pix2pix", "image_size": 32, "channels": 1}, count=1)[0]
    assert tiny.image.shape == (32, 32, 1) and tiny.truth.shape == (32, 32, 3)
    assert {tuple(c) for c in tiny.truth.reshape(-1, 3)} <= {tuple(c) for c in PALETTE}


def test_horse_and_zebra_samples():
    meta = {"family": "cyclegan", "dataset": "horse2zebra", "image_size": 32, "channels": 3}
    horses, zebras = translate.sample_inputs(meta, "a2b"), translate.sample_inputs(meta, "b2a")
    assert [s.name for s in horses] == ["horse 1", "horse 2", "horse 3", "horse 4"]
    assert [s.name for s in zebras][0] == "zebra 1"
    assert all(s.truth is None and s.image.shape == (32, 32, 3) for s in horses + zebras)
    assert not np.array_equal(horses[0].image, zebras[0].image)
    assert translate.sample_inputs({"family": "cyclegan", "image_size": 28, "channels": 1})[0].image.shape == (28, 28, 1)
    horses[0].image[:] = 0  # callers get copies: the cache stays intact
    assert translate.sample_inputs(meta, "a2b")[0].image.any()


def test_per_pixel_map_accuracy():
    truth = translate.sample_inputs({"family": "pix2pix", "dataset": "maps", "image_size": 64}, count=1)[0].truth
    assert translate.per_pixel_map_accuracy(truth, truth) == 1.0
    classes = map_classes(truth)
    predicted = truth.copy()
    predicted[:16] = PALETTE[(classes[:16] + 1) % len(PALETTE)]  # a quarter of the rows, all wrong
    assert translate.per_pixel_map_accuracy(predicted, truth) == pytest.approx(0.75)
    # near-palette colours (what a generator draws) count as their nearest class
    noisy = np.clip(truth.astype(int) + np.random.default_rng(0).integers(-4, 5, truth.shape), 0, 255).astype(np.uint8)
    assert translate.per_pixel_map_accuracy(noisy, truth) > 0.95
    with pytest.raises(ValueError, match="differ in size"):
        translate.per_pixel_map_accuracy(truth[:32], truth)


# ----------------------------------------------------------------------------- the fast path


def test_fast_path_matches_the_reference_and_leaves_the_model_alone(pix2pix, cyclegan):
    x = torch.rand(2, 3, 32, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    before = {k: v.clone() for k, v in pix2pix.state_dict().items()}
    with torch.no_grad():
        expected = pix2pix.translate(x)
    fast = translate.translate_tensor(pix2pix, x)
    assert fast.shape == expected.shape and (fast - expected).abs().max() < 1e-5
    assert all(torch.equal(before[k], v) for k, v in pix2pix.state_dict().items())
    assert any(isinstance(m, nn.BatchNorm2d) for m in pix2pix.modules()) and not pix2pix.training
    for direction in ("a2b", "b2a"):
        with torch.no_grad():
            expected = cyclegan.translate(x, direction)
        assert (translate.translate_tensor(cyclegan, x, direction) - expected).abs().max() < 1e-5
    # uint8 in, uint8 out: the same pixels as the plain path (one level where rounding flips)
    image = random_image(32, 32)
    difference = translate.translate_image(pix2pix, image)[0].astype(int) - plain_translation(pix2pix.generator, image)
    assert np.abs(difference).max() <= 1
    with pytest.raises(ValueError, match="multiples of 32"):
        translate.translate_tensor(pix2pix, x[:, :, :16])


def test_fast_path_follows_weight_updates():
    torch.manual_seed(2)
    model = with_batchnorm_statistics(Pix2Pix(image_size=32, ngf=4, ndf=4)).eval()
    image = random_image(32, 32)
    first, _ = translate.translate_image(model, image)
    with torch.no_grad():
        model.generator.model.model[0].weight.mul_(-1.0)  # the outermost down conv
    second, _ = translate.translate_image(model, image)
    assert not np.array_equal(first, second)
    assert np.abs(second.astype(int) - plain_translation(model.generator, image)).max() <= 1


def test_compile_failure_falls_back_to_eager(monkeypatch, cyclegan):
    def broken_compile(module, **options):
        def compiled(*args):
            raise RuntimeError("no C++ compiler")

        return compiled

    model = CycleGAN(image_size=32, ngf=4, ndf=4, n_blocks=1).eval()
    monkeypatch.setattr(torch, "compile", broken_compile)
    image = random_image(32, 32)
    eager, _ = translate.translate_image(model, image)
    with pytest.warns(RuntimeWarning, match="no C\\+\\+ compiler"):
        fallback, _ = translate.translate_image(model, image, compile=True)
    assert np.array_equal(fallback, eager)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the failure is remembered: no second warning
        assert np.array_equal(translate.translate_image(model, image, compile=True)[0], eager)


def test_outputs_round_like_the_imaging_helpers(cyclegan):
    image = random_image(32, 32)
    x = imaging.from_uint8(image)
    expected = imaging.to_uint8(translate.translate_tensor(cyclegan, x))[0]
    assert np.array_equal(translate.translate_image(cyclegan, image)[0], expected)


@pytest.mark.parametrize("options", [{"norm": "instance"}, {"norm": "instance", "generator_arch": "community_unet",
                                                            "image_size": 256, "ngf": 2},
                                     {"head": 4}, {"head": 4, "norm": "instance"}])
def test_fast_path_of_other_unet_layouts(options):
    torch.manual_seed(3)
    model = with_batchnorm_statistics(Pix2Pix(**{"image_size": 32, "ngf": 4, "ndf": 4, **options})).eval()
    x = torch.rand(1, 3, model.image_size, model.image_size, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        expected = model.translate(x)
    assert (translate.translate_tensor(model, x) - expected).abs().max() < 1e-5


def test_prepacking_failure_falls_back_to_plain_convolutions(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no such oneDNN kernel")

    torch.manual_seed(4)
    model = with_batchnorm_statistics(Pix2Pix(image_size=32, ngf=4, ndf=4)).eval()
    image = random_image(32, 32)
    monkeypatch.setattr(torch.ops.mkldnn, "_convolution_pointwise", broken)
    with pytest.warns(RuntimeWarning, match="no such oneDNN kernel"):
        output, _ = translate.translate_image(model, image)
    assert np.abs(output.astype(int) - plain_translation(model.generator, image)).max() <= 1
