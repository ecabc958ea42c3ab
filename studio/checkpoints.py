"""The studio checkpoint format and the one loader.

A checkpoint is a directory in the layout ``huggingface_hub.PyTorchModelHubMixin`` writes, so
it can be pushed to and pulled from the Hub unchanged:

    config.json         the family's constructor arguments, ``"family"`` and a ``"studio"`` block
                        (title, image size, channels, class names, dataset, recipe, metrics, ...)
    model.safetensors   the weights; never a pickle
    README.md           a model card in Hub conventions (YAML front matter, samples, metrics)
    samples.png         optional sample grid

``load`` opens every source the studio meets: a checkpoint directory, ``hf://org/repo[@rev]``,
a zoo name, a foreign state-dict file (.pth/.pt/.bin/.safetensors, rebuilt by studio.interop)
or a training run directory (its newest complete checkpoint).

Nothing here unpickles code: safetensors first, otherwise ``torch.load(weights_only=True)``,
which refuses every object that is not a tensor or a plain container.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import re
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import safetensors.torch
import torch

from studio.errors import CheckpointError

HUB_PREFIX = "hf://"
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
INFERENCE_ONLY = "inference-only: generators without discriminators"
DISCRIMINATOR_PREFIX = "discriminator"
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")
MAX_BYTES = 2 * 1024**3  # refuse bigger files unless the caller raises the limit
# Files worth fetching from a Hub repo; a community repo may also hold notebooks, images, logs.
HUB_PATTERNS = [CONFIG_NAME, "README.md", "samples.png", "*.safetensors", "*.bin", "*.pth", "*.pt"]
PIPELINE_TAGS = {"unconditional": "unconditional-image-generation", "translation": "image-to-image",
                 "classifier": "image-classification", "segmentation": "image-segmentation"}

# Hub names: letters, digits, "-", "_", "." ; no "--" or ".." (the Hub forbids both).
_HUB_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
_REPO_ID = re.compile(rf"{_HUB_NAME}/{_HUB_NAME}")
_REVISION = re.compile(r"[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*")
_COMMIT = re.compile(r"[0-9a-f]{40}")
_STEP = re.compile(r"step-(\d+)")


class Loaded(NamedTuple):
    model: torch.nn.Module
    meta: dict


# ----------------------------------------------------------------------------- saving

def save(model, directory, *, metadata: dict | None = None, samples: np.ndarray | None = None,
         inference_only: bool = False) -> Path:
    """Write ``model`` as a checkpoint directory and return its path.

    Files are written into a temporary directory next to ``directory`` and moved in with
    ``os.replace``, so a killed process leaves either the old files or the new ones.
    ``inference_only`` leaves out the discriminators (``discriminator*`` tensors), which only
    training needs: a bundled CycleGAN shrinks from 20 MB to its two generators. Loading such a
    checkpoint gives freshly initialised discriminators and says so in ``meta["weights"]``.
    """
    directory = Path(directory)
    family = getattr(type(model), "family", "")
    if not family or not hasattr(model, "save_pretrained"):
        raise CheckpointError(f"{type(model).__name__} is not a studio model family: it cannot be saved")
    studio = _studio_block(model, {**(metadata or {}), **({"weights": INFERENCE_ONLY} if inference_only else {})})
    config = _jsonable({**model.config, "family": family, "studio": studio})
    image = None if samples is None else _samples_image(samples)

    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".tmp", dir=directory.parent))
    try:
        model.save_pretrained(staging, config=config)  # model.safetensors + config.json
        if inference_only:
            kept = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()
                    if not k.startswith(DISCRIMINATOR_PREFIX)}
            safetensors.torch.save_file(kept, staging / WEIGHTS_NAME, metadata={"format": "pt"})
        if image is not None:
            image.save(staging / "samples.png")
        (staging / "README.md").write_text(model_card(model, config, has_samples=image is not None),
                                           encoding="utf-8")
        if not directory.exists():
            os.chmod(staging, 0o755)  # mkdtemp made it private
            try:
                os.rename(staging, directory)  # the whole checkpoint appears at once
                return directory
            except OSError:
                pass  # created meanwhile: fall through to file-by-file
        directory.mkdir(exist_ok=True)
        if image is None:
            (directory / "samples.png").unlink(missing_ok=True)  # would show the old weights' samples
        # weights last: a reader that sees model.safetensors also sees the config that goes with it
        for name in (CONFIG_NAME, "README.md", "samples.png", WEIGHTS_NAME):
            if (staging / name).exists():
                os.replace(staging / name, directory / name)
        return directory
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _studio_block(model, metadata: dict | None) -> dict:
    config = model.config
    num_classes = getattr(model, "num_classes", None) or config.get("num_classes") or 0
    block = {
        "title": f"{model.family} ({model.task})" if model.task else model.family,
        "image_size": getattr(model, "image_size", None) or config.get("image_size"),
        "channels": getattr(model, "channels", None) or config.get("channels"),
        "class_names": [str(i) for i in range(int(num_classes))],
        "dataset": None, "recipe": None, "metrics": {}, "license": "mit", "description": "",
    }
    block.update(metadata or {})
    if not isinstance(block["metrics"], dict):
        raise CheckpointError(f"metadata['metrics'] must be a dict of name -> number, got {block['metrics']!r}")
    return block


def _jsonable(value: Any) -> Any:
    def convert(obj):
        if isinstance(obj, (np.generic, torch.Tensor)) and np.ndim(obj) == 0:
            return obj.item()
        if isinstance(obj, (np.ndarray, torch.Tensor, tuple, set)):
            return list(obj.tolist() if hasattr(obj, "tolist") else obj)
        if isinstance(obj, Path):
            return str(obj)
        raise CheckpointError(f"checkpoint config holds {type(obj).__name__} {obj!r}, which JSON cannot store")
    return json.loads(json.dumps(value, default=convert))


def _samples_image(samples: np.ndarray):
    from PIL import Image

    samples = np.asarray(samples)
    if samples.dtype != np.uint8 or samples.ndim not in (2, 3) or (
            samples.ndim == 3 and samples.shape[2] not in (1, 3, 4)):
        raise CheckpointError(f"samples must be a uint8 (H, W, C) grid with C in 1, 3, 4; "
                              f"got {samples.dtype} {samples.shape}")
    return Image.fromarray(samples[..., 0] if samples.ndim == 3 and samples.shape[2] == 1 else samples)


def model_card(model, config: dict, *, has_samples: bool = False) -> str:
    """README.md text: Hub YAML front matter, then samples, facts and metrics."""
    from huggingface_hub import EvalResult, ModelCardData

    studio = config.get("studio", {})
    metrics = {k: v for k, v in studio.get("metrics", {}).items() if isinstance(v, (int, float))}
    dataset = studio.get("dataset")
    task = getattr(model, "task", "")
    tags = sorted({"gan-studio", model.family, "pytorch_model_hub_mixin", "model_hub_mixin"}
                  | ({task} if task else set()) | ({"gan"} if hasattr(model, "generator") else set()))
    license_id = str(studio.get("license") or "").lower() or None  # Hub license ids are lower case
    card = ModelCardData(
        library_name="gan-studio", tags=tags, license=license_id,
        datasets=[dataset] if dataset else None, metrics=sorted(metrics) or None,
        pipeline_tag=PIPELINE_TAGS.get(task),
    )
    if dataset and metrics:
        card.model_name = studio.get("title")
        card.eval_results = [EvalResult(task_type=PIPELINE_TAGS.get(task, "other"), dataset_type=dataset,
                                        dataset_name=dataset, metric_type=name, metric_value=value)
                             for name, value in sorted(metrics.items())]
    lines = ["---", card.to_yaml(), "---", "", f"# {studio.get('title') or model.family}", ""]
    if studio.get("description"):
        lines += [studio["description"], ""]
    if has_samples:
        lines += ["![samples](samples.png)", ""]
    size, channels = studio.get("image_size"), studio.get("channels")
    facts = [("Family", f"`{model.family}` ({task})"),
             ("Image size", f"{size} x {size}, {channels} channel(s)" if size else None),
             ("Classes", ", ".join(map(str, studio.get("class_names") or [])) or None),
             ("Dataset", dataset), ("Recipe", studio.get("recipe")), ("License", studio.get("license"))]
    lines += ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in facts if v] + [""]
    lines += ["## Metrics", ""]
    if metrics:
        lines += ["| Metric | Value |", "|---|---|"] + [f"| {k} | {v:.4g} |" for k, v in sorted(metrics.items())]
    else:
        lines += ["Not measured yet."]
    lines += ["", "## Usage", "", "```python", "from studio.checkpoints import load", "",
              'model, meta = load("path/to/this/checkpoint")  # or "hf://org/repo"', "```", ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- reading files

def read_config(directory) -> dict:
    """The parsed config.json of a checkpoint directory (or the file itself)."""
    path = Path(directory)
    if path.is_dir():
        path = path / CONFIG_NAME
    if not path.is_file():
        raise CheckpointError(f"{path} is missing: a checkpoint directory needs {CONFIG_NAME} next to {WEIGHTS_NAME}")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path} is not valid JSON (line {err.lineno}, column {err.colno}: {err.msg}); "
                              "fix the file or save the checkpoint again") from err
    except UnicodeDecodeError as err:
        raise CheckpointError(f"{path} is not a UTF-8 text file; save the checkpoint again") from err
    if not isinstance(config, dict):
        raise CheckpointError(f"{path} must hold a JSON object, found a {type(config).__name__}")
    return config


def read_state_dict(path, *, max_bytes: int = MAX_BYTES) -> dict[str, torch.Tensor]:
    """A flat dict of CPU tensors read without running any code from the file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in WEIGHT_SUFFIXES:
        raise CheckpointError(f"{path.name}: unsupported weights file type {suffix or '(none)'!r}; "
                              f"expected one of {', '.join(WEIGHT_SUFFIXES)}")
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist")
    size = path.stat().st_size
    if size > max_bytes:
        raise CheckpointError(f"{path} is {size / 2**30:.2f} GiB, over the {max_bytes / 2**30:.2f} GiB limit; "
                              "pass a larger max_bytes if you expect a file this big")
    if size == 0:
        raise CheckpointError(f"{path} is empty (an interrupted download or save?)")
    if suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            payload = load_file(path, device="cpu")
        except Exception as err:  # the Rust reader raises its own SafetensorError
            raise CheckpointError(f"{path} is not a readable safetensors file, it is truncated or corrupt "
                                  f"({err}); download or save it again") from err
    else:
        payload = _torch_load(path)
    return _check_tensors(payload, path)


def _torch_load(path: Path):
    with open(path, "rb") as file:
        head = file.read(4)
    if head != b"PK\x03\x04" and head[:1] != b"\x80":  # torch's zip archive, or a bare pickle
        raise CheckpointError(f"{path} is not a PyTorch weights file (neither a torch zip archive nor a "
                              "pickle): it is truncated, corrupt or of another format")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # protocol notes about the file, not actionable here
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL ([\w.]+)", str(err))
        what = f"it references the Python callable {found.group(1)}" if found else \
            f"it is corrupt or holds Python objects other than tensors ({_last_line(err)})"
        raise CheckpointError(
            f"refused to load {path}: {what}. Only plain state dicts of tensors are read "
            "(torch.load with weights_only=True), so nothing in the file was run. If the file is yours, "
            "save model.state_dict() again, preferably as .safetensors") from err
    except Exception as err:  # zip errors, bad magic numbers, decode errors, EOF...
        raise CheckpointError(f"{path} is not a readable PyTorch weights file, it is truncated or corrupt "
                              f"({type(err).__name__}: {str(err)[:200]})") from err


def _last_line(err: Exception) -> str:
    # torch's message ends with the unpickler's reason, after advice we must not give (weights_only=False)
    lines = [line.strip() for line in str(err).splitlines() if line.strip() and "weights_only" not in line
             and not line.startswith(("Check the documentation", "Please file an issue"))]
    return lines[-1][:200] if lines else type(err).__name__


def _check_tensors(payload, path: Path) -> dict[str, torch.Tensor]:
    # Lightning-style files nest the weights under "state_dict"
    if isinstance(payload, dict) and isinstance(payload.get("state_dict"), dict):
        payload = payload["state_dict"]
    if not isinstance(payload, dict):
        raise CheckpointError(f"{path} holds a {type(payload).__name__}, not a state dict (name -> tensor)")
    bad = [f"{k!r} ({type(v).__name__})" for k, v in payload.items()
           if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{path} is not a plain state dict: {len(bad)} entries are not tensors, "
                              f"e.g. {', '.join(bad[:5])}")
    if not payload:
        raise CheckpointError(f"{path} holds no tensors")
    return dict(payload)


# ----------------------------------------------------------------------------- building models

def model_from_config(config: dict):
    """An untrained model of the family named in ``config`` (a config.json) with its arguments."""
    from studio import models  # at call time: a model family may import this module

    if "family" not in config:
        raise CheckpointError(f'config.json has no "family" key, so the model cannot be rebuilt; add '
                              f'"family": one of {", ".join(sorted(models.FAMILIES))}')
    return models.build(config["family"], config)  # CheckpointError naming the known families


def match_state_dict(model: torch.nn.Module, state: dict[str, torch.Tensor], origin: str) -> None:
    """Load ``state`` into ``model`` strictly; on any mismatch say which keys and shapes differ."""
    expected = model.state_dict()
    state = dict(state)
    # safetensors' save_model stores a tensor shared by several names once: restore the aliases
    by_storage: dict[tuple, list[str]] = {}
    for key, tensor in expected.items():
        by_storage.setdefault((tensor.data_ptr(), tuple(tensor.shape)), []).append(key)
    for names in by_storage.values():
        present = [n for n in names if n in state]
        for name in names:
            if name not in state and present and expected[name].numel():
                state[name] = state[present[0]]
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"  {k}: expected {tuple(expected[k].shape)}, found {tuple(state[k].shape)}"
             for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        family = getattr(model, "family", type(model).__name__)
        parts = [f"{origin} does not fit the {family} model its config describes:"]
        if wrong:
            parts += [f"tensors with the wrong shape ({len(wrong)}):", *wrong[:5], *(["  ..."] * (len(wrong) > 5))]
        if missing:
            parts.append(f"missing keys ({len(missing)}): {_head(missing)}")
        if unexpected:
            parts.append(f"unexpected keys ({len(unexpected)}): {_head(unexpected)}")
        raise CheckpointError("\n".join(parts))
    model.load_state_dict(state, strict=True)


def _head(items: list[str], n: int = 5) -> str:
    return ", ".join(items[:n]) + (", ..." if len(items) > n else "")


def _meta(model, studio: dict | None, *, kind: str, source, path: Path, title: str,
          description: str = "") -> dict:
    studio = studio or {}
    config = getattr(model, "config", {}) or {}
    num_classes = getattr(model, "num_classes", None) or config.get("num_classes") or 0
    meta = {
        "family": getattr(model, "family", ""), "task": getattr(model, "task", ""),
        "source": str(source), "kind": kind,
        "title": studio.get("title") or title,
        "image_size": studio.get("image_size") or getattr(model, "image_size", None) or config.get("image_size"),
        "channels": studio.get("channels") or getattr(model, "channels", None) or config.get("channels"),
        "class_names": list(studio.get("class_names") or [str(i) for i in range(int(num_classes))]),
        "dataset": studio.get("dataset"), "recipe": studio.get("recipe"),
        "metrics": dict(studio.get("metrics") or {}), "license": studio.get("license"),
        "description": studio.get("description") or description, "path": str(path),
    }
    return {**{k: v for k, v in studio.items() if k not in meta}, **meta}


# ----------------------------------------------------------------------------- loading

def load(source, device=None, *, max_bytes: int = MAX_BYTES) -> Loaded:
    """Open any checkpoint source; the model comes back in eval mode on ``device``.

    ``source``: a checkpoint directory, ``"hf://org/repo"`` or ``"hf://org/repo@revision"``,
    a zoo name, a state-dict file (.pth/.pt/.bin/.safetensors) of a layout studio.interop
    recognises, or a training run directory (``runs/<id>/``). Weight files over ``max_bytes``
    are refused. Raises CheckpointError with a message a user can act on.
    """
    if isinstance(source, str) and source.startswith(HUB_PREFIX):
        model, meta = _load_hub(source, max_bytes)
    else:
        path = Path(source).expanduser()
        if path.is_dir() and _is_run_dir(path):
            model, meta = _load_run(path, max_bytes)
        elif path.is_dir():
            model, meta = _load_directory(path, max_bytes, kind="directory", source=source, title=path.name)
        elif path.is_file() and path.name == WEIGHTS_NAME and (path.parent / CONFIG_NAME).is_file():
            model, meta = _load_directory(path.parent, max_bytes, kind="directory", source=source,
                                          title=path.parent.name)
        elif path.is_file():
            model, meta = _load_file(path, max_bytes, kind="file", source=source, title=path.name)
        else:
            model, meta = _load_zoo(str(source), max_bytes)
    device = torch.device(device) if device is not None else \
        torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return Loaded(model.to(device).eval(), meta)


def _load_directory(path: Path, max_bytes: int, *, kind: str, source, title: str) -> tuple:
    """(model, meta) from a studio checkpoint folder, or from a folder holding one foreign state dict."""
    config = read_config(path) if (path / CONFIG_NAME).is_file() else None
    if config is not None and "family" in config:
        weights = path / WEIGHTS_NAME
        if not weights.is_file() and (path / "pytorch_model.bin").is_file():
            weights = path / "pytorch_model.bin"  # written by older save_pretrained versions
        if not weights.is_file():
            raise CheckpointError(f"{path} has {CONFIG_NAME} but {WEIGHTS_NAME} is missing")
        model = model_from_config(config)
        state = read_state_dict(weights, max_bytes=max_bytes)
        if (config.get("studio") or {}).get("weights") == INFERENCE_ONLY:  # no discriminators: keep fresh ones
            state = {**{k: v for k, v in model.state_dict().items() if k.startswith(DISCRIMINATOR_PREFIX)}, **state}
        match_state_dict(model, state, str(weights))
        return model, _meta(model, config.get("studio"), kind=kind, source=source, path=path, title=title)

    # No studio config: maybe a community repo or folder holding a foreign state dict.
    weights = _weights_file(path)
    if weights is None:
        if config is not None:
            model_from_config(config)  # raises the clear "no family" error
        raise CheckpointError(f"{path} is not a checkpoint: {CONFIG_NAME} and {WEIGHTS_NAME} are missing")
    try:
        return _load_file(weights, max_bytes, kind=kind, source=source, title=title)
    except CheckpointError as err:
        if config is not None:
            raise CheckpointError(f'{path / CONFIG_NAME} has no "family" key, so it is not a studio checkpoint, '
                                  f"and {weights.name} is not a layout studio can import either: {err}") from err
        raise CheckpointError(f"{path} has no {CONFIG_NAME} (a studio checkpoint needs one next to the weights), "
                              f"and {weights.name} is not a layout studio can import either: {err}") from err


def _weights_file(path: Path) -> Path | None:
    for name in (WEIGHTS_NAME, "pytorch_model.bin"):
        if (path / name).is_file():
            return path / name
    found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in WEIGHT_SUFFIXES)
    if len(found) > 1:
        raise CheckpointError(f"{path} holds several weight files ({', '.join(p.name for p in found)}): "
                              "load one of them by its path")
    return found[0] if found else None


def _load_file(path: Path, max_bytes: int, *, kind: str, source, title: str) -> tuple:
    state = read_state_dict(path, max_bytes=max_bytes)
    if importlib.util.find_spec("studio.interop") is None:
        raise CheckpointError(f"{path.name} is a plain state dict, and the importer for foreign layouts "
                              "(studio.interop) is not installed")
    from studio import interop  # lazily: it builds the translation families

    model, description = interop.import_state_dict(state)
    return model, _meta(model, None, kind=kind, source=source, path=path, title=title, description=description)


def _load_zoo(name: str, max_bytes: int) -> tuple:
    from studio import zoo

    if name not in zoo.names():
        raise CheckpointError(f"{name!r} is not a checkpoint directory, a weights file, an hf://org/repo id "
                              f"or a zoo name (the zoo lists: {', '.join(e.name for e in zoo.entries())})")
    entry = zoo.get(name)
    if entry.is_hub:
        model, meta = _load_hub(entry.hub_id, max_bytes)
    else:
        if entry.availability != "bundled":
            raise CheckpointError(f"zoo checkpoint {name!r} is listed, but {entry.path} holds no complete "
                                  f"checkpoint ({CONFIG_NAME} + {WEIGHTS_NAME}); it has not been trained yet")
        model, meta = _load_directory(entry.path, max_bytes, kind="zoo", source=name, title=entry.title)
    meta.update(kind="zoo", source=name, zoo=name, title=entry.title)
    meta["dataset"] = meta.get("dataset") or entry.dataset or None
    meta["license"] = meta.get("license") or entry.license or None
    meta["description"] = meta.get("description") or entry.description
    return model, meta


# ----------------------------------------------------------------------------- runs

def is_complete(directory) -> bool:
    """A checkpoint directory whose config and weights are both in place."""
    directory = Path(directory)
    return (directory / CONFIG_NAME).is_file() and (directory / WEIGHTS_NAME).is_file()


def _is_run_dir(path: Path) -> bool:
    return (path / "run.json").is_file() or any((path / "checkpoints").glob("step-*"))


def latest_checkpoint(run_dir) -> Path:
    """The newest complete checkpoint in ``runs/<id>/checkpoints/`` (highest step)."""
    run_dir = Path(run_dir)
    folder = run_dir / "checkpoints"
    candidates = [d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")] \
        if folder.is_dir() else []
    complete = [d for d in candidates if is_complete(d)]
    if not complete:
        pending = f" ({len(candidates)} incomplete)" if candidates else ""
        raise CheckpointError(f"training run {run_dir} has no complete checkpoint yet{pending}; "
                              "wait for the first checkpoint or pick another run")

    def order(d: Path):
        step = _STEP.fullmatch(d.name)
        return (int(step.group(1)) if step else -1, (d / WEIGHTS_NAME).stat().st_mtime)
    return max(complete, key=order)


def _load_run(run_dir: Path, max_bytes: int) -> tuple:
    checkpoint = latest_checkpoint(run_dir)
    model, meta = _load_directory(checkpoint, max_bytes, kind="run", source=run_dir,
                                  title=f"{run_dir.name} / {checkpoint.name}")
    step = _STEP.fullmatch(checkpoint.name)
    meta.update(run_id=run_dir.name, checkpoint=str(checkpoint), step=int(step.group(1)) if step else None)
    return model, meta


# ----------------------------------------------------------------------------- the Hub

def parse_hub_id(source: str) -> tuple[str, str | None]:
    """``"hf://org/repo@rev"`` -> ``("org/repo", "rev")``; rejects anything that could leave the cache."""
    if not source.startswith(HUB_PREFIX):
        raise CheckpointError(f"{source!r} is not a Hub id: write hf://org/repo or hf://org/repo@revision")
    repo_id, at, revision = source[len(HUB_PREFIX):].partition("@")
    if not _REPO_ID.fullmatch(repo_id) or ".." in repo_id or "--" in repo_id:
        raise CheckpointError(f"{source!r}: {repo_id!r} is not a valid Hub repo id (org/name, letters, digits, "
                              "'-', '_', '.'; no '..', no '--', no absolute paths)")
    if at and (not revision or len(revision) > 255 or not _REVISION.fullmatch(revision)
               or ".." in revision.split("/")):
        raise CheckpointError(f"{source!r}: {revision!r} is not a valid revision (a branch, tag or commit hash)")
    return repo_id, (revision or None)


def hub_offline() -> bool:
    """HF_HUB_OFFLINE as it is now (huggingface_hub reads it once, at import)."""
    from huggingface_hub import constants

    value = os.environ.get("HF_HUB_OFFLINE", os.environ.get("TRANSFORMERS_OFFLINE"))
    if value is None:
        return bool(constants.HF_HUB_OFFLINE)
    return value.strip().upper() in {"1", "ON", "YES", "TRUE"}


def hub_cache_dir() -> Path:
    """The Hugging Face cache as the environment names it now (HF_HUB_CACHE, then HF_HOME)."""
    from huggingface_hub import constants

    env = os.environ
    if env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE"):
        folder = env.get("HF_HUB_CACHE") or env["HUGGINGFACE_HUB_CACHE"]
    elif env.get("HF_HOME"):
        folder = os.path.join(env["HF_HOME"], "hub")
    else:
        folder = constants.HF_HUB_CACHE
    return Path(os.path.expandvars(os.path.expanduser(folder)))


def cached_snapshot(repo_id: str, revision: str | None = None) -> Path | None:
    """The cached snapshot folder of ``repo_id`` at ``revision`` (default main), or None."""
    repo_dir = hub_cache_dir() / ("models--" + repo_id.replace("/", "--"))
    revision = revision or "main"
    if _COMMIT.fullmatch(revision):
        commit = revision
    else:
        ref = repo_dir / "refs" / revision
        if ".." in revision.split("/") or not ref.is_file():
            return None
        commit = ref.read_text(encoding="utf-8").strip()
    snapshot = repo_dir / "snapshots" / commit
    return snapshot if _COMMIT.fullmatch(commit) and snapshot.is_dir() and any(snapshot.iterdir()) else None


def _load_hub(source: str, max_bytes: int) -> tuple:
    repo_id, revision = parse_hub_id(source)
    folder = _download(repo_id, revision)
    for file in folder.rglob("*"):
        _check_relative(file.relative_to(folder).as_posix(), source)
    model, meta = _load_directory(folder, max_bytes, kind="hub", source=source, title=repo_id)
    meta.update(repo_id=repo_id, revision=revision or "main", commit=folder.name)
    return model, meta


def _check_relative(name: str, source: str) -> None:
    if name.startswith(("/", "\\")) or "\\" in name or ".." in name.split("/") or re.match(r"[A-Za-z]:", name):
        raise CheckpointError(f"{source}: refusing file name {name!r} (absolute path or '..')")


def _download(repo_id: str, revision: str | None) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (HfHubHTTPError, HFValidationError, IncompleteSnapshotError,
                                        LocalEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError)

    label = f"hf://{repo_id}" + (f"@{revision}" if revision else "")
    cache, offline = hub_cache_dir(), hub_offline()
    try:
        # cache_dir and local_files_only from the environment now: huggingface_hub froze both at import
        folder = snapshot_download(repo_id, revision=revision, cache_dir=cache, local_files_only=offline,
                                   allow_patterns=HUB_PATTERNS)
        return Path(folder)
    except IncompleteSnapshotError as err:
        raise CheckpointError(f"the cached copy of {label} in {cache} is incomplete; "
                              + ("set HF_HUB_OFFLINE=0 and connect to finish the download" if offline
                                 else "connect to the network to finish the download")) from err
    except RevisionNotFoundError as err:
        raise CheckpointError(f"{label}: revision {revision!r} does not exist on the Hub "
                              "(check the branch, tag or commit hash)") from err
    except RepositoryNotFoundError as err:
        raise CheckpointError(f"{label}: repository {repo_id} was not found on the Hub, or it is private or "
                              "gated (log in with `hf auth login`)") from err
    except LocalEntryNotFoundError as err:
        repo_dir = cache / ("models--" + repo_id.replace("/", "--"))
        if not offline:
            raise CheckpointError(f"{label} could not be downloaded (the Hub is unreachable) and is not in the "
                                  f"local cache {cache}; check the network connection") from err
        if repo_dir.is_dir():
            refs = sorted(p.relative_to(repo_dir / "refs").as_posix() for p in (repo_dir / "refs").rglob("*")
                          if p.is_file()) if (repo_dir / "refs").is_dir() else []
            commits = sorted(p.name for p in (repo_dir / "snapshots").iterdir()) \
                if (repo_dir / "snapshots").is_dir() else []
            raise CheckpointError(
                f"{label}: unknown revision {revision or 'main'!r}: it is not in the local Hugging Face cache "
                f"({cache}), which holds {', '.join(refs + commits) or 'no revisions'} of {repo_id}. "
                "HF_HUB_OFFLINE=1, so the network is needed to look it up: set HF_HUB_OFFLINE=0") from err
        raise CheckpointError(f"{label} is not in the local Hugging Face cache ({cache}) and HF_HUB_OFFLINE=1: "
                              "the network is needed to download it once; set HF_HUB_OFFLINE=0 and connect") from err
    except HFValidationError as err:
        raise CheckpointError(f"{label} is not a valid Hub id: {err}") from err
    except (HfHubHTTPError, OSError) as err:
        raise CheckpointError(f"{label} could not be downloaded: {err}") from err
