"""Test plumbing shared by several test files: a real Streamlit server, Chromium's settings, and
AppTest's media store that keeps every image's bytes."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """`streamlit run app.py` on a free 127.0.0.1 port, offline, no usage statistics: its base URL."""
    port = free_port()
    env = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", "HF_HUB_OFFLINE": "1", **env}
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1",
               "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as response:
                    if response.read() == b"ok":
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start:\n{log_path.read_text()}")
            time.sleep(0.3)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the group start_new_session made: streamlit only
        process.wait(timeout=20)


@contextlib.contextmanager
def gradio_server(env: dict[str, str], log_path: Path, *, python: str = sys.executable, cwd: Path = ROOT,
                  port: int | None = None) -> Iterator[str]:
    """`python gradio_app.py` on a free 127.0.0.1 port (or ``port``), offline, no analytics: its base URL."""
    port = port or free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "GRADIO_SERVER_NAME": "127.0.0.1",
           "GRADIO_SERVER_PORT": str(port), **env}
    with open(log_path, "w") as log:
        process = subprocess.Popen([python, "gradio_app.py"], cwd=cwd, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}gradio_api/info", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Gradio app did not start:\n{log_path.read_text()}")
            time.sleep(0.3)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the group start_new_session made: the app only
        process.wait(timeout=20)


def chromium_missing() -> str:
    return (f"{CHROMIUM} is missing: the browser tests drive Debian's Chromium. Install it with "
            "`apt-get install -y chromium` (scripts/setup.sh --dev does this).")


def isolate_studio(monkeypatch, tmp_path: Path, zoo_file: Path) -> None:
    """AppTest runs of the studio in-process: this zoo, an empty runs/ folder, an offline empty Hub
    cache, and every image's bytes kept in RecordingStorage.files."""
    from studio.checkpoints import zoo

    monkeypatch.setattr(zoo, "ZOO_FILE", zoo_file)
    monkeypatch.setenv("GAN_STUDIO_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("streamlit.testing.v1.app_test.MemoryMediaFileStorage", RecordingStorage)
    RecordingStorage.files = {}


class RecordingStorage(MemoryMediaFileStorage):
    """AppTest's in-memory media store, keeping every file's bytes by id for the assertions."""

    files: dict[str, bytes] = {}

    def load_and_get_id(self, path_or_data, mimetype, kind, filename=None):
        file_id = super().load_and_get_id(path_or_data, mimetype, kind, filename)
        RecordingStorage.files[file_id] = self.get_file(file_id).content
        return file_id
