"""The one loader: ``load(source)`` opens every checkpoint source the studio meets.

A checkpoint directory, ``hf://org/repo[@rev]`` (studio.checkpoints.hub), a zoo name
(studio.checkpoints.zoo), a foreign state-dict file (.pth/.pt/.bin/.safetensors, rebuilt by
studio.checkpoints.interop) or a training run directory (its newest complete checkpoint).
Files are read through studio.checkpoints.format, which never unpickles code.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import NamedTuple

import torch

from studio.checkpoints import hub, zoo
from studio.checkpoints.format import (
    CONFIG_NAME,
    DISCRIMINATOR_PREFIX,
    INFERENCE_ONLY,
    MAX_BYTES,
    WEIGHT_SUFFIXES,
    WEIGHTS_NAME,
    is_complete,
    match_state_dict,
    model_from_config,
    read_config,
    read_state_dict,
)
from studio.checkpoints.hub import HUB_PREFIX
from studio.errors import CheckpointError

_STEP = re.compile(r"step-(\d+)")


class Loaded(NamedTuple):
    """What ``load`` returns: the model (eval mode) and its metadata (title, classes, metrics, ...)."""

    model: torch.nn.Module
    meta: dict


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
    a zoo name, a state-dict file (.pth/.pt/.bin/.safetensors) of a layout studio.checkpoints.interop
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
    if importlib.util.find_spec("studio.checkpoints.interop") is None:
        raise CheckpointError(f"{path.name} is a plain state dict, and the importer for foreign layouts "
                              "(studio.checkpoints.interop) is not installed")
    from studio.checkpoints import interop  # lazily: it builds the translation families

    model, description = interop.import_state_dict(state)
    return model, _meta(model, None, kind=kind, source=source, path=path, title=title, description=description)


def _load_zoo(name: str, max_bytes: int) -> tuple:
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


def _load_hub(source: str, max_bytes: int) -> tuple:
    repo_id, revision, folder = hub.fetch(source)
    model, meta = _load_directory(folder, max_bytes, kind="hub", source=source, title=repo_id)
    meta.update(repo_id=repo_id, revision=revision or "main", commit=folder.name)
    return model, meta
