"""Experiments as background jobs: a thread per experiment, its progress, its cached result.

``start_job(kind, settings)`` returns the job for those exact settings: the running one if there
is one (a page refresh or a second browser tab finds it again: jobs live in the server process,
not in a session), a finished one from the disk cache (JSON, never pickle), or a new thread.
``Job.progress`` / ``Job.message`` say what it is doing; ``Job.result`` is the experiment's dict.

Cache: ``studio.cache``'s ``apply`` folder (``$GAN_STUDIO_CACHE/apply``, by default ``~/.cache/gan-studio/apply``), one JSON file per
(kind, settings); delete it to measure again.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from studio.cache import cache_dir
from studio.errors import DataError


def _runner(kind: str) -> Callable[..., dict]:
    from studio.apply import augmentation, semisupervised, transfer

    runners = {"augmentation": augmentation.run_augmentation, "transfer": transfer.run_transfer,
               "semisupervised": semisupervised.run_semisupervised}
    if kind not in runners:
        raise DataError(f"unknown experiment {kind!r}: choose one of {', '.join(runners)}")
    return runners[kind]


def job_key(kind: str, settings: dict) -> str:
    text = json.dumps({"kind": kind, **settings}, sort_keys=True, default=list)
    return f"{kind}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


@dataclass
class Job:
    key: str
    kind: str
    settings: dict
    status: str = "running"  # running | done | failed
    progress: float = 0.0
    message: str = "starting"
    result: dict | None = None
    error: str = ""
    started: float = field(default_factory=time.time)
    finished: float | None = None
    cached: bool = False
    thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def elapsed(self) -> float:
        return (self.finished or time.time()) - self.started

    def wait(self, timeout: float | None = None) -> Job:
        if self.thread is not None:
            self.thread.join(timeout)
        return self


_JOBS: dict[str, Job] = {}
_LOCK = threading.Lock()


def _read_cache(key: str) -> dict | None:
    path = cache_dir("apply") / f"{key}.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "result" in data else None


def _write_cache(job: Job) -> None:
    try:
        folder = cache_dir("apply")
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{job.key}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps({"kind": job.kind, "settings": job.settings, "seconds": job.elapsed, "result": job.result}))
        tmp.replace(folder / f"{job.key}.json")
    except OSError:  # a read-only disk loses the cache, not the result
        pass


def get_job(kind: str, settings: dict) -> Job | None:
    """The running or finished job of these settings (memory, then the disk cache), or None."""
    key = job_key(kind, settings)
    with _LOCK:
        job = _JOBS.get(key)
        if job is not None and job.status != "failed":
            return job
    cached = _read_cache(key)
    if cached is None:
        return None
    job = Job(key, kind, settings, status="done", progress=1.0, message="from the cache", result=cached["result"],
              cached=True)
    job.started, job.finished = time.time() - float(cached.get("seconds", 0)), time.time()
    with _LOCK:
        _JOBS.setdefault(key, job)
        return _JOBS[key]


def start_job(kind: str, settings: dict, *, runner: Callable[..., dict] | None = None) -> Job:
    """The job of (kind, settings): found running or cached, else started in a daemon thread.

    ``runner(**settings, progress=fn)`` computes the result (default: the experiment of ``kind``).
    A failed job is replaced by a fresh attempt."""
    run = runner or _runner(kind)
    existing = get_job(kind, settings)
    if existing is not None:
        return existing
    key = job_key(kind, settings)
    with _LOCK:
        job = _JOBS.get(key)
        if job is not None and job.status != "failed":
            return job
        job = Job(key, kind, dict(settings))
        _JOBS[key] = job

    def progress(fraction: float, message: str) -> None:
        job.progress, job.message = float(fraction), message

    def work() -> None:
        try:
            result = run(**settings, progress=progress)
        except Exception as error:  # the page shows it; the server goes on
            job.error, job.status, job.finished = f"{type(error).__name__}: {error}", "failed", time.time()
            return
        job.result, job.finished, job.progress = result, time.time(), 1.0
        _write_cache(job)
        job.status = "done"

    job.thread = threading.Thread(target=work, name=f"studio-apply-{key}", daemon=True)
    job.thread.start()
    return job
