"""The studio checkpoint format: writing a checkpoint, its model card, and reading its files safely.

A checkpoint is a directory in the layout ``huggingface_hub.PyTorchModelHubMixin`` writes, so
it can be pushed to and pulled from the Hub unchanged:

    config.json         the family's constructor arguments, ``"family"`` and a ``"studio"`` block
                        (title, image size, channels, class names, dataset, recipe, metrics, ...)
    model.safetensors   the weights; never a pickle
    README.md           a model card in Hub conventions (YAML front matter, samples, metrics)
    samples.png         optional sample grid

Nothing here unpickles code: safetensors first, otherwise ``torch.load(weights_only=True)``,
which refuses every object that is not a tensor or a plain container.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch

from studio.errors import CheckpointError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
INFERENCE_ONLY = "inference-only: generators without discriminators"
DISCRIMINATOR_PREFIX = "discriminator"
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")
MAX_BYTES = 2 * 1024**3  # refuse bigger files unless the caller raises the limit
PIPELINE_TAGS = {"unconditional": "unconditional-image-generation", "translation": "image-to-image",
                 "classifier": "image-classification", "segmentation": "image-segmentation"}


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
        for written in staging.iterdir():  # safetensors writes its file private (0600); others read a checkpoint
            os.chmod(written, 0o644)
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


def is_complete(directory) -> bool:
    """A checkpoint directory whose config and weights are both in place."""
    directory = Path(directory)
    return (directory / CONFIG_NAME).is_file() and (directory / WEIGHTS_NAME).is_file()
