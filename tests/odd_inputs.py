"""Odd uploads, as named cases, and one runner per upload path: what tests/test_odd_inputs.py drives.

Every case is a file a user could upload (a name and its bytes, made in memory): broken and
non-image files, images of every mode, size and aspect ratio, hostile zips, garbage and real
checkpoints. Every runner takes a case through one upload path the way the UI does, and returns
what the user would get; a clear refusal is a ``DataError`` / ``CheckpointError``. ``run_case``
runs one case through one runner in a thread under a time limit and says what went wrong.

A new upload path is a new runner, ``runner(case, workdir) -> result``, in ``RUNNERS`` (the Gradio
endpoints that take files are there: /load's checkpoint, /translate's image); tests/test_odd_inputs.py
parametrizes over ``CASES`` x ``RUNNERS`` with ``run_case``.
"""

from __future__ import annotations

import io
import pickle
import struct
import threading
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from studio.errors import CheckpointError, DataError

REPO = Path(__file__).resolve().parent.parent
CASE_TIMEOUT_S = 120.0  # generous: the machine may be shared; a hang or a runaway decode fails the case


@dataclass(frozen=True)
class OddInput:
    """One upload: ``filename`` and ``make()`` -> its bytes.

    ``image``: a real picture, so the image paths must translate it (or train on it), not refuse it.
    ``checkpoint``: a real checkpoint, so the checkpoint path must load it.
    ``trainable``: a zip holding at least one good image, so the training path must read it.
    """

    name: str
    filename: str
    make: Callable[[], bytes]
    image: bool = False
    checkpoint: bool = False
    trainable: bool = False


# ----------------------------------------------------------------------------- makers


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def encoded(picture: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def rgb(height: int, width: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


def gray(height: int, width: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(_rng(seed).integers(0, 256, (height, width), dtype=np.uint8))


def png(height: int, width: int, mode: str = "RGB") -> Callable[[], bytes]:
    return lambda: encoded((rgb if mode == "RGB" else gray)(height, width).convert(mode), "PNG")


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` pixels and holds a few bytes: a decompression bomb's header."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _zip(members: dict[str, bytes], *, level: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", level) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _zip_declaring_huge_sizes() -> bytes:
    """A zip whose central directory claims a 5 GB member (a zip bomb's declared size)."""
    data = bytearray(_zip({"a.png": encoded(rgb(8, 8), "PNG")}, level=zipfile.ZIP_STORED))
    central = data.rfind(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 0xFFFFFFF0)  # uncompressed size
    return bytes(data)


def _animated_gif() -> bytes:
    frames = [rgb(20, 30, seed).convert("P") for seed in range(3)]
    return encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def _exif_rotated_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    return encoded(rgb(20, 40), "JPEG", exif=exif)


def _palette_with_transparency() -> bytes:
    picture = rgb(16, 16).convert("P")
    return encoded(picture, "PNG", transparency=0)


def _multipage_tiff() -> bytes:
    return encoded(rgb(16, 16), "TIFF", save_all=True, append_images=[rgb(16, 16, 1)])


def _float_tiff() -> bytes:
    return encoded(Image.fromarray(_rng().normal(0, 100, (24, 24)).astype(np.float32), mode="F"), "TIFF")


def _int32_tiff() -> bytes:
    return encoded(Image.fromarray(_rng().integers(-70000, 70000, (24, 24)).astype(np.int32), mode="I"), "TIFF")


def _sixteen_bit_png() -> bytes:
    return encoded(Image.fromarray(_rng().integers(0, 65536, (24, 24)).astype(np.uint16)), "PNG")


def _truncated(make: Callable[[], bytes], keep: float = 0.5) -> Callable[[], bytes]:
    return lambda: make()[: max(1, int(len(make()) * keep))]


def _safetensors_with_huge_header() -> bytes:
    return struct.pack("<Q", 2**40) + b"{}"


def _safetensors_of(tensors: dict[str, torch.Tensor]) -> bytes:
    from safetensors.torch import save

    return save(tensors)


def _torch_saved(value) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


class _RunsCode:
    """Unpickling this would run a command: the checkpoint loader must refuse it, never run it."""

    def __reduce__(self):
        return (eval, ("__import__('pathlib').Path('ODD_INPUT_PICKLE_RAN').touch()",))


def _malicious_pickle() -> bytes:
    return pickle.dumps({"weight": _RunsCode()})


def _bundled(name: str, file: str = "model.safetensors") -> Callable[[], bytes]:
    return lambda: (REPO / "checkpoints" / name / file).read_bytes()


def _tiny_cyclegan_generator() -> dict[str, torch.Tensor]:
    """A tiny generator in the reference layout (junyanz ResnetGenerator), as ``latest_net_G.pth`` holds."""
    from studio.models import CycleGAN

    torch.manual_seed(0)
    return CycleGAN(image_size=32, ngf=4, n_blocks=2).generator_ab.state_dict()


# ----------------------------------------------------------------------------- the cases

GOOD_PNG = png(24, 24)

CASES: list[OddInput] = [
    # not images at all
    OddInput("empty", "empty.png", lambda: b""),
    OddInput("random-bytes", "noise.png", lambda: _rng().bytes(4096)),
    OddInput("html", "page.png", lambda: b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>"),
    OddInput("svg", "drawing.svg", lambda: b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
                                           b'<rect width="10" height="10"/></svg>'),
    OddInput("plain-text", "notes.txt", lambda: b"just some text\n" * 20),
    OddInput("png-signature-only", "sig.png", lambda: b"\x89PNG\r\n\x1a\n"),
    OddInput("truncated-png", "cut.png", _truncated(png(64, 64))),
    OddInput("truncated-jpeg", "cut.jpg", _truncated(lambda: encoded(rgb(64, 64), "JPEG"))),
    OddInput("png-bomb-30000x30000", "bomb.png", lambda: _png_header_only(30000, 30000)),
    OddInput("png-header-1x100000000", "line.png", lambda: _png_header_only(1, 100_000_000)),
    OddInput("pdf", "paper.pdf", lambda: b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"),
    # pictures of every size and aspect ratio
    OddInput("1x1", "dot.png", png(1, 1), image=True),
    OddInput("2x2", "tiny.png", png(2, 2), image=True),
    OddInput("3x3-gray", "three.png", png(3, 3, "L"), image=True),
    OddInput("2x300-gray", "strip.png", png(2, 300, "L"), image=True),
    OddInput("300x2-gray", "column.png", png(300, 2, "L"), image=True),
    OddInput("2x300-rgb", "strip-rgb.png", png(2, 300), image=True),
    OddInput("1x5000", "thread.png", png(1, 5000, "L"), image=True),
    OddInput("5000x1", "pole.png", png(5000, 1, "L"), image=True),
    OddInput("7x7", "seven.png", png(7, 7), image=True),
    OddInput("9x1000", "banner.png", png(9, 1000), image=True),
    OddInput("33x47", "odd.png", png(33, 47), image=True),
    OddInput("129x127", "near-maps.png", png(129, 127), image=True),
    OddInput("1024x768", "photo.png", png(768, 1024), image=True),
    OddInput("2000x2000-jpeg", "large.jpg", lambda: encoded(rgb(2000, 2000), "JPEG", quality=70), image=True),
    # every mode and format
    OddInput("16-bit-png", "deep.png", _sixteen_bit_png, image=True),
    OddInput("rgba", "alpha.png", png(20, 20, "RGBA"), image=True),
    OddInput("la", "gray-alpha.png", png(20, 20, "LA"), image=True),
    OddInput("palette", "palette.png", png(20, 20, "P"), image=True),
    OddInput("palette-transparency", "palette-t.png", _palette_with_transparency, image=True),
    OddInput("1-bit", "bilevel.png", png(20, 20, "1"), image=True),
    OddInput("cmyk-jpeg", "print.jpg", lambda: encoded(rgb(20, 20).convert("CMYK"), "JPEG"), image=True),
    OddInput("gray-jpeg", "gray.jpg", lambda: encoded(gray(20, 20), "JPEG"), image=True),
    OddInput("progressive-jpeg", "prog.jpg", lambda: encoded(rgb(40, 40), "JPEG", progressive=True), image=True),
    OddInput("exif-rotated-jpeg", "phone.jpg", _exif_rotated_jpeg, image=True),
    OddInput("float-tiff", "float.tif", _float_tiff, image=True),
    OddInput("int32-tiff", "int.tif", _int32_tiff, image=True),
    OddInput("multipage-tiff", "pages.tiff", _multipage_tiff, image=True),
    OddInput("animated-gif", "anim.gif", _animated_gif, image=True),
    OddInput("webp", "pic.webp", lambda: encoded(rgb(20, 20), "WEBP"), image=True),
    OddInput("bmp", "pic.bmp", lambda: encoded(rgb(20, 20), "BMP"), image=True),
    OddInput("png-named-jpg", "really-a-png.jpg", GOOD_PNG, image=True),
    OddInput("unicode-name", "фото 猫 🐴.png", GOOD_PNG, image=True),
    OddInput("traversal-name", "../../etc/passwd.png", GOOD_PNG, image=True),
    # zips for training
    OddInput("zip-of-images", "photos.zip",
             lambda: _zip({"cats/a.png": GOOD_PNG(), "dogs/b.jpg": encoded(rgb(30, 50), "JPEG")}), trainable=True),
    OddInput("zip-odd-images", "odd.zip",
             lambda: _zip({"a.png": png(2, 300, "L")(), "b.png": _sixteen_bit_png(), "c.png": png(20, 20, "RGBA")(),
                           "d.tif": _float_tiff(), "e.gif": _animated_gif()}), trainable=True),
    OddInput("zip-good-and-junk", "mixed.zip",
             lambda: _zip({"good.png": GOOD_PNG(), "bad.png": b"not a png", "readme.txt": b"hello"}), trainable=True),
    OddInput("zip-traversal", "evil.zip", lambda: _zip({"../../escape.png": GOOD_PNG()})),
    OddInput("zip-absolute-path", "abs.zip", lambda: _zip({"/tmp/absolute.png": GOOD_PNG()})),
    OddInput("zip-only-text", "text.zip", lambda: _zip({"a.txt": b"a", "b.csv": b"1,2"})),
    OddInput("zip-nested", "nested.zip", lambda: _zip({"inner.zip": _zip({"a.png": GOOD_PNG()})})),
    OddInput("zip-empty", "empty.zip", lambda: _zip({})),
    OddInput("zip-truncated", "cut.zip", _truncated(lambda: _zip({"a.png": png(64, 64)()}))),
    OddInput("zip-declares-5gb", "bomb.zip", _zip_declaring_huge_sizes),
    OddInput("zip-png-bomb", "bomb-inside.zip", lambda: _zip({"bomb.png": _png_header_only(30000, 30000)})),
    OddInput("zip-hidden-files-only", "mac.zip",
             lambda: _zip({"__MACOSX/._a.png": b"junk", ".DS_Store": b"junk", "Thumbs.db": b"junk"})),
    # checkpoints
    OddInput("garbage-safetensors", "model.safetensors", lambda: _rng().bytes(2048)),
    OddInput("garbage-pth", "latest_net_G.pth", lambda: _rng().bytes(2048)),
    OddInput("safetensors-huge-header", "huge.safetensors", _safetensors_with_huge_header),
    OddInput("safetensors-unknown-layout", "other.safetensors",
             lambda: _safetensors_of({"encoder.weight": torch.zeros(3, 3), "head.bias": torch.zeros(3)})),
    OddInput("pth-malicious-pickle", "evil.pth", _malicious_pickle),
    OddInput("pth-torch-saved-tensor", "tensor.pth", lambda: _torch_saved(torch.zeros(4))),
    OddInput("pth-unknown-state-dict", "weights.pth", lambda: _torch_saved({"fc.weight": torch.zeros(2, 2)})),
    OddInput("truncated-safetensors", "cut.safetensors", _truncated(_bundled("horse2zebra-cyclegan"), 0.3)),
    OddInput("checkpoint-config-json", "config.pth", _bundled("maps-pix2pix", "config.json")),
    # a studio checkpoint's weights without their config.json: refused, naming the layouts it knows
    OddInput("bundled-cyclegan-weights-alone", "model.safetensors", _bundled("horse2zebra-cyclegan")),
    OddInput("safetensors-of-sample-images", "dcgan64.safetensors",
             lambda: (REPO / "tests" / "fixtures" / "checkpoints" / "huggan_dcgan64.io.safetensors").read_bytes()),
    OddInput("cyclegan-reference-pth", "latest_net_G.pth", lambda: _torch_saved(_tiny_cyclegan_generator()),
             checkpoint=True),
    OddInput("cyclegan-reference-safetensors", "latest_net_G.safetensors",
             lambda: _safetensors_of(_tiny_cyclegan_generator()), checkpoint=True),
]


def case_named(name: str) -> OddInput:
    return next(case for case in CASES if case.name == name)


# ----------------------------------------------------------------------------- the harness


class CaseFailed(AssertionError):
    pass


def run_case(runner: Callable[[OddInput, Path], object], case: OddInput, workdir: Path,
             *, timeout: float = CASE_TIMEOUT_S) -> object:
    """``runner(case, workdir)`` in a daemon thread: its result, or the clear ``DataError`` /
    ``CheckpointError`` it raised (returned, not raised). Any other exception, or no answer within
    ``timeout`` seconds, raises CaseFailed naming the case."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["result"] = runner(case, workdir)
        except BaseException as exc:  # noqa: BLE001 - reported below
            outcome["error"] = exc

    thread = threading.Thread(target=target, name=f"odd-input-{case.name}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise CaseFailed(f"{case.name} through {runner.__name__}: no answer within {timeout:.0f} s")
    error = outcome.get("error")
    if error is None:
        return outcome["result"]
    if isinstance(error, (DataError, CheckpointError)):
        if len(str(error).strip()) < 10:
            raise CaseFailed(f"{case.name} through {runner.__name__}: refused without a clear message: {error!r}")
        return error
    raise CaseFailed(f"{case.name} through {runner.__name__}: {type(error).__name__}: {error}") from error


# ----------------------------------------------------------------------------- the upload paths
# Each takes a case the way a page does and returns what the user would see; it checks that the
# result is usable (an AssertionError is a failure too). Imports are inside: importing this module
# stays cheap, and a Gradio test can use the cases without these paths.

_MODELS: dict[str, object] = {}
_MODELS_LOCK = threading.Lock()


def bundled_model(name: str):
    """A bundled checkpoint, loaded once per test process."""
    from studio import checkpoints

    with _MODELS_LOCK:
        if name not in _MODELS:
            _MODELS[name] = checkpoints.load(name)
        return _MODELS[name]


def _checkpoint_upload(filename: str, data: bytes):
    from studio import checkpoints
    from studio.checkpoints import sources

    path = sources.save_upload(filename, data)  # the home page's uploader callback, then load()
    model, meta = checkpoints.load(str(path))
    assert isinstance(model, torch.nn.Module) and meta.get("family"), meta
    return model, meta


def checkpoint_upload(case: OddInput, workdir: Path):
    """The home page's checkpoint uploader, with the file's own name."""
    return _checkpoint_upload(case.filename, case.make())


def checkpoint_upload_as_safetensors(case: OddInput, workdir: Path):
    """The same bytes named ``*.safetensors``: the loader must judge the contents, not the name."""
    return _checkpoint_upload(Path(case.filename).stem + ".safetensors", case.make())


def checkpoint_upload_as_pth(case: OddInput, workdir: Path):
    """The same bytes named ``*.pth`` (read with torch.load(weights_only=True), never unpickled)."""
    return _checkpoint_upload(Path(case.filename).stem + ".pth", case.make())


def _translation(zoo_name: str, direction: str) -> Callable[[OddInput, Path], tuple]:
    def runner(case: OddInput, workdir: Path) -> tuple:
        from studio import translate

        model, _ = bundled_model(zoo_name)
        channels_in, channels_out = translate.io_channels(model, direction)
        image, notes = translate.read_image(case.make(), channels=channels_in, name=case.filename)
        output, more = translate.translate_image(model, image, direction)
        assert output.dtype == np.uint8 and output.ndim == 3 and output.shape[2] == channels_out, output.shape
        assert min(output.shape[:2]) >= 1
        if image.shape[:2] != output.shape[:2]:  # a resize is always said
            assert any(note.startswith("resized") for note in more), more
        return output, notes + more

    runner.__name__ = f"translate_{zoo_name}_{direction}"
    return runner


def _check_dataset(dataset, image_size: int = 32):
    assert len(dataset) >= 1
    assert dataset.images.shape[1:] == (3, image_size, image_size), dataset.images.shape
    assert torch.isfinite(dataset.images).all() and dataset.images.abs().max() <= 1.0
    return dataset


def training_zip_upload(case: OddInput, workdir: Path):
    """The training page's zip uploader, then the run's data reader. A file that is not a zip is
    zipped first, as a user would: its bytes reach the image decoder as a member."""
    from studio import live
    from studio.data import image_folder

    name, data = case.filename, case.make()
    if not name.lower().endswith(".zip"):
        data, name = _zip({Path(name).name or "file": data}), (Path(name).stem or "upload") + ".zip"
    path = live.save_data_upload(name, data, root=workdir)
    return _check_dataset(image_folder(path, 32, channels=3))


def training_folder(case: OddInput, workdir: Path):
    """The training page's 'folder on the server' path, with the case as the folder's one file."""
    from studio import live
    from studio.data import image_folder

    folder = workdir / "folder"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / (Path(case.filename).name or "file")).write_bytes(case.make())
    return _check_dataset(image_folder(live.check_data_path(str(folder)), 32, channels=3))


# ----------------------------------------------------------------------------- the Gradio endpoints
# Gradio hands an endpoint the uploaded file as a path on the server (its own temp copy, under the
# file's base name). These runners call the endpoint functions of gradio_app as Gradio does, with
# the studio_errors wrapper peeled off: that wrapper turns DataError / CheckpointError (and
# ValueError) into gr.Error for the client, so without it any other exception still fails the case.


def _gradio_endpoint(name: str):
    import gradio_app

    return getattr(gradio_app, name).__wrapped__


def _as_gradio_upload(case: OddInput, workdir: Path) -> Path:
    folder = workdir / "gradio-upload"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (Path(case.filename).name or "upload")
    path.write_bytes(case.make())
    return path


def gradio_load(case: OddInput, workdir: Path):
    """/load with ``upload`` set: the zoo tab's checkpoint file."""
    source, card, samples = _gradio_endpoint("load")("mnist-dcgan", str(_as_gradio_upload(case, workdir)))
    assert source and isinstance(card, str) and card.strip(), (source, card)
    assert samples is None or (isinstance(samples, np.ndarray) and samples.dtype == np.uint8), type(samples)
    return source, card


def _gradio_translation(zoo_name: str, direction: str) -> Callable[[OddInput, Path], tuple]:
    def runner(case: OddInput, workdir: Path) -> tuple:
        picture, output, note = _gradio_endpoint("translate")(zoo_name, str(_as_gradio_upload(case, workdir)), direction)
        assert isinstance(output, np.ndarray) and output.dtype == np.uint8 and output.ndim in (2, 3), type(output)
        assert min(output.shape[:2]) >= 1 and isinstance(note, str)
        if picture.shape[:2] != output.shape[:2]:  # a resize is always said
            assert "resized" in note, note
        return output, note

    runner.__name__ = f"gradio_translate_{zoo_name}_{direction}"
    return runner


RUNNERS: dict[str, Callable[[OddInput, Path], object]] = {
    "checkpoint-upload": checkpoint_upload,
    "checkpoint-upload-as-safetensors": checkpoint_upload_as_safetensors,
    "checkpoint-upload-as-pth": checkpoint_upload_as_pth,
    "translate-maps": _translation("maps-pix2pix", "a2b"),
    "translate-horse-to-zebra": _translation("horse2zebra-cyclegan", "a2b"),
    "translate-zebra-to-horse": _translation("horse2zebra-cyclegan", "b2a"),
    "training-zip": training_zip_upload,
    "training-folder": training_folder,
    "gradio-load": gradio_load,
    "gradio-translate-maps": _gradio_translation("maps-pix2pix", "a2b"),
    "gradio-translate-zebra-to-horse": _gradio_translation("horse2zebra-cyclegan", "b2a"),
}
IMAGE_PATHS = ("translate-maps", "translate-horse-to-zebra", "translate-zebra-to-horse", "training-zip",
               "training-folder", "gradio-translate-maps", "gradio-translate-zebra-to-horse")
CHECKPOINT_PATHS = ("checkpoint-upload", "checkpoint-upload-as-safetensors", "checkpoint-upload-as-pth", "gradio-load")
# the paths that keep the file's own name: a real checkpoint must load through them
CHECKPOINT_PATHS_BY_NAME = ("checkpoint-upload", "gradio-load")
