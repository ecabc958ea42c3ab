"""Latency the user feels on the style-mixing page: a ψ-slider change to the new 4x4 mixing matrix shown.

Starts ``streamlit run app.py`` (as ``bench ui`` does) and drives Debian's Chromium with Playwright.
On the Style mixing page (rows 0-3, columns 4-7, coarse crossover: 16 mixed images plus the 8
sources, at 32 px) it presses ArrowRight on the "Truncation in W, ψ" slider and measures, inside
the page, from the keydown event to the moment the matrix's new PNG has loaded, decoded and been
painted. Every press is a ψ not drawn before. The rerun also redraws the page's other sections
(W against z truncation, 16 noise draws and their std map), as a user's change does.

Model: ``--checkpoint`` (default ``mnist-stylegan`` when it is bundled), else a StyleGAN with the
``mnist-stylegan`` recipe's architecture and random weights, saved to a temporary folder (the
time does not depend on the weights). Target: under 500 ms median on 2 CPU cores.

    python -m bench mix [--changes 15] [--warmup 3] [--checkpoint SOURCE]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from urllib.parse import urlencode

from bench.ui import CHROMIUM, CHROMIUM_ARGS, chromium_missing, report, time_slider, with_studio

TARGET_MS = 500.0
MATRIX = 0  # the page's first image


def default_checkpoint(directory: Path) -> str:
    import torch

    from studio import checkpoints
    from studio.checkpoints import zoo
    from studio.models import StyleGAN
    from training.recipes import get_recipe

    if any(e.name == "mnist-stylegan" and e.availability == "bundled" for e in zoo.entries()):
        return "mnist-stylegan"
    recipe = get_recipe("mnist-stylegan")
    torch.manual_seed(0)
    model = StyleGAN(image_size=recipe.image_size, channels=recipe.channels, **recipe.model).eval()
    return str(checkpoints.save(model, directory / "stylegan32", metadata={"title": "StyleGAN-32 (bench)",
                                                                            "dataset": "mnist"}))


def measure(base: str, source: str, changes: int, warmup: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    ready = '[data-testid="stApp"][data-test-script-state="notRunning"]'
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 2400})
        # Start at ψ = 0: every press then moves to a ψ not shown before.
        page.goto(f"{base}/style-mixing?{urlencode({'checkpoint': source, 'psi': '0.0'})}")
        page.wait_for_selector(f"{ready} [data-testid='stImage'] img", timeout=180_000)
        slider = page.get_by_role("slider", name="Truncation in W, ψ")
        latencies = time_slider(page, slider, changes, warmup, image=MATRIX)
        browser.close()
    return latencies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench mix", description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=15, help="measured slider changes (default 15)")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured changes first (default 3)")
    parser.add_argument("--checkpoint", help="a StyleGAN source (default: mnist-stylegan, else random weights)")
    args = parser.parse_args(argv)
    if args.warmup + args.changes > 40:
        parser.error("warmup + changes must be at most 40 (the slider has 40 steps above 0)")
    if chromium_missing():
        return 1

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        source = args.checkpoint or default_checkpoint(Path(tmp))
        latencies = with_studio(Path(tmp), lambda base: measure(base, source, args.changes, args.warmup))
    report(f"ψ-slider change -> new 4x4 mixing matrix rendered in Chromium (Style mixing page, {source}, 32 px)",
           latencies, args.warmup, load_before, TARGET_MS)
    return 0
