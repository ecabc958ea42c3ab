"""Latency of the live training tab: from an event line written to ``events.jsonl`` to its point
in the browser's loss chart.

A fake run (run.json says running; its pid is this process, so the page treats it as live) holds
``--history`` ordinary metric lines. ``streamlit run app.py`` serves the Training page, driven by
Playwright and Debian's Chromium. For each measured line the bench arms a watcher in the page
that polls the plotly charts' data every 5 ms, appends one line whose ``loss_g`` is a unique
marker value, and takes the time from just before the write to the moment the marker is in a
chart trace (both clocks are this machine's wall clock). The gap between lines is random, so the
line lands at every phase of the page's once-a-second refresh (st.fragment run_every=1.0).
Target: median under 1.5 s.

    python -m bench live [--lines 12] [--history 300]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.ui import CHROMIUM, CHROMIUM_ARGS, free_port, start_server

TARGET_MS = 1500.0
RUN_ID = "bench-live"

# Polls every chart's plotly data for the marker; sets window.__seenAt (Date.now()) or null.
ARM_WATCHER = """([marker, timeoutMs]) => {
  window.__seenAt = undefined;
  const start = Date.now();
  const check = () => {
    for (const plot of document.querySelectorAll('.js-plotly-plot')) {
      for (const trace of plot.data || []) {
        if (trace.y && Array.prototype.includes.call(trace.y, marker)) { window.__seenAt = Date.now(); return; }
      }
    }
    if (Date.now() - start > timeoutMs) { window.__seenAt = null; return; }
    setTimeout(check, 5);
  };
  check();
}"""


def metric_line(step: int, loss_g: float) -> bytes:
    event = {"step": step, "time": time.time(), "loss_g": loss_g, "loss_d": 1.2 + 0.1 * random.random(),
             "d_real": 0.6, "d_fake": 0.4, "grad_norm_g": 1.0, "grad_norm_d": 2.0, "lr_g": 2e-4, "lr_d": 2e-4,
             "images_per_s": 500.0, "memory_mb": 300.0}
    return (json.dumps(event) + "\n").encode()


def fake_run(root: Path, history: int) -> Path:
    """A running run whose trainer is this process: the bench writes its events."""
    from training.recipes import get_recipe

    run_dir = root / RUN_ID
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "samples").mkdir()
    config = {**get_recipe("mnist-dcgan").to_dict(), "steps": 1_000_000}
    status = {"id": RUN_ID, "recipe": "mnist-dcgan", "config": config, "status": "running", "pid": os.getpid(),
              "started": time.time(), "updated": time.time(), "step": history, "message": "", "device": "cpu"}
    (run_dir / "run.json").write_text(json.dumps(status))
    lines = [metric_line(step, 0.8 + 0.2 * random.random()) for step in range(1, history + 1)]
    (run_dir / "events.jsonl").write_bytes(b"".join(lines))
    return run_dir


def measure(base: str, events: Path, history: int, lines: int, warmup: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    latencies = []
    with sync_playwright() as playwright, open(events, "ab", buffering=0) as log:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 2000})
        page.goto(f"{base}/training?run={RUN_ID}")
        page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 4", timeout=120_000)
        for index in range(warmup + lines):
            marker = 5.0 + index / 1000 + 0.000123  # a loss no ordinary line has
            page.evaluate(ARM_WATCHER, [marker, 30_000])
            time.sleep(random.uniform(0.2, 1.2))  # land at a random phase of the refresh tick
            written = time.time()
            log.write(metric_line(history + index + 1, marker))  # one write, as the engine appends
            page.wait_for_function("() => window.__seenAt !== undefined", timeout=40_000)
            seen = page.evaluate("() => window.__seenAt")
            if seen is None:
                raise RuntimeError(f"the marker line {index} never reached the chart within 30 s")
            if index >= warmup:
                latencies.append(seen - written * 1000)
        browser.close()
    return latencies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench live", description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=12, help="measured event lines (default 12)")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured lines first (default 2)")
    parser.add_argument("--history", type=int, default=300, help="metric lines already in the run (default 300)")
    args = parser.parse_args(argv)
    if args.lines < 5:
        parser.error("take at least 5 lines for a median worth reading")
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: install Debian's Chromium (apt-get install -y chromium)", file=sys.stderr)
        return 1

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "runs"
        run_dir = fake_run(root, args.history)
        os.environ["GAN_STUDIO_RUNS"] = str(root)  # start_server passes this environment on
        port = free_port()
        server = start_server(port, Path(tmp) / "streamlit.log")
        try:
            latencies = measure(f"http://127.0.0.1:{port}", run_dir / "events.jsonl", args.history, args.lines,
                                args.warmup)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=20)

    median = statistics.median(latencies)
    print("event line written -> its point in the loss chart in Chromium (Training page, refresh every 1 s)")
    print(f"  {len(latencies)} lines after {args.warmup} warm-up, {args.history} lines of history, {os.cpu_count()} CPU cores")
    print(f"  best {min(latencies):.0f} ms, median {median:.0f} ms, worst {max(latencies):.0f} ms")
    print(f"  target: median under {TARGET_MS:.0f} ms -> {'met' if median < TARGET_MS else 'NOT met'}")
    return 0
