"""Screenshots of the emulator's channel view for the README and the docs.

Runs ``examples/train_digits.py --serve --runs 3`` (three models side by side,
each with its own message, against the bundled emulator), opens the channel
view in headless Chromium (Debian's ``chromium``, driven by Playwright) and
saves ``docs/_static/channel-training.png`` while the runs train and
``docs/_static/channel.png`` once they have ended.

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


def main() -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("SLACK_BOT_TOKEN", "SLACK_CHANNEL_ID")}
    out = tempfile.mkdtemp(prefix="screenshot_")
    example = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "examples", "train_digits.py"), "--serve",
         "--runs", "3", "--epochs", "40", "--mentions", "U0DEMO0001", "--latency", "0.05",
         "--out", out], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True, env=env)
    try:
        url = next(line.split()[-1] for line in example.stdout if line.startswith("Watch"))
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-sync"])
            page = browser.new_page(viewport={"width": 1180, "height": 900})
            page.goto(url)
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
        example.send_signal(signal.SIGINT)
        example.wait(30)


if __name__ == "__main__":
    main()
