"""The run directory: status file, event log, samples, atomic checkpoints and resumable state.

Layout (read by the studio checkpoint loader and the training tab, which only ever reads)::

    runs/<id>/run.json                 status, replaced atomically (temp file + os.replace)
    runs/<id>/events.jsonl             one JSON object per line, appended with one os.write each
    runs/<id>/samples/step-XXXXXXXX.png
    runs/<id>/checkpoints/step-XXXXXXXX/   studio checkpoint + training_state.{safetensors,json}
    runs/<id>/STOP                     file flag: finish the step, checkpoint, exit 0

Crash safety. Event lines are whole because each is a single ``os.write`` on an ``O_APPEND``
descriptor; a process killed inside that write can at worst leave one trailing partial line,
which ``read_events`` ignores. A checkpoint is written into ``checkpoints/.tmp-*`` and renamed to
``step-XXXXXXXX`` only when every file is on disk, so any ``step-*`` directory is complete.

Resume policy (events): on resume from the checkpoint at step S, ``events.jsonl`` is rewritten
(atomically) keeping only lines with ``step <= S`` and dropping a trailing partial line; the
steps after S are then trained again and logged once. Readers never need to de-duplicate.

Training state is saved without pickle: tensors (optimizer moments, RNG states) in
``training_state.safetensors``, everything else (step, data position, optimizer hyper-parameters)
in ``training_state.json``.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

CHECKPOINT_PREFIX = "step-"
STATE_TENSORS = "training_state.safetensors"
STATE_JSON = "training_state.json"
STATUSES = ("running", "finished", "stopped", "failed")


def step_name(step: int) -> str:
    return f"{CHECKPOINT_PREFIX}{step:08d}"


def new_run_id(recipe: str) -> str:
    """``<recipe>-YYYYmmdd-HHMMSS-<4 hex>``: sortable by time, unique across concurrent launches."""
    return f"{recipe}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the new one, never a mix."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _fsync_tree(directory: Path) -> None:
    for path in directory.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def _remove_tree(path: Path) -> None:
    """Rename first (atomic), then delete, so a half-deleted checkpoint never looks complete."""
    trash = path.with_name(f".trash-{path.name}-{os.getpid()}-{secrets.token_hex(2)}")
    try:
        os.rename(path, trash)
    except FileNotFoundError:
        return
    shutil.rmtree(trash, ignore_errors=True)


def _parse_lines(data: bytes) -> list[dict]:
    events = []
    lines = data.split(b"\n")
    for line in lines[:-1]:  # the last piece has no newline: empty, or a partial line from a crash
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a line torn by a crash before a resume is not data
        if isinstance(event, dict):
            events.append(event)
    return events


def read_events(run_dir: str | Path) -> list[dict]:
    """All whole event lines of ``run_dir/events.jsonl`` (a trailing partial line is ignored)."""
    path = Path(run_dir) / "events.jsonl"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    return _parse_lines(data)


def read_status(run_dir: str | Path) -> dict:
    """``run.json`` as a dict ({} if the run has not written it yet)."""
    try:
        return json.loads((Path(run_dir) / "run.json").read_text())
    except (FileNotFoundError, ValueError):
        return {}


def _json_default(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _json_line(event: dict) -> bytes:
    # allow_nan: a NaN loss is data (the "error" event explains it); Python's json reads NaN back
    return (json.dumps(event, default=_json_default, separators=(",", ":")) + "\n").encode()


class RunDir:
    """One training run's directory. Only the writing process (rank 0) creates one."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.samples = self.path / "samples"
        self.checkpoints = self.path / "checkpoints"
        self.events_path = self.path / "events.jsonl"
        self.status_path = self.path / "run.json"
        self.stop_path = self.path / "STOP"
        self._fd: int | None = None
        self._status: dict = {}

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def create(cls, path: str | Path) -> RunDir:
        run = cls(path)
        if run.path.exists() and any(run.path.iterdir()):
            raise FileExistsError(f"run directory {run.path} already exists: pass --resume {run.path} to continue it")
        run.samples.mkdir(parents=True, exist_ok=True)
        run.checkpoints.mkdir(parents=True, exist_ok=True)
        return run

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        run = cls(path)
        if not run.status_path.is_file():
            raise FileNotFoundError(f"{run.path} is not a training run directory (no run.json)")
        run.samples.mkdir(exist_ok=True)
        run.checkpoints.mkdir(exist_ok=True)
        run._status = read_status(run.path)
        return run

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # ------------------------------------------------------------------ status and events

    def write_status(self, **fields) -> None:
        """Merge ``fields`` into run.json and replace the file atomically."""
        self._status.update(fields)
        self._status["updated"] = time.time()
        data = json.dumps(self._status, default=_json_default, indent=2).encode()
        atomic_write_bytes(self.status_path, data)

    @property
    def status(self) -> dict:
        return dict(self._status)

    def append_event(self, event: dict) -> None:
        """Append one JSON line with a single ``os.write`` (whole line or, if killed, a trailing partial)."""
        if self._fd is None:
            self._fd = os.open(self.events_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        data = _json_line(event)
        written = os.write(self._fd, data)
        if written != len(data):  # only on a full disk; say so rather than leave a torn line silently
            raise OSError(f"short write to {self.events_path}: {written} of {len(data)} bytes")

    def truncate_events_after(self, step: int) -> None:
        """Keep event lines with ``step <= step`` (and no torn tail): the resume policy above."""
        self.close()
        try:
            data = self.events_path.read_bytes()
        except FileNotFoundError:
            return
        kept = [event for event in _parse_lines(data) if int(event.get("step", 0)) <= step]
        atomic_write_bytes(self.events_path, b"".join(_json_line(event) for event in kept))

    def stop_requested(self) -> bool:
        return self.stop_path.exists()

    def clear_stop(self) -> None:
        self.stop_path.unlink(missing_ok=True)

    # ------------------------------------------------------------------ samples

    def sample_path(self, step: int) -> Path:
        return self.samples / f"{step_name(step)}.png"

    def save_sample(self, step: int, png: bytes) -> Path:
        path = self.sample_path(step)
        atomic_write_bytes(path, png)
        return path

    # ------------------------------------------------------------------ checkpoints

    def list_checkpoints(self) -> list[tuple[int, Path]]:
        """Complete checkpoints as (step, path), oldest first."""
        found = []
        if self.checkpoints.is_dir():
            for path in self.checkpoints.iterdir():
                name = path.name
                if path.is_dir() and name.startswith(CHECKPOINT_PREFIX) and name[len(CHECKPOINT_PREFIX) :].isdigit():
                    found.append((int(name[len(CHECKPOINT_PREFIX) :]), path))
        return sorted(found)

    def latest_checkpoint(self) -> tuple[int, Path] | None:
        found = self.list_checkpoints()
        return found[-1] if found else None

    def remove_stale_temporaries(self) -> None:
        """Half-written checkpoints of a killed process (never renamed, so never loaded)."""
        if self.checkpoints.is_dir():
            for path in self.checkpoints.iterdir():
                if path.name.startswith((".tmp-", ".trash-")):
                    shutil.rmtree(path, ignore_errors=True)

    def remove_checkpoints_after(self, step: int) -> None:
        for saved, path in self.list_checkpoints():
            if saved > step:
                _remove_tree(path)

    def save_checkpoint(self, step: int, write: Callable[[Path], None], keep: int) -> Path:
        """Call ``write(tmp_dir)`` to fill a temporary directory, then rename it to ``step-XXXXXXXX``.

        Keeps the newest ``keep`` checkpoints (0 keeps all).
        """
        final = self.checkpoints / step_name(step)
        tmp = self.checkpoints / f".tmp-{step_name(step)}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            write(tmp)
            _fsync_tree(tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if final.exists():  # the same step saved twice (e.g. stop right after a periodic save)
            _remove_tree(final)
        os.rename(tmp, final)
        if keep > 0:
            for _, old in self.list_checkpoints()[:-keep]:
                _remove_tree(old)
        return final


# ---------------------------------------------------------------------------- training state


def flatten_optimizer(name: str, state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """``optimizer.state_dict()`` -> (tensors for safetensors, JSON-able rest)."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict] = {}
    for param_id, values in state["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{name}.{param_id}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(param_id), {})[key] = value
    groups = [{key: (list(value) if isinstance(value, tuple) else value) for key, value in group.items()} for group in state["param_groups"]]
    return tensors, {"param_groups": groups, "scalars": scalars}


def unflatten_optimizer(name: str, tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict] = {}
    prefix = f"optim.{name}."
    for key, value in tensors.items():
        if key.startswith(prefix):
            param_id, field = key[len(prefix) :].split(".", 1)
            state.setdefault(int(param_id), {})[field] = value
    for param_id, values in meta.get("scalars", {}).items():
        state.setdefault(int(param_id), {}).update(values)
    groups = [{key: (tuple(value) if key == "betas" else value) for key, value in group.items()} for group in meta["param_groups"]]
    return {"state": state, "param_groups": groups}


def capture_rng() -> tuple[dict[str, torch.Tensor], dict]:
    """Every RNG the step may draw from: torch (CPU and CUDA), numpy, Python."""
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for index, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{index}"] = state
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    tensors["rng.numpy"] = torch.from_numpy(np.asarray(keys, dtype=np.uint32).view(np.int32).copy())
    version, internal, gauss = random.getstate()
    meta = {
        "numpy": {"kind": kind, "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": {"version": version, "internal": list(internal), "gauss": gauss},
    }
    return tensors, meta


def restore_rng(tensors: dict[str, torch.Tensor], meta: dict) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    cuda = sorted((int(key.rsplit(".", 1)[1]), value) for key, value in tensors.items() if key.startswith("rng.cuda."))
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([state for _, state in cuda][: torch.cuda.device_count()])
    if "rng.numpy" in tensors and "numpy" in meta:
        n = meta["numpy"]
        keys = tensors["rng.numpy"].numpy().view(np.uint32)
        np.random.set_state((n["kind"], keys, n["pos"], n["has_gauss"], n["cached"]))
    if "python" in meta:
        p = meta["python"]
        random.setstate((p["version"], tuple(p["internal"]), p["gauss"]))


def save_training_state(directory: Path, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    save_file({key: value.contiguous() for key, value in tensors.items()}, str(directory / STATE_TENSORS))
    (directory / STATE_JSON).write_text(json.dumps(meta, default=_json_default))


def load_training_state(directory: Path) -> tuple[dict[str, torch.Tensor], dict]:
    tensors_path, json_path = directory / STATE_TENSORS, directory / STATE_JSON
    if not tensors_path.is_file() or not json_path.is_file():
        raise FileNotFoundError(f"{directory} has no training state ({STATE_TENSORS} + {STATE_JSON}): cannot resume from it")
    return load_file(str(tensors_path)), json.loads(json_path.read_text())
