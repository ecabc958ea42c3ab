"""What a Hugging Face Gradio Space does with this repository: a fresh virtual environment with
``requirements.txt`` only (no animal-mnist, no dev tools), the repository's tracked files, and
``python gradio_app.py`` on 0.0.0.0:7860; then every endpoint is called once. And what the
Dockerfile (the Streamlit Space, ``sdk: docker``) does, without Docker: its extra ``pip install``
(into a folder beside that venv, so the Gradio check keeps requirements.txt alone) and its ``CMD``,
then Chromium opens the studio's pages.

Installing torch and the rest takes about 4 minutes even from a local wheel cache, too long for
every suite run, so this test runs only when asked:

    GAN_STUDIO_SPACE_VENV=/tmp/space-venv pytest tests/test_space.py   # made (if missing) and reused

The venv is created there with ``python3.11 -m venv`` and ``pip install -r requirements.txt``
unless it already holds a python.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio import live
from support import free_port, gradio_server

ROOT = Path(__file__).resolve().parent.parent
VENV = os.environ.get("GAN_STUDIO_SPACE_VENV")
SPACE_PORT = 7860

pytestmark = pytest.mark.skipif(not VENV, reason="set GAN_STUDIO_SPACE_VENV=<dir> to build a Space's venv (~4 min)")


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    venv = Path(VENV)
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([shutil.which("python3.11") or sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-r", str(ROOT / "requirements.txt")],
                       check=True)
    # The Space clones the repository: tracked and new (not ignored) files, nothing built or downloaded here.
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.split()
    repo = tmp_path_factory.mktemp("space") / "repo"
    for name in listed:
        if (ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    return python, repo


def test_the_space_environment_lacks_what_requirements_do_not_install(space):
    python, _ = space
    for module in ("animal_mnist", "pytest", "playwright"):
        found = subprocess.run([str(python), "-c", f"import {module}"], capture_output=True).returncode == 0
        assert not found, f"{module} is installed in the Space venv: the test would not be what a Space does"


def test_the_gradio_space_starts_and_every_endpoint_answers(space):
    python, repo = space
    port = SPACE_PORT if _free(SPACE_PORT) else free_port()
    env = {"GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": str(port), "SYSTEM": "spaces",
           "GAN_STUDIO_RUNS": str(repo / "runs")}
    try:
        with gradio_server(env, repo / "space.log", python=str(python), cwd=repo, port=port) as base:
            _every_endpoint(base, repo)
    finally:
        for run in live.list_runs(repo / "runs"):  # a trainer outlives the server by design
            if run.live:
                live.stop_run(run.path)


def _dockerfile(repo: Path) -> tuple[list[str], list[str]]:
    """The Dockerfile's pip install lines (as argument lists) and its CMD."""
    import json
    import shlex

    text = (repo / "Dockerfile").read_text().replace("\\\n", " ")
    run = next(line for line in text.splitlines() if line.startswith("RUN pip install"))
    installs = [shlex.split(part.strip().removeprefix("RUN ")) for part in run.split("&&")]
    cmd = json.loads(next(line for line in text.splitlines() if line.startswith("CMD "))[4:])
    return installs, cmd


def test_the_dockerfile_commands_run_the_streamlit_studio(space, tmp_path):
    import urllib.request

    from support import CHROMIUM, CHROMIUM_ARGS, chromium_missing

    python, repo = space
    installs, cmd = _dockerfile(repo)
    assert installs[0][-2:] == ["-r", "requirements.txt"]  # the venv above holds exactly that
    extra = tmp_path / "docker-site"
    for install in installs[1:]:  # "pip install --no-cache-dir --user --no-deps animal-mnist==0.4"
        args = [a for a in install[2:] if a != "--user"]
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--target", str(extra), *args], check=True)
    assert cmd[:3] == ["streamlit", "run", "app.py"] and cmd[cmd.index("--server.port") + 1] == "8501"
    port = 8501 if _free(8501) else free_port()
    args = [str(python), "-m", *cmd]
    args[args.index("--server.port") + 1] = str(port)
    env = {**os.environ, "PYTHONPATH": str(extra), "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
           "GAN_STUDIO_RUNS": str(tmp_path / "runs"), "HF_HUB_OFFLINE": "1"}
    with open(tmp_path / "streamlit.log", "w") as log:
        server = subprocess.Popen(args, cwd=repo, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if urllib.request.urlopen(f"{base}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("the Dockerfile's CMD never answered /_stcore/health:\n" + (tmp_path / "streamlit.log").read_text())
        assert subprocess.run([str(python), "-c", "import animal_mnist"], env=env).returncode == 0
        assert CHROMIUM.exists(), chromium_missing()
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_context(viewport={"width": 1400, "height": 2400}).new_page()
            page.goto(f"{base}/?checkpoint=mnist-dcgan")
            page.get_by_text("mnist-dcgan").first.wait_for(timeout=120_000)
            page.goto(f"{base}/translation?checkpoint=horse2zebra-cyclegan")
            page.get_by_text("Output: horse → zebra").first.wait_for(timeout=120_000)
            page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=60_000)
            assert page.locator('[data-testid="stException"]').count() == 0
            assert page.locator('[data-testid="stImage"] img').count() >= 2
            browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)


def _every_endpoint(base: str, repo: Path) -> None:
    from gradio_client import Client

    client = Client(base, verbose=False)
    assert Image.open(client.predict(api_name="/generate")).size == (138, 138)
    assert client.predict(api_name="/load")[0] == "mnist-dcgan"
    assert len(client.predict(api_name="/interpolate")) == 4
    assert client.predict(api_name="/truncate")[1] > 0
    shown, output, _ = client.predict("horse2zebra-cyclegan", None, "b2a", api_name="/translate")  # vendored zebras
    assert np.asarray(Image.open(output)).shape[:2] == (32, 32)
    run_id, state = client.predict("mnist-dcgan", 100_000, api_name="/train_start")
    assert client.predict(run_id, api_name="/train_status")[0]["run"] == run_id
    assert client.predict(run_id, api_name="/train_stop")["run"] == run_id
    assert (repo / "runs" / run_id / "STOP").exists()
    # the later tabs, each with small arguments: what a Space's user gets from requirements.txt alone
    before, after, *_ = client.predict("faces-dcgan", 0, "hat", "add", "gradient", 3, api_name="/edit")
    assert np.asarray(Image.open(after)).shape[:2] == np.asarray(Image.open(before)).shape[:2]
    table = client.predict("faces-dcgan", "hat", 16, 2, False, api_name="/bias_audit")[0]
    assert len(table["data"] if isinstance(table, dict) else table) == 4  # the other four attributes
    assert client.predict(3, api_name="/segment")[4]["unet"]["mean_iou"] > 0.3
    rows = client.predict(["mnist-dcgan"], 50, "", 0, api_name="/evaluate")[0]
    assert len(rows["data"] if isinstance(rows, dict) else rows) > 3
    grid = client.predict(api_name="/style_mix")[0]  # the bundled StyleGAN, by default
    assert np.asarray(Image.open(grid)).size > 0


def _free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True
