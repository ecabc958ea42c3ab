"""The HTTP API's latency: a ``/generate`` round trip through ``gradio_client``, alone and under load.

Starts ``python gradio_app.py`` on a free local port (offline, no analytics) and calls
``/generate`` (16 images of ``mnist-dcgan``, a new seed each time) with one ``gradio_client.Client``:
the time from ``predict`` to the PNG on local disk, i.e. the queue, the model, PNG encoding, the
file download. Then ``--clients`` clients call it at once (each its own Client, made beforehand)
and every round trip is timed: the p50 / p95 / max the queue gives when 20 users press at once.
Reference: the same grid computed in this process (``studio.api.generate`` + PNG), so the
server's share is visible. Target: median under 300 ms on 2 CPU cores.

    python -m bench api [--calls 30] [--warmup 5] [--clients 20] [--model mnist-dcgan]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench.ui import free_port

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 300.0


def start_server(port: int, log_path: Path) -> subprocess.Popen:
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1",
           "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port)}
    process = subprocess.Popen([sys.executable, "gradio_app.py"], cwd=ROOT, env=env, stdout=open(log_path, "w"),
                               stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/gradio_api/info", timeout=2) as response:
                if response.status == 200:
                    return process
        except OSError:
            time.sleep(0.3)
    os.killpg(process.pid, signal.SIGTERM)
    raise RuntimeError(f"the Gradio app did not start:\n{log_path.read_text()}")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def timed(call) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1e3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench api", description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=30, help="measured sequential calls (default 30)")
    parser.add_argument("--warmup", type=int, default=5, help="unmeasured calls first (default 5)")
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients (default 20)")
    parser.add_argument("--model", default="mnist-dcgan", help="a zoo model with a latent z (default mnist-dcgan)")
    args = parser.parse_args(argv)

    from gradio_client import Client

    from studio import api, explore, imaging

    explore.set_interactive_threads(1)  # as the server does
    port = free_port()
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-api-{port}.log"
    process = start_server(port, log)
    try:
        base = f"http://127.0.0.1:{port}/"
        client = Client(base, verbose=False)
        seeds = iter(range(10**6))

        def call(c=client):
            c.predict(args.model, next(seeds), 16, 0, api_name="/generate")

        for _ in range(args.warmup):
            call()
        sequential = [timed(call) for _ in range(args.calls)]
        local = [timed(lambda: imaging.png_bytes(api.generate(args.model, next(seeds), 16, 0)))
                 for _ in range(args.calls)]

        clients = [Client(base, verbose=False) for _ in range(args.clients)]
        with concurrent.futures.ThreadPoolExecutor(args.clients) as pool:
            wall = time.perf_counter()
            burst = list(pool.map(lambda c: timed(lambda: call(c)), clients))
            wall = (time.perf_counter() - wall) * 1e3
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)

    median = statistics.median(sequential)
    print(f"/generate, {args.model}, 16 images, {os.cpu_count()} CPU(s), torch threads 1 in the server")
    print(f"{'':34}{'best ms':>10}{'median ms':>11}{'p95 ms':>10}")
    print(f"{'in process (reference)':34}{min(local):10.1f}{statistics.median(local):11.1f}{percentile(local, .95):10.1f}")
    print(f"{'gradio_client round trip':34}{min(sequential):10.1f}{median:11.1f}{percentile(sequential, .95):10.1f}")
    print(f"{f'{args.clients} clients at once':34}{min(burst):10.1f}{statistics.median(burst):11.1f}"
          f"{percentile(burst, .95):10.1f}   (all answered in {wall:.0f} ms, max {max(burst):.0f})")
    print(f"round trip / in process: {median / statistics.median(local):.1f}x; target: median < {TARGET_MS:.0f} ms: "
          + ("met" if median < TARGET_MS else "NOT met"))
    return 0
