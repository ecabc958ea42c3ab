"""The checkpoint format and the one loader, on real files with tiny models.

Hub loading runs against a Hugging Face cache built on disk (refs/ + blobs/ + snapshots/, as
huggingface_hub lays it out) with HF_HUB_OFFLINE=1, so nothing touches the network.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import shutil
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from studio import checkpoints
from studio.checkpoints import load, save
from studio.errors import CheckpointError
from studio.models import DCGAN, ConditionalGAN

FIXTURES = Path(__file__).parent / "fixtures" / "checkpoints"
COMMIT_A, COMMIT_B = "a" * 40, "b" * 40


def tiny_dcgan(seed: int = 0, width: int = 4) -> DCGAN:
    torch.manual_seed(seed)
    return DCGAN(latent_dim=8, image_size=28, channels=1, width=width).eval()


def same_outputs(a, b) -> bool:
    z = torch.randn(3, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return torch.equal(a.generate(z), b.generate(z))


def huggan_dcgan_state() -> dict[str, torch.Tensor]:
    """The community DCGAN generator weights, rebuilt from key names as the fixture's README says."""
    layout = json.loads((FIXTURES / "huggan_dcgan64.json").read_text())
    state = {}
    for key, shape, _ in layout["keys"]:
        g = torch.Generator().manual_seed(zlib.crc32(key.encode()))
        if key.endswith("num_batches_tracked"):
            state[key] = torch.zeros(shape, dtype=torch.int64)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=g) + 0.5
        elif key.endswith("running_mean"):
            state[key] = 0.1 * torch.randn(shape, generator=g)
        elif len(shape) == 1 and key.endswith("weight"):
            state[key] = 1.0 + 0.1 * torch.randn(shape, generator=g)
        elif len(shape) == 1:
            state[key] = 0.1 * torch.randn(shape, generator=g)
        else:
            state[key] = torch.randn(shape, generator=g) / math.sqrt(math.prod(shape[1:]))
    return state


def check_huggan_model(loaded) -> None:
    """The imported generator reproduces the reference network's output."""
    io = load_file(FIXTURES / "huggan_dcgan64.io.safetensors")
    assert loaded.meta["family"] == "dcgan" and loaded.meta["description"]
    with torch.no_grad():
        out = loaded.model.generate(io["input"].reshape(1, -1).to(loaded.model.device))
    assert torch.allclose(out.cpu(), io["output"], atol=1e-4)


def add_to_cache(cache: Path, repo_id: str, commit: str, files: dict[str, Path], refs=()) -> None:
    """Lay files out like huggingface_hub: blobs by hash, snapshot symlinks, refs holding the commit."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    for name, src in files.items():
        data = Path(src).read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = repo / "snapshots" / commit / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    for ref in refs:
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / ref).write_text(commit)  # no newline, as huggingface_hub writes it


@pytest.fixture
def hub_cache(tmp_path, monkeypatch) -> Path:
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


# ----------------------------------------------------------------------------- save / load

def test_round_trip_directory(tmp_path):
    model = tiny_dcgan()
    grid = np.arange(20 * 30 * 3, dtype=np.uint8).reshape(20, 30, 3)
    path = save(model, tmp_path / "ckpt", samples=grid, metadata={
        "title": "Tiny digits", "dataset": "mnist", "recipe": "tiny", "metrics": {"fid": np.float64(41.5)}})

    assert sorted(p.name for p in path.iterdir()) == ["README.md", "config.json", "model.safetensors", "samples.png"]
    config = json.loads((path / "config.json").read_text())
    assert config["family"] == "dcgan" and config["width"] == 4 and config["studio"]["metrics"] == {"fid": 41.5}
    card = (path / "README.md").read_text()
    assert card.startswith("---\n") and "library_name: gan-studio" in card and "- mnist" in card
    assert "![samples](samples.png)" in card and "| fid | 41.5 |" in card

    model_out, meta = load(path, device="cpu")
    assert same_outputs(model, model_out) and not model_out.training
    assert meta["kind"] == "directory" and meta["family"] == "dcgan" and meta["task"] == "unconditional"
    assert (meta["title"], meta["dataset"], meta["recipe"], meta["image_size"], meta["channels"]) == (
        "Tiny digits", "mnist", "tiny", 28, 1)
    assert meta["metrics"] == {"fid": 41.5}
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]  # no temporary folder left behind


def test_inference_only_checkpoint_drops_the_discriminators(tmp_path):
    from studio.models import build

    model = build("cyclegan", {"in_channels": 1, "out_channels": 1, "image_size": 32, "ngf": 4, "ndf": 8,
                                "n_blocks": 1}).eval()
    full = save(model, tmp_path / "full")
    slim = save(model, tmp_path / "slim", inference_only=True)
    with safe_open(slim / "model.safetensors", "pt") as weights:
        keys = set(weights.keys())
    assert keys and not any(k.startswith("discriminator") for k in keys)
    assert any(k.startswith("discriminator") for k in model.state_dict())
    assert (slim / "model.safetensors").stat().st_size < (full / "model.safetensors").stat().st_size

    loaded, meta = load(slim, device="cpu")
    assert "inference-only" in meta["weights"] and "weights" not in load(full, device="cpu").meta
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    for direction in ("a2b", "b2a"):
        assert torch.equal(loaded.translate(x, direction), model.translate(x, direction))
    # a discriminator missing from a checkpoint that does not say so is still an error
    (slim / "config.json").write_text((slim / "config.json").read_text().replace('"weights"', '"other"'))
    with pytest.raises(CheckpointError, match="missing keys"):
        load(slim)


def test_conditional_meta_and_file_path(tmp_path):
    model = ConditionalGAN(latent_dim=8, image_size=28, channels=1, num_classes=3, width=4)
    path = save(model, tmp_path / "cgan", metadata={"class_names": ["zero", "one", "two"]})
    loaded = load(path / "model.safetensors", device="cpu")  # the weights file stands for its folder
    assert loaded.meta["class_names"] == ["zero", "one", "two"] and loaded.model.num_classes == 3
    assert save(model, tmp_path / "plain") and load(tmp_path / "plain").meta["class_names"] == ["0", "1", "2"]


def test_overwrite_replaces_files_and_a_crash_keeps_the_old_ones(tmp_path, monkeypatch):
    path = save(tiny_dcgan(0), tmp_path / "ckpt", samples=np.zeros((4, 4, 1), np.uint8))
    second = tiny_dcgan(1)
    save(second, path)
    assert same_outputs(second, load(path, device="cpu").model)
    assert not (path / "samples.png").exists()  # stale samples of the old weights are gone

    def crash(self, directory, config=None):
        (Path(directory) / "model.safetensors").write_bytes(b"half a file")
        raise KeyboardInterrupt
    monkeypatch.setattr(DCGAN, "save_pretrained", crash)
    with pytest.raises(KeyboardInterrupt):
        save(tiny_dcgan(2), path)
    assert same_outputs(second, load(path, device="cpu").model)
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]


def test_every_saved_file_is_readable_by_others(tmp_path):
    """A checkpoint is shared (a Space, a classroom folder): safetensors writes its file 0600, save
    opens it up like the rest, on a fresh folder and when it overwrites one."""
    for _ in range(2):
        path = save(tiny_dcgan(0), tmp_path / "ckpt", samples=np.zeros((4, 4, 1), np.uint8))
        modes = {p.name: p.stat().st_mode & 0o777 for p in path.iterdir()}
        assert set(modes) == {"config.json", "model.safetensors", "README.md", "samples.png"}
        assert all(mode & 0o044 == 0o044 for mode in modes.values()), modes


def test_plain_save_pretrained_directory_needs_family(tmp_path):
    model = tiny_dcgan()
    model.save_pretrained(tmp_path / "plain")
    with pytest.raises(CheckpointError, match='no "family" key.*dcgan'):
        load(tmp_path / "plain")
    model.save_pretrained(tmp_path / "named", config={**model.config, "family": "dcgan"})
    loaded = load(tmp_path / "named", device="cpu")
    assert same_outputs(model, loaded.model) and loaded.meta["image_size"] == 28 and loaded.meta["metrics"] == {}


# ----------------------------------------------------------------------------- the Hub, offline

def test_hub_ids_from_the_local_cache(tmp_path, hub_cache):
    first, second = tiny_dcgan(0), tiny_dcgan(1)
    dir_a, dir_b = save(first, tmp_path / "a"), save(second, tmp_path / "b")
    files = lambda d: {n: d / n for n in ("config.json", "model.safetensors", "README.md")}  # noqa: E731
    add_to_cache(hub_cache, "org/tiny", COMMIT_A, files(dir_a), refs=["main"])
    add_to_cache(hub_cache, "org/tiny", COMMIT_B, files(dir_b), refs=["v1"])

    main = load("hf://org/tiny", device="cpu")
    assert same_outputs(first, main.model)
    assert (main.meta["kind"], main.meta["source"], main.meta["commit"]) == ("hub", "hf://org/tiny", COMMIT_A)
    assert same_outputs(second, load(f"hf://org/tiny@{COMMIT_B}").model)
    assert same_outputs(second, load("hf://org/tiny@v1").model)
    assert checkpoints.cached_snapshot("org/tiny") == hub_cache / "models--org--tiny" / "snapshots" / COMMIT_A

    with pytest.raises(CheckpointError, match="unknown revision 'nope'.*main, v1"):
        load("hf://org/tiny@nope")


def test_hub_repo_missing_offline_says_network_is_needed(hub_cache):
    with pytest.raises(CheckpointError, match="not in the local Hugging Face cache.*HF_HUB_OFFLINE=0"):
        load("hf://org/absent")


def test_hub_community_repo_with_a_pickled_state_dict(tmp_path, hub_cache):
    weights = tmp_path / "pytorch_model.bin"
    torch.save(huggan_dcgan_state(), weights)
    add_to_cache(hub_cache, "huggan/dcgan-mnist", COMMIT_A, {"pytorch_model.bin": weights}, refs=["main"])
    loaded = load("hf://huggan/dcgan-mnist", device="cpu")
    check_huggan_model(loaded)
    assert loaded.meta["kind"] == "hub" and loaded.meta["title"] == "huggan/dcgan-mnist"


@pytest.mark.parametrize("bad", [
    "hf://../etc/passwd", "hf:///etc/passwd", "hf://org/../x", "hf://org", "hf://org/repo/extra",
    "hf://org/repo@", "hf://org/repo@../../main", "hf://org/repo@/abs", "hf://org--x/repo",
    "hf://org/re po", "hf://org/repo..x", "hf://.hidden/repo",
])
def test_hub_ids_are_validated(bad, hub_cache):
    with pytest.raises(CheckpointError, match="not a valid"):
        load(bad)


def test_hub_id_parsing():
    assert checkpoints.parse_hub_id("hf://huggan/pix2pix-maps") == ("huggan/pix2pix-maps", None)
    assert checkpoints.parse_hub_id("hf://a.b/c_d@refs/pr/1") == ("a.b/c_d", "refs/pr/1")


# ----------------------------------------------------------------------------- foreign files

@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_legacy_state_dict_file(tmp_path, suffix):
    path = tmp_path / f"netG{suffix}"
    state = huggan_dcgan_state()
    torch.save(state, path) if suffix == ".pth" else save_file(state, path)
    loaded = load(path, device="cpu")
    check_huggan_model(loaded)
    assert (loaded.meta["kind"], loaded.meta["title"]) == ("file", path.name)


def test_unknown_layout_is_refused(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"encoder.weight": torch.zeros(3, 3)}, path)
    with pytest.raises(CheckpointError, match="unknown checkpoint layout.*encoder.weight"):
        load(path)
    (tmp_path / "repo").mkdir()
    path.rename(tmp_path / "repo" / "pytorch_model.bin")  # a folder holding only foreign weights
    with pytest.raises(CheckpointError, match="has no config.json.*unknown checkpoint layout"):
        load(tmp_path / "repo")


class Hostile:
    def __init__(self, sentinel: Path):
        self.sentinel = sentinel

    def __reduce__(self):
        return os.system, (f"touch {self.sentinel}",)


def test_hostile_pickle_never_runs(tmp_path):
    assert shutil.which("touch")  # otherwise the payload could not have run anyway
    sentinel = tmp_path / "SENTINEL"
    zipped, raw = tmp_path / "evil.pth", tmp_path / "evil.bin"
    torch.save({"weight": Hostile(sentinel)}, zipped)  # torch's zip format
    raw.write_bytes(pickle.dumps({"weight": Hostile(sentinel)}, protocol=2))  # a bare pickle
    for path in (zipped, raw):
        with pytest.raises(CheckpointError, match="refused.*posix.system.*nothing in the file was run"):
            load(path)
    assert not sentinel.exists()


def test_broken_weight_files(tmp_path):
    path = save(tiny_dcgan(), tmp_path / "ckpt")
    data = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load(path)

    cases = {
        "noise.pth": os.urandom(2000), "noise.safetensors": os.urandom(2000), "empty.pt": b"",
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(CheckpointError, match="corrupt|empty"):
            load(tmp_path / name)
    torch.save([torch.zeros(1)], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="not a state dict"):
        load(tmp_path / "list.pt")
    torch.save({"w": torch.zeros(1), "epoch": 3}, tmp_path / "mixed.pt")
    with pytest.raises(CheckpointError, match="not tensors.*'epoch' \\(int\\)"):
        load(tmp_path / "mixed.pt")
    with pytest.raises(CheckpointError, match="over the .* GiB limit"):
        load(tmp_path / "mixed.pt", max_bytes=100)
    with pytest.raises(CheckpointError, match="unsupported weights file type"):
        checkpoints.read_state_dict(tmp_path / "mixed.txt")


# ----------------------------------------------------------------------------- config errors

def test_config_errors_name_the_problem(tmp_path):
    path = save(tiny_dcgan(), tmp_path / "ckpt")
    config = json.loads((path / "config.json").read_text())

    (path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="config.json is not valid JSON \\(line 1"):
        load(path)
    (path / "config.json").write_text(json.dumps({**config, "family": "stylegan9"}))
    with pytest.raises(CheckpointError, match="unknown model family 'stylegan9'.*dcgan"):
        load(path)
    (path / "config.json").write_text(json.dumps({**config, "colour": "blue"}))
    with pytest.raises(CheckpointError, match="colour"):
        load(path)
    (path / "config.json").unlink()
    with pytest.raises(CheckpointError, match="no config.json"):
        load(path)
    (path / "config.json").write_text(json.dumps(config))
    (path / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="model.safetensors is missing"):
        load(path)


def test_shape_mismatch_lists_keys_and_shapes(tmp_path):
    path = save(tiny_dcgan(width=4), tmp_path / "ckpt")
    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**config, "width": 8}))
    with pytest.raises(CheckpointError) as info:
        load(path)
    message = str(info.value)
    assert "tensors with the wrong shape" in message
    assert "generator." in message and "expected (" in message and "found (" in message
    assert message.count("expected (") == 5  # the first five, then "..."


def test_missing_and_unexpected_keys_are_listed(tmp_path):
    model = tiny_dcgan()
    path = save(model, tmp_path / "ckpt")
    state = load_file(path / "model.safetensors")
    dropped = sorted(state)[0]
    del state[dropped]
    state["extra.weight"] = torch.zeros(1)
    save_file(state, path / "model.safetensors")
    with pytest.raises(CheckpointError) as info:
        load(path)
    assert f"missing keys (1): {dropped}" in str(info.value)
    assert "unexpected keys (1): extra.weight" in str(info.value)


# ----------------------------------------------------------------------------- runs and names

def test_run_directory_picks_newest_complete_checkpoint(tmp_path):
    run = tmp_path / "runs" / "r1"
    (run / "checkpoints").mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"id": "r1", "status": "running"}))
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        load(run)
    models = {step: tiny_dcgan(step) for step in (100, 200, 300)}
    for step, model in models.items():
        save(model, run / "checkpoints" / f"step-{step:08d}")
    (run / "checkpoints" / "step-00000300" / "model.safetensors").unlink()  # still being written
    loaded = load(run, device="cpu")
    assert same_outputs(models[200], loaded.model)
    assert (loaded.meta["kind"], loaded.meta["step"], loaded.meta["run_id"]) == ("run", 200, "r1")


def test_unknown_source_lists_what_is_accepted():
    with pytest.raises(CheckpointError, match="not a checkpoint directory.*zoo name.*mnist-dcgan"):
        load("no-such-checkpoint")

