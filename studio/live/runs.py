"""Training runs on disk: ``runs/<id>/`` read back as ``Run`` facts (status, steps, checkpoints,
whether its process is alive), the list of runs, how many may train at once, and each run's log.

Layout of a run directory: ``training/runs.py``. Nothing here writes into a run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from studio.checkpoints import sources as session

MAX_RUNS_ENV = "GAN_STUDIO_MAX_RUNS"  # live runs allowed at once on this server (default 1)
LOG_NAME = "log.txt"  # the training process's stdout and stderr, inside its run directory
PENDING_DIR = ".launch"  # logs of processes that have not created their run directory yet
STARTUP_TIMEOUT_S = 120.0  # importing torch on a busy 2-core machine can take a while


class LaunchError(RuntimeError):
    """The training process could not be started (or refused its settings); says why."""


class RunsBusy(LaunchError):
    """As many runs as this server allows are already training."""


def runs_root() -> Path:
    """The runs folder (``GAN_STUDIO_RUNS`` or ./runs), the same one the checkpoint chooser lists."""
    return session.runs_root().resolve()


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
