"""The model zoo: checkpoints/zoo.toml, availability, and loading by name."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from studio.checkpoints import zoo
from studio.checkpoints import is_complete, load, save
from studio.errors import CheckpointError
from studio.models import DCGAN, FAMILIES

COMMIT = "c" * 40
AVAILABILITY = {"bundled", "cached", "needs network", "missing"}


def tiny_dcgan() -> DCGAN:
    torch.manual_seed(0)
    return DCGAN(latent_dim=8, image_size=28, channels=1, width=4).eval()


def write_zoo(folder: Path, body: str) -> Path:
    path = folder / "zoo.toml"
    path.write_text(body)
    return path


def entry(name: str, source: str, **extra) -> str:
    lines = [f'name = "{name}"', f'title = "{name} title"', 'family = "dcgan"', 'task = "unconditional"',
             f'source = "{source}"'] + [f'{key} = "{value}"' for key, value in extra.items()]
    return "[[checkpoint]]\n" + "\n".join(lines) + "\n\n"


@pytest.fixture
def hub_cache(tmp_path, monkeypatch) -> Path:
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def test_the_real_zoo_lists_bundled_and_hub_entries(hub_cache):
    listed = {e.name: e for e in zoo.entries()}
    for name, family, dataset in [
        ("mnist-dcgan", "dcgan", "mnist"), ("mnist-cgan", "cgan", "mnist"), ("mnist-wgangp", "wgangp", "mnist"),
        ("mnist-classifier", "classifier", "mnist"), ("maps-pix2pix", "pix2pix", "maps"),
        ("horse2zebra-cyclegan", "cyclegan", "horse2zebra"), ("horse-zebra-classifier", "classifier", "animals"),
    ]:
        bundled = listed[name]
        assert (bundled.family, bundled.dataset, bundled.license, bundled.is_hub) == (family, dataset, "MIT", False)
        assert bundled.family in FAMILIES and bundled.path == zoo.CHECKPOINTS_DIR / name
        assert is_complete(bundled.path) and bundled.availability == "bundled"  # committed with the code
    hub = [e for e in listed.values() if e.is_hub]
    assert {e.source for e in hub} >= {"hf://huggan/dcgan-mnist", "hf://huggan/pix2pix-maps"}
    assert all(e.availability == "needs network" for e in hub)  # the test cache is empty
    assert all(e.availability in AVAILABILITY and e.title and e.description for e in listed.values())


def test_availability_and_loading_by_name(tmp_path, hub_cache, monkeypatch):
    model = tiny_dcgan()
    save(model, tmp_path / "here", metadata={"title": "from the card"})
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    hub_files = tmp_path / "hub-src"
    save(model, hub_files)
    snapshot = hub_cache / "models--org--tiny" / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):
        (snapshot / name).write_bytes((hub_files / name).read_bytes())
    (hub_cache / "models--org--tiny" / "refs").mkdir()
    (hub_cache / "models--org--tiny" / "refs" / "main").write_text(COMMIT)

    path = write_zoo(tmp_path, entry("here", "here", dataset="mnist", license="MIT") + entry("half", "half")
                     + entry("gone", "gone") + entry("cached", "hf://org/tiny")
                     + entry("remote", "hf://org/elsewhere", revision="v2"))
    availability = {e.name: e.availability for e in zoo.entries(path)}
    assert availability == {"here": "bundled", "half": "missing", "gone": "missing", "cached": "cached",
                            "remote": "needs network"}
    assert zoo.get("remote", path).hub_id == "hf://org/elsewhere@v2"

    monkeypatch.setattr(zoo, "ZOO_FILE", path)
    loaded = load("here", device="cpu")
    z = torch.randn(2, 8)
    with torch.no_grad():
        assert torch.equal(loaded.model.generate(z), model.generate(z))
    assert (loaded.meta["kind"], loaded.meta["source"], loaded.meta["title"]) == ("zoo", "here", "here title")
    assert loaded.meta["license"] == "mit"  # the card's own metadata wins over the zoo's
    cached = load("cached", device="cpu")
    assert (cached.meta["kind"], cached.meta["commit"]) == ("zoo", COMMIT)
    with pytest.raises(CheckpointError, match="'half' is listed.*not been trained yet"):
        load("half")
    with pytest.raises(CheckpointError, match="not in the local Hugging Face cache.*HF_HUB_OFFLINE=0"):
        load("remote")


def test_unknown_name_lists_the_zoo(tmp_path):
    path = write_zoo(tmp_path, entry("mnist-dcgan", "a") + entry("mnist-cgan", "b"))
    with pytest.raises(CheckpointError, match="no zoo checkpoint named 'mnist-dcgn'.*'mnist-dcgan'.*mnist-cgan"):
        zoo.get("mnist-dcgn", path)


@pytest.mark.parametrize("body, problem", [
    (entry("a", "../outside"), "must be a folder name"),
    (entry("a", "/etc"), "must be a folder name"),
    (entry("a", "hf://org/../x"), "not a valid"),
    (entry("a", "hf://org/x@main"), "revision field"),
    (entry("a", "x") + entry("a", "y"), "listed twice"),
    (entry("a", "x", colour="red"), "unknown fields colour"),
    ('[[checkpoint]]\nname = "a"\n', "missing title, family, task, source"),
    ("[[checkpoint]\n", "not valid TOML"),
])
def test_bad_zoo_files_are_refused(tmp_path, body, problem):
    with pytest.raises(CheckpointError, match=problem):
        zoo.entries(write_zoo(tmp_path, body))
