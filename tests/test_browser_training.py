"""The Training page in a real browser: `streamlit run app.py` driven by Playwright and Debian's Chromium.

From the start form a tiny run trains in its own process; its loss curve gains points across
refreshes with no click; Stop writes a checkpoint, Resume continues to a new total, and one click
opens the run's checkpoint on the Latent interpolation page. Screenshots go to screenshots/. Needs /usr/bin/chromium (`apt-get install chromium`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from studio import live
from support import CHROMIUM, CHROMIUM_ARGS, chromium_missing, streamlit_server

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "screenshots"
EXCEPTION = '[data-testid="stException"]'
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
# Points in the first plotly chart (the losses): the longest trace's x values.
LOSS_POINTS = """() => { const plot = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
  return plot && plot.data ? Math.max(0, ...plot.data.map(t => (t.x || []).length)) : 0; }"""


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("training-browser") / "runs"


@pytest.fixture(scope="module")
def server(runs_root):
    """The studio with its own runs folder; a trainer still running at the end is stopped."""
    env = {"GAN_STUDIO_RUNS": str(runs_root), "HF_HUB_CACHE": str(runs_root.parent / "hf-cache")}
    with streamlit_server(env, runs_root.parent / "streamlit.log") as base:
        try:
            yield base
        finally:
            for run in live.list_runs(runs_root):  # the trainer outlives the server by design: stop it here
                if run.live:
                    live.stop_run(run.path)


@pytest.fixture(scope="module")
def page():
    assert CHROMIUM.exists(), chromium_missing()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 2600})
        yield context.new_page()
        browser.close()


def main(page):
    """The page's own content (the header has a "Stop" button of its own while a script runs)."""
    return page.get_by_test_id("stMainBlockContainer")


def status_badge(page, status: str):
    """The selected run's status badge, next to its controls."""
    return main(page).get_by_text(status, exact=True)


def idle(page) -> None:
    page.wait_for_selector(IDLE, timeout=60_000)


def type_number(page, label: str, value: int, shows: str | None = None) -> None:
    """Type into a number input; with ``shows``, wait until the command preview contains it."""
    field = page.get_by_label(label, exact=True)
    for _ in range(3):  # a keystroke that lands while the page reruns can be dropped: type it again
        field.fill(str(value))
        field.press("Enter")
        idle(page)
        if shows is None:
            return
        try:
            expect(page.get_by_test_id("stCode")).to_contain_text(shows, timeout=5_000)
            return
        except AssertionError:
            continue
    expect(page.get_by_test_id("stCode")).to_contain_text(shows)


def snapshot(page, name: str) -> None:
    assert page.locator(EXCEPTION).count() == 0, page.locator(EXCEPTION).first.inner_text()
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)


def test_train_watch_stop_resume_and_open_a_run(server, page, runs_root):
    page.goto(f"{server}/training")
    main(page).get_by_role("button", name="Start training").wait_for(timeout=60_000)
    idle(page)
    type_number(page, "Steps", 400, "--steps 400")
    type_number(page, "Batch size", 8, "batch_size=8")
    page.get_by_text("Model size, samples and checkpoints").click()
    for label, name, value in [("Width", "model.width", 4), ("Latent size", "model.latent_dim", 8),
                               ("Sample every", "sample_every", 5), ("Checkpoint every", "checkpoint_every", 100)]:
        type_number(page, label, value, f"{name}={value}")
    main(page).get_by_role("button", name="Start training").click()
    page.get_by_text("in its own process").wait_for(timeout=60_000)

    # Live: the curve gains points across two refreshes, with no click (st.fragment run_every=1s).
    page.wait_for_function(f"({LOSS_POINTS})() > 0", timeout=60_000)
    counts = [page.evaluate(LOSS_POINTS)]
    for _ in range(2):
        page.wait_for_function(f"n => ({LOSS_POINTS})() > n", arg=counts[-1], timeout=30_000)
        counts.append(page.evaluate(LOSS_POINTS))
    assert counts[0] < counts[1] < counts[2]
    page.wait_for_selector('[data-testid="stImage"] img', timeout=60_000)  # the first sample grid
    snapshot(page, "training-1-live")

    main(page).get_by_role("button", name="Stop", exact=True).click()
    main(page).get_by_role("button", name="Resume").wait_for(timeout=60_000)
    idle(page)
    stopped = live.list_runs(runs_root)[0]
    assert stopped.status == "stopped" and stopped.checkpoints[-1] == stopped.step
    expect(status_badge(page, "stopped")).to_be_visible()

    type_number(page, "Train until step", stopped.step + 5)
    main(page).get_by_role("button", name="Resume").click()
    expect(status_badge(page, "finished")).to_be_visible(timeout=60_000)
    idle(page)
    page.wait_for_function(f"n => ({LOSS_POINTS})() >= n", arg=stopped.step + 5, timeout=30_000)
    finished = live.list_runs(runs_root)[0]
    assert finished.status == "finished" and finished.step == stopped.step + 5
    snapshot(page, "training-2-resumed-and-finished")

    main(page).get_by_role("button", name="Open its checkpoint in Latent interpolation").click()
    page.wait_for_url("**/latent-interpolation?**", timeout=60_000)
    page.get_by_text("Download MP4").wait_for(timeout=60_000)
    idle(page)
    assert finished.id in page.get_by_test_id("stSidebar").inner_text()  # the sidebar card names the run
    snapshot(page, "training-3-opened-in-interpolation")
