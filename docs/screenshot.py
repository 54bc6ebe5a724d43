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


def shoot(args, shots) -> None:
    """Run the example with ``args`` and, for each ``(condition, timeout ms, png)`` of
    ``shots`` in turn, wait for the JavaScript ``condition`` on its channel view and save
    the page as ``docs/_static/<png>``."""
    run = example(*args)
    try:
        url = next(line.split()[-1] for line in run.stdout if line.startswith("Watch"))
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-sync"])
            page = browser.new_page(viewport={"width": 1180, "height": 900})
            page.goto(url)
            for condition, timeout, png in shots:
                page.wait_for_function(condition, timeout=timeout)
                page.wait_for_timeout(1500)
                page.screenshot(path=os.path.join(HERE, "_static", png), full_page=True)
            browser.close()
    finally:
        run.send_signal(signal.SIGINT)
        run.wait(30)


#: docs/_static/channel-sweep.png: four runs on one board, once they have ended.
SWEEP = (["--runs", "4", "--epochs", "20", "--board", "digits-sweep"],
         [("[...document.querySelectorAll('.message .text')].some("
           "t => /4 runs: 4 completed/.test(t.textContent))", 300_000, "channel-sweep.png")])


def main() -> None:
    if sys.argv[1:] != ["--sweep"]:
        shoot(["--runs", "3", "--epochs", "40"], [
            ("[...document.querySelectorAll('.message .text')].filter("
             "t => /ETA/.test(t.textContent)).length === 3", 120_000, "channel-training.png"),
            ("document.querySelectorAll('.thread .message').length === 3", 300_000,
             "channel.png")])
    shoot(*SWEEP)


if __name__ == "__main__":
    main()
