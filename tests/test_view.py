"""The emulator's channel view: mrkdwn as Slack renders it, live in a real browser."""

from __future__ import annotations

import os
import shutil
import threading
import urllib.request

import pytest
from chainer import training
from chainer.training import extensions
from conftest import ENTRIES, make_trainer

from chainer_slack_report import SlackReport
from chainer_slack_report.testing.view import mrkdwn_to_html

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.mark.parametrize("text, html", [
    ("plain & <b>", "plain &amp; &lt;b&gt;"),  # never markup from text
    ("a &lt;!channel&gt; &amp; b", "a &lt;!channel&gt; &amp; b"),  # shown as characters
    ("*bold* _italic_ ~strike~", "<b>bold</b> <i>italic</i> <s>strike</s>"),
    ("snake_case_name x*y*z", "snake_case_name x*y*z"),  # not emphasis inside words
    ("`x < 1`", "<code>x &lt; 1</code>"),
    ("```\nepoch  loss\n1  *0.5*\n```", "<pre>epoch  loss\n1  *0.5*</pre>"),
    ("<@U0ALICE01> <!here> <!subteam^S0123456>",
     '<span class="mention">@alice</span> <span class="mention">@here</span> '
     '<span class="mention">@S0123456</span>'),
    ("<https://example.com/a?b=1&amp;c=2|the docs>",
     '<a href="https://example.com/a?b=1&amp;c=2">the docs</a>'),
    ("line 1\nline 2", "line 1<br>line 2"),
    ("a\n```\nx\n```\n```\ny\n```\n\n", "a<pre>x</pre><pre>y</pre>"),  # blocks are blocks
    ("<javascript:alert(1)|x>", "&lt;javascript:alert(1)|x&gt;"),
])
def test_mrkdwn_is_rendered_as_slack_renders_it(text, html):
    assert mrkdwn_to_html(text, users={"U0ALICE01": "alice"}) == html


def test_the_view_and_its_state_are_served(slack_emulator):
    page = urllib.request.urlopen(slack_emulator.view_url, timeout=10).read().decode()
    assert "<title>Slack emulator</title>" in page and "http" not in page.split("<script>")[1]
    client = slack_emulator.client()
    ts = client.chat_postMessage(channel="general", text="*hi*")["ts"]
    client.chat_update(channel=slack_emulator.channel("general").id, ts=ts, text="*hi* again")
    import json

    state = json.loads(urllib.request.urlopen(
        slack_emulator.view_url + "_emulator/view.json", timeout=10).read())
    (message,) = state["channels"][0]["messages"]
    assert message["html"] == "<b>hi</b> again" and message["edited"] is True


class _Gate(training.Extension):
    """Holds training at one iteration until the test lets it go on."""

    trigger = (1, "iteration")

    def __init__(self, at):
        self.at, self.go = at, threading.Event()

    def __call__(self, trainer):
        if trainer.updater.iteration == self.at:
            assert self.go.wait(60), "the browser never saw the training message"


def test_the_page_shows_a_run_live_in_a_real_browser(slack_emulator, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):  # CI installs it (.ci/run); elsewhere it is optional
        (pytest.fail if os.environ.get("CI") else pytest.skip)(
            f"no Chromium at {CHROMIUM}: apt-get install chromium, or set CHROMIUM")
    pytest.importorskip("matplotlib")
    slack_emulator.users["U0ALICE01"] = "alice"
    gate = _Gate(at=6)
    report = SlackReport(None, "general", ENTRIES, client=slack_emulator.client(),
                         finish_mentions="U0ALICE01", plots=True, update_limit=None,
                         min_interval=0.0)
    trainer = make_trainer(report, epochs=3, out=str(tmp_path), extra=[
        gate, extensions.PlotReport(["main/loss"], "epoch", filename="loss.png")])
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--disable-sync"])
        page = browser.new_page()
        page.goto(slack_emulator.view_url)
        page.wait_for_selector("#empty")  # the channel is empty before training
        runner = threading.Thread(target=trainer.run)
        runner.start()
        try:
            # while training: the table in a code block, [Training], no reload
            page.wait_for_function(
                "document.querySelector('.message pre') && "
                "document.querySelector('.message .text').textContent.startsWith('[Training]')",
                timeout=30_000)
            assert page.inner_text(".message pre").splitlines()[0].split() == ENTRIES
            navigations = []
            page.on("framenavigated", lambda frame: navigations.append(frame.url))
            gate.go.set()
            page.wait_for_function(
                "document.querySelector('.message .text').textContent.startsWith('[Completed]')",
                timeout=30_000)
            page.wait_for_selector(".thread .file img", timeout=30_000)
        finally:
            gate.go.set()
            runner.join(60)
        assert navigations == []  # updated in place
        text = page.inner_text(".message .text")
        assert "(edited)" in text
        rows = page.inner_text(".message pre").splitlines()
        assert rows[-1].split()[0] == "3"  # the last epoch
        assert "@alice" in page.inner_text(".thread")  # the mention reply, as a name
        # the PNG was served and decoded (the img appears before its bytes arrive)
        page.wait_for_function("(() => { const img = document.querySelector('.thread .file img');"
                               " return img && img.complete && img.naturalWidth > 0; })()",
                               timeout=30_000)
        page.screenshot(path=str(tmp_path / "channel.png"), full_page=True)
        browser.close()
    assert (tmp_path / "channel.png").stat().st_size > 10_000
