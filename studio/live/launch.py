"""Starting, resuming and stopping training runs from a UI.

``start_run`` launches ``python -m training`` in a new session (so it outlives the page, the browser
tab and even the Streamlit server), writing into ``runs/<id>/``; the form's settings become
``--set key=value`` overrides of a recipe (training.recipes), checked before anything starts.
Uploaded image zips for ``folder-dcgan`` are stored once per content hash.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import inspect
import io
import json
import os
import re
import shlex
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from studio.checkpoints import sources as session
from studio.errors import DataError

from studio.live.runs import (LOG_NAME, STARTUP_TIMEOUT_S, LaunchError, Run, RunsBusy, _adopt_pending_log, _children,
                              _pending_log, busy, read_run, runs_root, tail_log)

REPO_ROOT = Path(__file__).resolve().parents[2]  # the training process runs here: `-m training` resolves
UPLOADS_DIR = "_uploads"  # uploaded image zips, one folder per content hash
MAX_DATA_UPLOAD_MB = session.MAX_UPLOAD_MB  # the same limit as Streamlit's server.maxUploadSize
FOLDER_RECIPE = "folder-dcgan"  # the recipe that trains on your own images (data_path)
IMAGE_SIZES = (28, 32, 64, 128)  # what the DCGAN-style families build (training/recipes.py)


# The knobs the training form shows: recipe fields (training.recipes.Recipe) and, where the
# family's constructor has them, model.<argument> keys. Their values become --set key=value.
FORM_FIELDS = ("loss", "lr_g", "lr_d", "beta1", "beta2", "batch_size", "image_size", "channels", "n_critic",
               "gp_weight", "label_smoothing", "instance_noise", "instance_noise_steps", "d_label_flip",
               "sample_every", "checkpoint_every", "seed", "data_path")
MODEL_FIELDS = ("width", "latent_dim")




# ----------------------------------------------------------------------------- settings -> command


def gan_recipes() -> dict[str, Any]:
    """Recipes the form offers: every GAN recipe of the engine (the classifier is not a GAN)."""
    from training.recipes import RECIPES

    return {name: recipe for name, recipe in RECIPES.items() if recipe.family != "classifier"}


def recipe_defaults(name: str) -> dict[str, Any]:
    """The form's starting values for recipe ``name``: its FORM_FIELDS, steps, and model.* knobs."""
    from studio.models import FAMILIES
    from training.recipes import get_recipe

    recipe = get_recipe(name)
    values = {field: getattr(recipe, field) for field in FORM_FIELDS}
    values["steps"] = recipe.steps
    parameters = inspect.signature(FAMILIES[recipe.family].__init__).parameters
    for field in MODEL_FIELDS:
        if field in parameters:  # InfoGAN has noise_dim instead of latent_dim, for instance
            values[f"model.{field}"] = recipe.model.get(field, parameters[field].default)
    return values


def overrides_for(name: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """The form's values that differ from recipe ``name``: what goes after ``--set`` (steps excluded)."""
    defaults = recipe_defaults(name)
    return {key: value for key, value in values.items()
            if key != "steps" and key in defaults and value != defaults[key]}


def format_value(value: Any) -> str:
    """A value as ``--set`` parses it (training.recipes.parse_value)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value)
    return repr(value) if isinstance(value, float) else str(value)


def resolve(name: str, overrides: Mapping[str, Any], steps: int | None = None, *, check_data: bool = True):
    """The engine's Recipe for these settings, validated here so a bad value fails on the page at
    once rather than in the log of a process. Raises ``training.recipes.RecipeError`` or DataError."""
    import dataclasses

    from training.recipes import apply_overrides, get_recipe, validate

    recipe = apply_overrides(get_recipe(name), [f"{k}={format_value(v)}" for k, v in overrides.items()])
    if steps is not None:
        recipe = dataclasses.replace(recipe, steps=int(steps))
    validate(recipe)
    if recipe.dataset == "folder" and check_data:
        check_data_path(recipe.data_path)
    return recipe


def build_command(name: str, overrides: Mapping[str, Any], *, out: Path, run_id: str,
                  steps: int | None = None, device: str | None = None) -> list[str]:
    """``python -m training NAME --out OUT --run-id ID [--steps N] [--device D] --set k=v ...``."""
    command = [sys.executable, "-m", "training", name, "--out", str(out), "--run-id", run_id, "--no-progress"]
    if steps is not None:
        command += ["--steps", str(int(steps))]
    if device:
        command += ["--device", device]
    for key, value in overrides.items():
        command += ["--set", f"{key}={format_value(value)}"]
    return command


def resume_command(run_dir: Path, *, steps: int | None = None, device: str | None = None) -> list[str]:
    command = [sys.executable, "-m", "training", "--resume", str(run_dir), "--no-progress"]
    if steps is not None:
        command += ["--steps", str(int(steps))]
    if device:
        command += ["--device", device]
    return command


def command_text(command: list[str]) -> str:
    """The command as a person would type it (``python`` rather than the venv's full path)."""
    return shlex.join(["python", *command[1:]] if command and command[0] == sys.executable else command)


# ----------------------------------------------------------------------------- data for custom runs


def check_data_path(text: str) -> Path:
    """A folder of images or a .zip on this server, or DataError saying what is wrong."""
    if not str(text).strip():
        raise DataError("type the path of a folder of images (or of a .zip) on the server")
    path = Path(str(text).strip()).expanduser()
    if path.is_dir() or (path.is_file() and path.suffix.lower() == ".zip"):
        return path
    what = "is not a folder or a .zip file" if path.exists() else "does not exist on the server"
    raise DataError(f"{path} {what}")


def save_data_upload(name: str, data: bytes, *, root: Path | None = None, max_bytes: int | None = None) -> Path:
    """Keep an uploaded zip of images in ``runs/_uploads/<hash>/`` (so resumed runs still find it).

    Only the size and the zip container are judged here; studio.data.image_folder reads the
    members safely (no extraction, zip-bomb limits) when the run starts.
    """
    max_bytes = MAX_DATA_UPLOAD_MB * 2**20 if max_bytes is None else max_bytes
    if Path(name).suffix.lower() != ".zip":
        raise DataError(f"{name!r} is not a .zip: zip a folder of images and upload that")
    if len(data) > max_bytes:
        raise DataError(f"{name!r} is {len(data) / 2**20:.1f} MB, over the upload limit of {max_bytes / 2**20:.0f} MB")
    if not data or not zipfile.is_zipfile(io.BytesIO(data)):
        raise DataError(f"{name!r} is not a readable zip archive")
    folder = (root or runs_root()) / UPLOADS_DIR / hashlib.sha256(data).hexdigest()[:16]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (re.sub(r"[^\w.-]", "_", Path(name).stem)[:80] + ".zip")
    if not path.exists():
        partial = path.with_suffix(".part")
        partial.write_bytes(data)
        os.replace(partial, path)
    return path


@contextlib.contextmanager
def _launch_lock(root: Path) -> Iterator[None]:
    """One launch at a time per runs folder, across sessions and servers: the busy check and the
    start are one step, so two viewers clicking Start together cannot both get through."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".launch.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _spawn(command: list[str], log: Path) -> subprocess.Popen:
    """Start the trainer in its own session (no signal from this server reaches it), output to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log, "ab") as handle:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=handle,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    _children[process.pid] = process
    return process


def _wait_for_start(process: subprocess.Popen, run_dir: Path, timeout: float) -> None:
    """Return once the process has written its pid into run.json (or finished a tiny run);
    raise LaunchError with its own words if it exits with an error first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = json.loads((run_dir / "run.json").read_text())
        except (OSError, ValueError):
            status = {}
        if status.get("pid") == process.pid:
            return
        code = process.poll()
        if code is not None:
            _adopt_pending_log(run_dir)
            if code == 0 and status:
                return  # a tiny run that finished before we looked
            lines = [line for line in tail_log(run_dir, 40).splitlines() if line.strip()]
            said = next((line for line in reversed(lines) if line.startswith("error:")), lines[-1] if lines else "")
            if not run_dir.exists():  # refused before making its run: the message below is all there is
                _pending_log(run_dir).unlink(missing_ok=True)
            raise LaunchError(f"the training process exited with code {code}: {said.removeprefix('error: ')}")
        time.sleep(0.05)
    # Still importing on a slow machine: it keeps starting, and list_runs shows it once it writes run.json.


def start_run(name: str, overrides: Mapping[str, Any] | None = None, *, steps: int | None = None,
              device: str | None = None, root: Path | None = None, run_id: str | None = None,
              limit: int | None = None, timeout: float = STARTUP_TIMEOUT_S) -> Run:
    """Validate the settings, then launch ``python -m training`` for a new run; returns it.

    Raises RecipeError / DataError (bad settings), RunsBusy, or LaunchError (the process failed).
    """
    from training.runs import new_run_id

    overrides = dict(overrides or {})
    resolve(name, overrides, steps)
    root = runs_root() if root is None else Path(root).resolve()
    run_id = run_id or new_run_id(name)
    if not re.fullmatch(r"[\w.-]+", run_id) or run_id.startswith((".", "_")):
        raise LaunchError(f"run id {run_id!r}: use letters, digits, '-', '_' and '.', not starting with '.' or '_'")
    run_dir = root / run_id
    if run_dir.exists():
        raise LaunchError(f"{run_dir} already exists: resume it instead")
    with _launch_lock(root):
        reason = busy(root, limit)
        if reason:
            raise RunsBusy(reason)
        command = build_command(name, overrides, out=root, run_id=run_id, steps=steps, device=device)
        process = _spawn(command, _pending_log(run_dir))
        _wait_for_start(process, run_dir, timeout)
    return read_run(run_dir)


def resume_run(run_dir: str | Path, *, steps: int | None = None, device: str | None = None,
               limit: int | None = None, timeout: float = STARTUP_TIMEOUT_S) -> Run:
    """Continue a stopped, finished, failed or died run from its newest checkpoint
    (``python -m training --resume runs/<id>``); ``steps`` may raise its total."""
    run_dir = Path(run_dir).resolve()
    with _launch_lock(run_dir.parent):
        run = read_run(run_dir)
        if run.live:
            raise LaunchError(f"{run.id} is still {run.status}: stop it before resuming")
        if not run.can_resume:
            raise LaunchError(f"{run_dir} has no run.json with a recipe: it cannot be resumed")
        reason = busy(run_dir.parent, limit)
        if reason:
            raise RunsBusy(reason)
        process = _spawn(resume_command(run_dir, steps=steps, device=device), run_dir / LOG_NAME)
        _wait_for_start(process, run_dir, timeout)
    return read_run(run_dir)


def stop_run(run_dir: str | Path) -> None:
    """Ask the trainer to stop: it finishes the step, writes a checkpoint and exits (the STOP flag)."""
    (Path(run_dir) / "STOP").touch()
