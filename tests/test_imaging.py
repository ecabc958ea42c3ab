"""studio.imaging: conversions, grids, PNG/GIF/MP4 bytes, upload validation, the fast render path."""

from __future__ import annotations

import io
import struct
import warnings

import imageio.v3 as iio
import numpy as np
import pytest
import torch
import torchvision.utils
from PIL import Image

from studio import imaging

from studio.accel import generators
from studio.errors import DataError
from studio.models import DCGAN, ConditionalGAN

RNG = np.random.default_rng(0)


def random_uint8(*shape):
    return RNG.integers(0, 256, shape, dtype=np.uint8)


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


# --- conversions and grids ---------------------------------------------------------------------


def test_to_uint8_values_and_shapes():
    images = torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0, 3.0]).reshape(1, 1, 2, 3)
    out = imaging.to_uint8(images)
    assert out.dtype == np.uint8 and out.shape == (1, 2, 3, 1)  # grayscale keeps its channel axis
    assert out[0, :, :, 0].ravel().tolist() == [0, 64, 128, 191, 255, 255]
    assert imaging.to_uint8(torch.zeros(2, 3, 4, 5)).shape == (2, 4, 5, 3)
    with pytest.raises(ValueError, match="B, C, H, W"):
        imaging.to_uint8(torch.zeros(3, 4, 5))


def test_to_uint8_matches_save_image_rounding():
    images = torch.rand(4, 3, 8, 8) * 2 - 1
    expected = images.add(1).div(2).mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
    assert np.array_equal(imaging.to_uint8(images), expected.numpy())
    channels_last = images.contiguous(memory_format=torch.channels_last)
    assert np.array_equal(imaging.to_uint8(channels_last), expected.numpy())


@pytest.mark.parametrize("shape", [(6, 5), (6, 5, 1), (6, 5, 3), (2, 6, 5, 3)])
def test_from_uint8_round_trip(shape):
    array = random_uint8(*shape)
    tensor = imaging.from_uint8(array)
    assert tensor.dim() == 4 and tensor.dtype == torch.float32
    assert tensor.min() >= -1 and tensor.max() <= 1
    back = imaging.to_uint8(tensor)
    assert np.array_equal(back.reshape(array.shape), array)


def test_grid_layout_matches_make_grid():
    images = torch.rand(5, 3, 6, 7) * 2 - 1
    ours = imaging.grid(images, nrow=3, padding=2)
    theirs = torchvision.utils.make_grid(images, nrow=3, padding=2, normalize=True, value_range=(-1, 1))
    theirs = theirs.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to(torch.uint8).numpy()
    assert ours.shape == theirs.shape == (2 * 8 + 2, 3 * 9 + 2, 3)
    assert np.array_equal(ours, theirs)


def test_grid_shapes_and_inputs():
    batch = random_uint8(16, 8, 8, 1)
    assert imaging.grid(batch, nrow=4).shape == (42, 42, 1)
    assert imaging.grid(batch).shape == (42, 42, 1)  # default: a square grid
    assert imaging.grid(batch, nrow=8, padding=0).shape == (16, 64, 1)
    assert imaging.grid(list(batch[:3, :, :, 0]), padding=1).shape == (19, 19, 1)
    five = imaging.grid(random_uint8(5, 4, 4, 3) | 1, padding=0)  # 3 x 2, one blank cell
    assert five.shape == (8, 12, 3) and not five[4:, 8:].any() and five[:4, :4].all()
    with pytest.raises(ValueError, match="uint8"):
        imaging.grid(np.zeros((2, 4, 4, 3), np.float32))


# --- PNG, GIF, MP4 ----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(9, 7), (9, 7, 1), (9, 7, 2), (9, 7, 3), (9, 7, 4)])
@pytest.mark.parametrize("level", [0, 1, 9])
def test_png_bytes_round_trip(shape, level):
    array = random_uint8(*shape)
    data = imaging.png_bytes(array, compress_level=level)
    assert data.startswith(imaging.PNG_SIGNATURE)
    picture = Image.open(io.BytesIO(data))
    picture.verify()  # checks every chunk's CRC
    assert np.array_equal(decode(data).reshape(array.shape), array)
    assert np.array_equal(iio.imread(data).reshape(array.shape), array)


def test_png_bytes_small_for_smooth_images_and_rejects_bad_input():
    ramp = np.tile(np.arange(256, dtype=np.uint8)[:, None], (1, 256))  # a vertical gradient
    smooth = np.stack([ramp, ramp, ramp], axis=-1)  # (256, 256, 3)
    smooth[100:150, 50:200] = (200, 30, 30)  # and a flat red box
    assert len(imaging.png_bytes(smooth)) < smooth.nbytes / 50
    with pytest.raises(ValueError):
        imaging.png_bytes(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError):
        imaging.png_bytes(np.zeros((4, 4, 5), np.uint8))


def test_gif_bytes_frames_and_timing():
    frames = np.stack([np.full((10, 12, 3), 20 * i, np.uint8) for i in range(6)])
    data = imaging.gif_bytes(frames, fps=10)
    picture = Image.open(io.BytesIO(data))
    assert picture.format == "GIF" and picture.n_frames == 6 and picture.size == (12, 10)
    assert picture.info["loop"] == 0 and picture.info["duration"] == 100
    assert "loop" not in Image.open(io.BytesIO(imaging.gif_bytes(frames, loop=None))).info
    gray = imaging.gif_bytes(torch.linspace(-1, 1, 4).reshape(4, 1, 1, 1).expand(4, 1, 5, 5))
    assert Image.open(io.BytesIO(gray)).n_frames == 4


def decoded_gif(data: bytes) -> np.ndarray:
    picture = Image.open(io.BytesIO(data))
    frames = []
    for index in range(picture.n_frames):
        picture.seek(index)
        frames.append(np.asarray(picture.convert("RGB")))
    return np.stack(frames)


def test_gif_scale_enlarges_each_frame_and_repeats_play_back():
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 200, 7)[None, :, None] + np.linspace(0, 50, 9)[:, None, None]
    frames = np.stack([np.clip(ramp + [20 * i, 5 * i, 40 - 8 * i] + rng.normal(0, 4, (9, 7, 3)), 0, 255)
                       for i in range(5)]).astype(np.uint8)  # distinct, textured frames
    there_and_back = np.concatenate([frames, frames[::-1]])
    plain = decoded_gif(imaging.gif_bytes(there_and_back, fps=6))
    scaled = decoded_gif(imaging.gif_bytes(there_and_back, fps=6, scale=4))
    assert plain.shape == (9, 9, 7, 3) and scaled.shape == (9, 36, 28, 3)  # PIL merges the identical middle pair
    np.testing.assert_array_equal(scaled, imaging.upscale(plain, 4))
    np.testing.assert_array_equal(plain[:5], plain[4:][::-1])
    assert np.abs(plain[:5].astype(int) - frames).mean() < 3  # 256 colours per frame: close to the frames
    with pytest.raises(ValueError):
        imaging.gif_bytes(frames, scale=0)


def test_mp4_bytes_readable_with_even_size():
    frames = np.stack([np.full((33, 31, 3), 30 * i, np.uint8) for i in range(5)])
    data = imaging.mp4_bytes(frames, fps=12)
    decoded = iio.imread(data, extension=".mp4")
    assert decoded.shape == (5, 34, 32, 3)  # padded to even sizes for yuv420p
    assert abs(int(decoded[4, 10, 10, 0]) - 120) <= 4  # content survives the lossy codec
    gray = iio.imread(imaging.mp4_bytes(random_uint8(3, 16, 16, 1)), extension=".mp4")
    assert gray.shape == (3, 16, 16, 3)


def test_upscale():
    out = imaging.upscale(random_uint8(2, 3, 4, 1), 3)
    assert out.shape == (2, 9, 12, 1) and (out[:, ::3, ::3] == out[:, 2::3, 2::3]).all()


# --- uploads -----------------------------------------------------------------------------------


def encode(picture: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def load(data: bytes, channels=3, **options):
    return imaging.load_upload(data, max_bytes=10_000_000, channels=channels, **options)


def test_upload_rgb_and_gray_pass_unchanged():
    rgb = random_uint8(12, 10, 3)
    array, notes = load(encode(Image.fromarray(rgb), "PNG"))
    assert np.array_equal(array, rgb) and notes == []
    gray = random_uint8(12, 10)
    array, notes = load(encode(Image.fromarray(gray), "PNG"), channels=1)
    assert array.shape == (12, 10, 1) and np.array_equal(array[..., 0], gray) and notes == []


def test_upload_channel_conversion():
    array, notes = load(encode(Image.fromarray(random_uint8(8, 8, 3)), "PNG"), channels=1)
    assert array.shape == (8, 8, 1) and notes == ["converted from RGB to grayscale"]
    array, notes = load(encode(Image.fromarray(random_uint8(8, 8)), "PNG"), channels=3)
    assert array.shape == (8, 8, 3) and notes == ["converted from grayscale to RGB"]
    assert (array[..., 0] == array[..., 2]).all()


def test_upload_cmyk_jpeg():
    picture = Image.new("CMYK", (16, 8), (0, 255, 255, 0))  # pure red in CMYK
    array, notes = load(encode(picture, "JPEG", quality=95))
    assert array.shape == (8, 16, 3) and "converted from CMYK to RGB" in notes
    assert array[..., 0].mean() > 200 and array[..., 1].mean() < 60


def test_upload_16_bit_png_is_scaled():
    values = np.array([[0, 257 * 128, 65535]], dtype=np.uint16)
    data = encode(Image.fromarray(values), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    array, notes = load(data, channels=1)
    assert array[0, :, 0].tolist() == [0, 128, 255] and "16-bit image scaled to 8-bit" in notes


def test_upload_32_bit_and_float_tiffs():
    ints = Image.fromarray(np.array([[0, 100, 200]], dtype=np.int32), mode="I")
    array, notes = load(encode(ints, "TIFF"), channels=1)
    assert array[0, :, 0].tolist() == [0, 100, 200] and notes == ["32-bit integer image converted to 8-bit"]
    floats = Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32), mode="F")
    array, notes = load(encode(floats, "TIFF"), channels=1)
    assert array[0, :, 0].tolist() == [0, 128, 255] and notes == ["floating-point image scaled to 8-bit"]


def test_upload_alpha_is_dropped_onto_white():
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[:2, :, :] = (255, 0, 0, 255)  # top half opaque red, bottom half transparent black
    array, notes = load(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert "alpha channel dropped (transparent areas made white)" in notes
    assert array[0, 0].tolist() == [255, 0, 0] and array[3, 3].tolist() == [255, 255, 255]
    la = Image.fromarray(np.zeros((4, 4, 2), np.uint8), "LA")
    array, notes = load(encode(la, "PNG"), channels=1)
    assert array.shape == (4, 4, 1) and (array == 255).all() and notes[0].startswith("alpha channel dropped")


def test_upload_palette_and_bilevel():
    palette = Image.fromarray(random_uint8(6, 6, 3)).quantize(8)
    array, notes = load(encode(palette, "PNG"))
    assert array.shape == (6, 6, 3) and notes == ["converted from a palette (P) image to RGB"]
    transparent = encode(palette, "PNG", transparency=0)
    assert "alpha channel dropped (transparent areas made white)" in load(transparent)[1]
    bilevel = Image.fromarray(random_uint8(5, 5) > 127)
    assert bilevel.mode == "1"
    array, notes = load(encode(bilevel, "PNG"), channels=1)
    assert set(np.unique(array)) <= {0, 255} and notes == ["converted from 1-bit black and white to 8-bit grayscale"]


def test_upload_exif_orientation_and_animation():
    picture = Image.new("RGB", (20, 10), (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    array, notes = load(encode(picture, "JPEG", exif=exif.tobytes()))
    assert array.shape == (20, 10, 3) and "rotated upright using its EXIF orientation" in notes
    frames = [Image.new("L", (5, 5), v) for v in (0, 128, 255)]
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    array, notes = load(gif, channels=1)
    assert "first of 3 frames used" in notes and array.shape == (5, 5, 1)


def test_upload_resize_and_crop():
    wide = Image.fromarray(random_uint8(30, 60, 3))
    array, notes = load(encode(wide, "PNG"), size=16)
    assert array.shape == (16, 16, 3) and notes == ["center-cropped and resized from 60x30 to 16x16"]
    array, notes = load(encode(wide, "PNG"), size=(15, 30))
    assert array.shape == (15, 30, 3) and notes == ["resized from 60x30 to 30x15"]


def test_upload_refuses_non_images_damaged_and_oversized(tmp_path):
    script = tmp_path / "notes.txt"
    script.write_text("print('hello')\n")
    with pytest.raises(DataError, match="is not an image"):
        load(script.read_bytes())
    png = imaging.png_bytes(random_uint8(64, 64, 3))
    with pytest.raises(DataError, match="is not an image"):
        load(png[: len(png) // 2])
    with pytest.raises(DataError, match="MB"):
        imaging.load_upload(png, max_bytes=1000, channels=3)


def test_upload_refuses_decompression_bombs_from_the_header():
    def header_only_png(width, height):  # claims a size, holds no pixels: nothing may be decoded
        header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
        return imaging.PNG_SIGNATURE + imaging._png_chunk(b"IHDR", header) + imaging._png_chunk(b"IEND", b"")

    with pytest.raises(DataError, match="bomb.png is 5000x4000 pixels"):
        load(header_only_png(5000, 4000), name="bomb.png")  # over our 16.7 M-pixel default
    with pytest.raises(DataError, match="too large to decode safely"):
        load(header_only_png(30000, 30000))  # PIL's own bomb check fires first
    with pytest.raises(DataError, match="pixels"):
        load(imaging.png_bytes(np.zeros((20, 20), np.uint8)), max_pixels=100)


# --- the fast render path ------------------------------------------------------------------------


def tiny_dcgan(seed=0) -> DCGAN:
    """A small DCGAN whose BatchNorm statistics are its own, so images have real contrast."""
    torch.manual_seed(seed)
    model = DCGAN(image_size=32, channels=3, latent_dim=8, width=8)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model.generate(model.sample_latent(16))
    return model.eval()


def reference_grid(model, z, labels=None, nrow=4) -> np.ndarray:
    with torch.no_grad():
        images = model.generate(z, labels)
    buffer = io.BytesIO()
    torchvision.utils.save_image(images, buffer, format="PNG", nrow=nrow, normalize=True, value_range=(-1, 1))
    return decode(buffer.getvalue()).astype(np.int16)


def test_render_grid_png_matches_reference_and_leaves_model_alone():
    model = tiny_dcgan()
    z = model.sample_latent(16, seed=3)
    ours = decode(imaging.render_grid_png(model, z, nrow=4)).astype(np.int16)
    reference = reference_grid(model, z)
    assert ours.shape == reference.shape == (4 * 34 + 2, 4 * 34 + 2, 3)
    assert np.abs(ours - reference).max() <= 1 and reference.std() > 10
    # The caller's model keeps its BatchNorm layers and contiguous weights (safetensors needs them).
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.generator.modules())
    assert all(p.is_contiguous() for p in model.parameters())


def test_render_grid_png_follows_weight_updates():
    model = tiny_dcgan()
    z = model.sample_latent(4, seed=0)
    before = decode(imaging.render_grid_png(model, z, nrow=2))
    with torch.no_grad():
        model.generator.main[0].weight.mul_(-1)  # an in-place update, as an optimizer step makes
    after = decode(imaging.render_grid_png(model, z, nrow=2)).astype(np.int16)
    assert not np.array_equal(before, after)
    assert np.abs(after - reference_grid(model, z, nrow=2)).max() <= 1


def test_render_grid_png_conditional_and_gray():
    torch.manual_seed(0)
    model = ConditionalGAN(image_size=28, channels=1, num_classes=3, latent_dim=6, width=4).eval()
    z, labels = model.sample_latent(6, seed=0), torch.tensor([0, 1, 2, 0, 1, 2])
    ours = decode(imaging.render_grid_png(model, z, labels, nrow=3)).astype(np.int16)
    assert ours.ndim == 2  # a grayscale PNG
    assert np.abs(ours - reference_grid(model, z, labels, nrow=3)[..., 0]).max() <= 1
    with pytest.raises(ValueError, match="conditional"):
        imaging.render_grid_png(model, z)


def test_compile_failure_falls_back_to_eager(monkeypatch):
    model = tiny_dcgan(seed=1)
    z = model.sample_latent(4, seed=0)

    def broken_compile(fn, **options):
        def compiled(*args):
            raise RuntimeError("no C++ compiler")

        return compiled

    monkeypatch.setattr(torch, "compile", broken_compile)
    eager = generators.generate_fast(model, z)
    with pytest.warns(RuntimeWarning, match="no C\\+\\+ compiler"):
        fallback = generators.generate_fast(model, z, compile=True)
    assert torch.equal(fallback, eager)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no second warning: the failure is remembered
        assert torch.equal(generators.generate_fast(model, z, compile=True), eager)
