"""Live training runs for the UIs: start, stop, resume and list runs of the training engine, read
their event logs as they grow, and turn them into device facts and health signals a learner can read.

The training tab never trains in its own process. ``start_run`` launches ``python -m training``
in a new session (so it outlives the page, the browser tab and even the Streamlit server), writing
into ``runs/<id>/`` (layout: ``training/runs.py``); everything else here only *reads* that
directory. A refresh, a second viewer or a crashed page therefore loses nothing.

Vocabulary from Goodfellow et al. 2014, "Generative Adversarial Nets" (arXiv:1406.2661):
D(x) is the discriminator's probability that a real image is real, D(G(z)) the same for a
generated one. At the game's equilibrium D cannot tell them apart: both are 1/2, and the BCE
discriminator loss is 2 ln 2.

Nothing here imports a UI; results are plain data (dataclasses, dicts, lists).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import inspect
import io
import json
import math
import os
import re
import shlex
import statistics
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio import session
from studio.errors import DataError

REPO_ROOT = Path(__file__).resolve().parent.parent  # the training process runs here: `-m training` resolves
MAX_RUNS_ENV = "GAN_STUDIO_MAX_RUNS"  # live runs allowed at once on this server (default 1)
LOG_NAME = "log.txt"  # the training process's stdout and stderr, inside its run directory
PENDING_DIR = ".launch"  # logs of processes that have not created their run directory yet
UPLOADS_DIR = "_uploads"  # uploaded image zips, one folder per content hash
MAX_DATA_UPLOAD_MB = session.MAX_UPLOAD_MB  # the same limit as Streamlit's server.maxUploadSize
STARTUP_TIMEOUT_S = 120.0  # importing torch on a busy 2-core machine can take a while
FOLDER_RECIPE = "folder-dcgan"  # the recipe that trains on your own images (data_path)
IMAGE_SIZES = (28, 32, 64, 128)  # what the DCGAN-style families build (training/recipes.py)

# The knobs the training form shows: recipe fields (training.recipes.Recipe) and, where the
# family's constructor has them, model.<argument> keys. Their values become --set key=value.
FORM_FIELDS = ("loss", "lr_g", "lr_d", "beta1", "beta2", "batch_size", "image_size", "channels", "n_critic",
               "gp_weight", "label_smoothing", "instance_noise", "instance_noise_steps", "d_label_flip",
               "sample_every", "checkpoint_every", "seed", "data_path")
MODEL_FIELDS = ("width", "latent_dim")


class LaunchError(RuntimeError):
    """The training process could not be started (or refused its settings); says why."""


class RunsBusy(LaunchError):
    """As many runs as this server allows are already training."""


# ----------------------------------------------------------------------------- settings -> command


def runs_root() -> Path:
    """The runs folder (``GAN_STUDIO_RUNS`` or ./runs), the same one the checkpoint chooser lists."""
    return session.runs_root().resolve()


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


def devices() -> list[str]:
    """Devices a run can use here, the best first: CUDA when present, else the CPU."""
    import torch

    return ["cuda", "cpu"] if torch.cuda.is_available() else ["cpu"]


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


# ----------------------------------------------------------------------------- runs on disk


@dataclass(frozen=True)
class Run:
    """One run directory as the UI sees it. ``status`` is run.json's, except ``died`` (it says
    running but its process is gone) and ``starting`` (the process has not written run.json yet)."""

    id: str
    path: Path
    recipe: str
    status: str  # running | starting | finished | stopped | failed | died
    step: int
    steps: int
    pid: int | None
    message: str
    started: float | None
    updated: float | None
    device: str
    config: dict
    checkpoints: tuple[int, ...]  # steps of the complete checkpoints, oldest first

    @property
    def live(self) -> bool:
        return self.status in ("running", "starting")

    @property
    def can_resume(self) -> bool:
        return not self.live and bool(self.config)

    @property
    def latest_checkpoint(self) -> Path | None:
        return self.path / "checkpoints" / f"step-{self.checkpoints[-1]:08d}" if self.checkpoints else None


_children: dict[int, subprocess.Popen] = {}  # processes this server started: polled, so none stays a zombie


def pid_alive(pid: int | None, written: float | None = None) -> bool:
    """Whether ``pid`` is a live process that could have written run.json at time ``written``
    (a process created after that is a reused pid, not our trainer)."""
    if not pid:
        return False
    if pid in _children:
        if _children[pid].poll() is None:
            return True
        del _children[pid]  # reaped now; the pid may be reused from here on
        return False
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return written is None or process.create_time() <= written + 1.0
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # another user's process with that pid exists
        return True


def _checkpoint_steps(run_dir: Path) -> tuple[int, ...]:
    """Complete checkpoints only: the engine renames ``.tmp-*`` to ``step-*`` when all files are written."""
    folder = run_dir / "checkpoints"
    steps = []
    if folder.is_dir():
        for path in folder.iterdir():
            match = re.fullmatch(r"step-(\d+)", path.name)
            if match and path.is_dir() and (path / "model.safetensors").is_file():
                steps.append(int(match.group(1)))
    return tuple(sorted(steps))


def read_run(run_dir: str | Path) -> Run:
    """The run at ``run_dir`` with its status checked against its process."""
    path = Path(run_dir)
    _adopt_pending_log(path)
    try:
        data = json.loads((path / "run.json").read_text())
    except (OSError, ValueError):  # not written yet (or mid-replace on an odd filesystem)
        data = {}
    status = data.get("status") or "starting"
    if status == "running" and not pid_alive(data.get("pid"), data.get("updated")):
        status = "died"
    elif status == "starting" and path.is_dir() and time.time() - path.stat().st_mtime > STARTUP_TIMEOUT_S:
        status = "died"  # its process vanished before writing run.json
    config = data.get("config") or {}
    return Run(
        id=str(data.get("id") or path.name), path=path, recipe=str(data.get("recipe") or config.get("name") or "?"),
        status=status, step=int(data.get("step") or 0), steps=int(config.get("steps") or 0), pid=data.get("pid"),
        message=str(data.get("message") or ""), started=data.get("started"), updated=data.get("updated"),
        device=str(data.get("device") or ""), config=config, checkpoints=_checkpoint_steps(path),
    )


def list_runs(root: Path | None = None) -> list[Run]:
    """Every run under ``root`` (default: runs_root()), newest first."""
    root = runs_root() if root is None else Path(root)
    if not root.is_dir():
        return []
    runs = [read_run(p) for p in root.iterdir()
            if p.is_dir() and not p.name.startswith((".", "_")) and ((p / "run.json").is_file() or _pending_log(p).is_file())]
    return sorted(runs, key=lambda r: r.started or r.path.stat().st_mtime, reverse=True)


def max_runs() -> int:
    text = os.environ.get(MAX_RUNS_ENV, "1")
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise LaunchError(f"{MAX_RUNS_ENV} must be a whole number of at least 1, got {text!r}")
    return value


def busy(root: Path | None = None, limit: int | None = None) -> str | None:
    """Why no run can start now (the server's live runs are at the limit), or None."""
    limit = max_runs() if limit is None else limit
    running = [run for run in list_runs(root) if run.live]
    if len(running) < limit:
        return None
    names = ", ".join(f"{run.id} (step {run.step}/{run.steps})" for run in running)
    return (f"This server trains {limit} run{'s' if limit > 1 else ''} at a time and is busy with {names}. "
            f"Watch it below, or stop it first. ({MAX_RUNS_ENV} sets the limit.)")


# ----------------------------------------------------------------------------- start, stop, resume


def _pending_log(run_dir: Path) -> Path:
    return run_dir.parent / PENDING_DIR / f"{run_dir.name}.log"


def _adopt_pending_log(run_dir: Path) -> None:
    """Move a launch log into its run directory once the engine has created it. The engine refuses
    a non-empty new run directory, so the log waits next door; the process keeps writing to the
    same open file after the rename."""
    pending = _pending_log(run_dir)
    if pending.is_file() and run_dir.is_dir() and not (run_dir / LOG_NAME).exists():
        with contextlib.suppress(OSError):
            os.replace(pending, run_dir / LOG_NAME)


def log_path(run_dir: Path) -> Path:
    inside = Path(run_dir) / LOG_NAME
    return inside if inside.exists() or not _pending_log(Path(run_dir)).exists() else _pending_log(Path(run_dir))


def tail_log(run_dir: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of the run's process output ('' if none yet)."""
    try:
        with open(log_path(run_dir), "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 16384))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


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


# ----------------------------------------------------------------------------- the event log


class EventLog:
    """One run's events.jsonl, read incrementally: ``update()`` reads only the bytes appended since
    the last call. A trailing line without its newline waits for the rest; a rewritten file (a
    resume rewrites it atomically, as a new inode) is read again from the start.

    Metric lines become columns aligned with ``steps``; ``{"event": ...}`` lines are kept as
    markers. Safe to share between sessions (one lock), as a Streamlit cache_resource is."""

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / "events.jsonl"
        self._lock = threading.Lock()
        self._reset(None)

    def _reset(self, inode: int | None) -> None:
        self._inode, self._offset, self._tail = inode, 0, b""
        self.steps: list[int] = []
        self.columns: dict[str, list[float | None]] = {}
        self.markers: list[dict] = []
        self.last: dict = {}

    def update(self) -> int:
        """Read what was appended; returns the number of new events."""
        with self._lock:
            try:
                handle = open(self.path, "rb")
            except FileNotFoundError:
                if self._inode is not None:
                    self._reset(None)
                return 0
            with handle:
                stat = os.fstat(handle.fileno())
                if stat.st_ino != self._inode or stat.st_size < self._offset:
                    self._reset(stat.st_ino)
                handle.seek(self._offset)
                data = handle.read()
            self._offset += len(data)
            lines = (self._tail + data).split(b"\n")
            self._tail = lines.pop()  # b"" after a newline, else a line still being written
            count = 0
            for line in lines:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue  # a line torn by a crash is not data
                if isinstance(event, dict):
                    self._add(event)
                    count += 1
            return count

    def _add(self, event: dict) -> None:
        if "event" in event:
            self.markers.append(event)
            return
        index = len(self.steps)
        self.steps.append(int(event.get("step", index)))
        for key, value in event.items():
            if key in ("step", "time", "epoch") or not (value is None or isinstance(value, (int, float))):
                continue
            self.columns.setdefault(key, [None] * index).append(None if value is None else float(value))
        for values in self.columns.values():
            if len(values) == index:  # a metric this line does not have
                values.append(None)
        self.last = event

    def series(self, *names: str) -> tuple[list[int], dict[str, list[float | None]]]:
        """(steps, {name: values}) copies for the metrics that exist."""
        with self._lock:
            return list(self.steps), {n: list(self.columns[n]) for n in names if n in self.columns}

    def snapshot(self) -> dict:
        """Plain copies of everything: steps, columns, markers, last metric line."""
        with self._lock:
            return {"steps": list(self.steps), "columns": {k: list(v) for k, v in self.columns.items()},
                    "markers": list(self.markers), "last": dict(self.last)}

    def samples(self) -> list[tuple[int, Path]]:
        """(step, png path) of the saved sample grids that are on disk, oldest first."""
        with self._lock:
            found = {int(m["step"]): self.path.parent / m["path"] for m in self.markers
                     if m.get("event") == "sample" and m.get("path")}
        return [(step, path) for step, path in sorted(found.items()) if path.is_file()]


# ----------------------------------------------------------------------------- device


_nvml: dict = {}  # "ok": bool once NVML was tried; psutil.Process objects keep CPU-time baselines
_processes: dict[int, Any] = {}


def device_stats(run: Run, last_event: Mapping[str, Any] | None = None) -> dict:
    """What the run's device is doing now. CUDA: name, memory used/total and utilization through
    NVML (nvidia-ml-py) when installed, plus torch's allocated/reserved memory from the run's own
    events. CPU: the trainer's CPU use and resident memory (psutil) and the machine's RAM."""
    last_event = last_event or {}
    if run.device.startswith("cuda"):
        stats: dict[str, Any] = {"kind": "cuda", "name": run.device,
                                 "memory_allocated_mb": last_event.get("memory_mb"),
                                 "memory_reserved_mb": last_event.get("memory_reserved_mb")}
        stats.update(_nvml_stats(int(run.device.partition(":")[2] or 0)))
        return stats
    import psutil

    memory = psutil.virtual_memory()
    stats = {"kind": "cpu", "name": f"CPU, {psutil.cpu_count()} cores", "ram_used_percent": memory.percent,
             "ram_total_mb": memory.total / 2**20, "process_cpu_percent": None,
             "process_rss_mb": last_event.get("memory_mb"), "note": ""}
    if run.status == "running" and run.pid:
        try:
            process = _processes.get(run.pid)
            if process is None or not process.is_running():
                process = _processes[run.pid] = psutil.Process(run.pid)
                process.cpu_percent(None)  # the first call only sets the baseline
            with process.oneshot():
                stats["process_cpu_percent"] = process.cpu_percent(None)
                stats["process_rss_mb"] = process.memory_info().rss / 2**20
                stats["threads"] = process.num_threads()
        except psutil.Error as error:
            stats["note"] = f"cannot read the training process: {error}"
    return stats


def _nvml_stats(index: int) -> dict:
    try:
        import pynvml
    except ImportError:
        return {"note": "install nvidia-ml-py for the GPU's name, utilization and total memory"}
    try:
        if not _nvml.get("ok"):
            pynvml.nvmlInit()
            _nvml["ok"] = True
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        name = pynvml.nvmlDeviceGetName(handle)
        memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
        return {"name": name.decode() if isinstance(name, bytes) else name,
                "memory_used_mb": memory.used / 2**20, "memory_total_mb": memory.total / 2**20,
                "utilization_percent": float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu), "note": ""}
    except pynvml.NVMLError as error:
        return {"note": f"NVML cannot read GPU {index}: {error}"}


# ----------------------------------------------------------------------------- health


@dataclass(frozen=True)
class Band:
    """The typical discriminator-loss range of a balanced run (a rule of thumb) and its equilibrium."""

    low: float
    high: float
    equilibrium: float
    note: str


BANDS = {
    # D: BCE(D(x), 1) + BCE(D(G(z)), 0); with D(.) = 1/2 everywhere that is 2 ln 2
    "nonsat": Band(0.5, 1.5, 2 * math.log(2), "2 ln 2 ≈ 1.39 when D(x) = D(G(z)) = ½"),
    "minimax": Band(0.5, 1.5, 2 * math.log(2), "2 ln 2 ≈ 1.39 when D(x) = D(G(z)) = ½"),
    # D: ½ E[(D(x) - 1)²] + ½ E[D(G(z))²]; ¼ when D outputs ½ everywhere
    "lsgan": Band(0.1, 0.4, 0.25, "¼ when D outputs ½ for everything"),
    # D: E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]; 2 when D outputs 0 everywhere
    "hinge": Band(0.8, 2.0, 2.0, "2 when D outputs 0 for everything"),
}  # WGAN critics have no fixed level: watch the Wasserstein estimate shrink instead


# Before this step an untrained G draws near-identical blobs for every z: not yet a collapse.
COLLAPSE_MIN_STEP = 300


@dataclass(frozen=True)
class Signal:
    level: str  # "error" | "warning" | "ok"
    title: str
    why: str


def _recent(values: list[float | None], window: int) -> list[float]:
    return [v for v in values[-window:] if v is not None and math.isfinite(v)]


def health(log: dict, run: Run, quality: Mapping[str, Any] | None = None, *, window: int = 20,
           now: float | None = None) -> list[Signal]:
    """Plain-language signals from an EventLog ``snapshot()``, the run, and optionally the latest
    checkpoint's ``checkpoint_quality``. Each says what is seen and, in one line, why it matters."""
    signals: list[Signal] = []
    loss = str(run.config.get("loss", "nonsat"))
    columns = log["columns"]
    mean = {name: statistics.fmean(v) for name in ("d_real", "d_fake", "loss_d", "grad_norm_g", "grad_norm_d", "wasserstein")
            if (v := _recent(columns.get(name, []), window))}
    for marker in log["markers"]:
        if marker.get("event") == "error":
            text = str(marker.get("message", ""))
            if re.search(r"\b(nan|inf)\b", text, re.IGNORECASE):
                signals.append(Signal("error", "Loss is NaN", "A loss became NaN or infinite, so the weights it touches are "
                                      "garbage now: the run diverged. Lower the learning rates or try WGAN-GP / hinge, "
                                      "then resume from the last good checkpoint."))
    if len(log["steps"]) >= 5 and BANDS.get(loss) and {"d_real", "d_fake"} <= set(mean):
        d_real, d_fake = mean["d_real"], mean["d_fake"]
        if d_fake < 0.05 and d_real > 0.5:  # D(x) need not be near 1: rejecting every fake is the sign
            signals.append(Signal("warning", "Discriminator is winning: D(G(z)) near 0", "D rejects every fake with "
                                  "confidence, so G learns little from it. Label smoothing, instance noise or a lower D "
                                  "learning rate give G a chance."))
        elif d_fake > 0.8:
            signals.append(Signal("warning", "Generator fools D completely: D(G(z)) near 1", "D has stopped telling fakes "
                                  "from reals; G may be exploiting one weakness. Check the samples for repeats."))
        if d_real < 0.2:
            signals.append(Signal("warning", "D calls real images fake: D(x) near 0", "The discriminator is confused about "
                                  "the real data; a too-high learning rate or heavy label flipping does this."))
    band = BANDS.get(loss)
    if band and "loss_d" in mean and len(log["steps"]) >= 5:
        if mean["loss_d"] < 0.1 * band.equilibrium:
            signals.append(Signal("warning", "Discriminator loss near 0", "D wins every round, so its feedback to G "
                                  "saturates. A balanced run stays in the shaded band."))
        elif mean["loss_d"] > 1.5 * band.high:
            signals.append(Signal("warning", "Discriminator loss far above the balanced band", "D cannot separate real "
                                  "from fake at all; G gets no useful signal. Check the learning rates and tricks."))
    if mean.get("grad_norm_g", 1.0) < 1e-4:
        signals.append(Signal("warning", "Generator gradients vanished", "G's gradient norm is almost 0, so it stops "
                              "learning; the non-saturating or a Wasserstein loss keeps gradients alive."))
    if max(mean.get("grad_norm_g", 0.0), mean.get("grad_norm_d", 0.0)) > 1e3:
        signals.append(Signal("warning", "Exploding gradients", "Gradient norms above 1000 usually precede a NaN; lower "
                              "the learning rates."))
    if quality and run.checkpoints and run.checkpoints[-1] >= COLLAPSE_MIN_STEP:
        fractions = quality.get("histogram")
        if fractions and (max(fractions) > 0.4 or sum(f >= 0.02 for f in fractions) < 0.6 * len(fractions)):
            top = max(range(len(fractions)), key=fractions.__getitem__)
            signals.append(Signal("warning", "Generator collapse?", f"The classifier sees {fractions[top]:.0%} of the "
                                  f"samples as class {top} and few others: G may be drawing only some modes (mode "
                                  "collapse)."))
        elif quality.get("diversity") is not None and quality["diversity"] < 0.05:
            signals.append(Signal("warning", "Generator collapse?", f"Samples from different z are nearly identical "
                                  f"(diversity {quality['diversity']:.3f}): G ignores its input noise."))
    if run.status == "running" and log["last"].get("time") and (now or time.time()) - log["last"]["time"] > 120:
        signals.append(Signal("warning", "No new step for over 2 minutes", "The process is alive but not logging: it "
                              "may be swapping or waiting on the device. Its log.txt may say more."))
    if not signals and len(log["steps"]) >= 5:
        detail = (f"D(x) {mean['d_real']:.2f}, D(G(z)) {mean['d_fake']:.2f}"
                  if BANDS.get(loss) and {"d_real", "d_fake"} <= set(mean) else "no warning signs in the recent steps")
        signals.append(Signal("ok", "Looks balanced", f"{detail}: neither player dominates."))
    return signals


def load_classifier(source: str = "mnist-classifier"):
    """The bundled digit classifier on the CPU (CheckpointError if it is not trained yet)."""
    from studio import checkpoints

    return checkpoints.load(source, device="cpu").model


def checkpoint_quality(checkpoint: str | Path, classifier=None, *, n: int = 256, seed: int = 0) -> dict:
    """Diversity (and, with a classifier, the class histogram) of ``n`` samples of a checkpoint,
    computed on the CPU so that a GPU run keeps its device to itself."""
    from studio import checkpoints, explore, quality

    model = checkpoints.load(checkpoint, device="cpu").model
    images = explore.samples(model, n, seed=seed)  # (n, H, W, C) uint8
    result: dict[str, Any] = {"diversity": quality.diversity_score(images), "samples": n}
    if classifier is not None and getattr(classifier, "channels", 1) == images.shape[-1]:
        result["histogram"] = [float(f) for f in quality.class_histogram(images, classifier)]
    return result
