"""Screenshots of the emulator's channel view for the README and the docs.

Runs ``examples/train_digits.py --serve --runs 3`` (three models side by side,
each with its own message, against the bundled emulator), opens the channel
view in headless Chromium (Debian's ``chromium``, driven by Playwright) and
saves ``docs/_static/channel-training.png`` while the runs train and
``docs/_static/channel.png`` once they have ended; then the same with
``--board digits-sweep --runs 4`` (one board, the runs' messages in its thread)
for ``docs/_static/channel-sweep.png``.

    python docs/screenshot.py
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile

from playwright.sync_api import sync_playwright

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def example(*args: str) -> subprocess.Popen:
    """``examples/train_digits.py --serve`` with ``args``, against the bundled emulator."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("SLACK_BOT_TOKEN", "SLACK_CHANNEL_ID")}
    out = tempfile.mkdtemp(prefix="screenshot_")
    return subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "examples", "train_digits.py"), "--serve",
         "--mentions", "U0DEMO0001", "--latency", "0.05", "--out", out, *args], cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)


def page_of(p, run: subprocess.Popen):
    """A browser page on the run's channel view (and the browser)."""
    url = next(line.split()[-1] for line in run.stdout if line.startswith("Watch"))
    browser = p.chromium.launch(executable_path=CHROMIUM, args=[
        "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"])
    page = browser.new_page(viewport={"width": 1180, "height": 900})
    page.goto(url)
    return page, browser


def sweep() -> None:
    """``docs/_static/channel-sweep.png``: four runs on one board, once they have ended."""
    run = example("--runs", "4", "--epochs", "20", "--board", "digits-sweep")
    try:
        with sync_playwright() as p:
            page, browser = page_of(p, run)
            page.wait_for_function(
                "[...document.querySelectorAll('.message .text')].some("
                "t => /4 runs: 4 completed/.test(t.textContent))", timeout=300_000)
            page.wait_for_timeout(1500)
            page.screenshot(path=os.path.join(HERE, "_static", "channel-sweep.png"),
                            full_page=True)
            browser.close()
    finally:
        run.send_signal(signal.SIGINT)
        run.wait(30)


def main() -> None:
    if sys.argv[1:] == ["--sweep"]:
        sweep()
        return
    example_run = example("--runs", "3", "--epochs", "40")
    try:
        with sync_playwright() as p:
            page, browser = page_of(p, example_run)
            page.wait_for_function(
                "[...document.querySelectorAll('.message .text')].filter("
                "t => /ETA/.test(t.textContent)).length === 3", timeout=120_000)
            page.wait_for_timeout(1500)
            page.screenshot(path=os.path.join(HERE, "_static", "channel-training.png"),
                            full_page=True)
            page.wait_for_function(
                "document.querySelectorAll('.thread .message').length === 3", timeout=300_000)
            page.wait_for_timeout(1000)
            page.screenshot(path=os.path.join(HERE, "_static", "channel.png"), full_page=True)
            browser.close()
    finally:
        example_run.send_signal(signal.SIGINT)
        example_run.wait(30)
    sweep()


if __name__ == "__main__":
    main()
