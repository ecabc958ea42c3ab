"""Latency the user feels on the feature-editing page: a strength-slider change to the edited face shown.

Starts ``streamlit run app.py`` (as ``bench ui`` does) and drives Debian's Chromium with Playwright.
On the Feature editing page (``faces-dcgan``, seed 0, add a hat, 10 steps: the page's defaults)
it presses ArrowRight on the Strength slider and measures, inside the page, from the keydown
event to the moment the classifier-gradient column's new "after" face has loaded, decoded and
been painted. Every press is a strength not drawn before, so nothing comes from a cache: the
rerun edits the seed with both methods (10 classifier-gradient steps through the GAN and the
attribute classifier; the linear direction's frames), draws the strips and the probability
charts, and sends the images. Target: under 300 ms median on 2 CPU cores.

    python -m bench edit [--changes 15] [--warmup 3] [--checkpoint faces-dcgan]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from urllib.parse import urlencode

from bench.ui import CHROMIUM, CHROMIUM_ARGS, chromium_missing, report, time_slider, with_studio

TARGET_MS = 300.0
AFTER = 1  # the page's images: the gradient column's before, after, strip; then the linear column's


def measure(base: str, model: str, changes: int, warmup: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    ready = '[data-testid="stApp"][data-test-script-state="notRunning"]'
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 2400})
        # Start low: every press then moves to a strength not shown before.
        page.goto(f"{base}/feature-editing?{urlencode({'model': model, 'target': 'hat', 'strength': '0.5'})}")
        page.wait_for_selector(f"{ready} [data-testid='stImage'] img", timeout=180_000)
        page.get_by_text("success").first.wait_for(timeout=180_000)
        slider = page.get_by_role("slider", name="Strength")
        latencies = time_slider(page, slider, changes, warmup, image=AFTER)
        browser.close()
    return latencies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench edit", description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=15, help="measured slider changes (default 15)")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured changes first (default 3)")
    parser.add_argument("--checkpoint", default="faces-dcgan", help="a GAN with a fitting classifier")
    args = parser.parse_args(argv)
    if args.warmup + args.changes > 25:
        parser.error("warmup + changes must be at most 25 (the slider has 25 steps above 0.5)")
    if chromium_missing():
        return 1

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        latencies = with_studio(Path(tmp), lambda base: measure(base, args.checkpoint, args.changes, args.warmup))
    report(f"strength-slider change -> new edited face rendered in Chromium (Feature editing page, {args.checkpoint}, "
           "10 steps, gradient and linear side by side)", latencies, args.warmup, load_before, TARGET_MS)
    return 0
