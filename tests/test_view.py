"""The emulator's channel view: mrkdwn as Slack renders it, live in a real browser."""

from __future__ import annotations

import contextlib
import threading
import time
import urllib.request

import pytest
from chainer import training
from chainer.training import extensions
from conftest import ENTRIES, make_trainer

from chainer_slack_report import SlackReport
from chainer_slack_report.testing.view import mrkdwn_to_html


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


@contextlib.contextmanager
def training_in_view(browser, emulator, trainer, gate, shown, **page_options):
    """A browser page on the emulator's view while ``trainer`` runs in a thread.

    Training starts once the page shows the empty channel; the block is entered once the
    page satisfies ``shown`` (a JavaScript expression).  Yields the page and the URLs the
    page navigates to from then on (an update in place adds none).  At the end ``gate``
    lets training go on, and the thread is joined."""
    page = browser.new_page(**page_options)
    page.goto(emulator.view_url)
    page.wait_for_selector("#empty")  # the channel is empty before training
    runner = threading.Thread(target=trainer.run)
    runner.start()
    navigations = []
    try:
        page.wait_for_function(shown, timeout=30_000)
        page.on("framenavigated", lambda frame: navigations.append(frame.url))
        yield page, navigations
    finally:
        gate.go.set()
        runner.join(60)


def test_the_page_shows_a_run_live_in_a_real_browser(slack_emulator, tmp_path, browser):
    pytest.importorskip("matplotlib")
    slack_emulator.users["U0ALICE01"] = "alice"
    gate = _Gate(at=6)
    report = SlackReport(None, "general", ENTRIES, client=slack_emulator.client(),
                         finish_mentions="U0ALICE01", plots=True, update_limit=None,
                         min_interval=0.0)
    trainer = make_trainer(report, epochs=3, out=str(tmp_path), extra=[
        gate, extensions.PlotReport(["main/loss"], "epoch", filename="loss.png")])
    # while training: the table in a code block, [Training], no reload
    with training_in_view(browser, slack_emulator, trainer, gate, (
            "document.querySelector('.message pre') && "
            "document.querySelector('.message .text').textContent.startsWith('[Training]')"
    )) as (page, navigations):
        assert page.inner_text(".message pre").splitlines()[0].split() == ENTRIES
        gate.go.set()
        page.wait_for_function(
            "document.querySelector('.message .text').textContent.startsWith('[Completed]')",
            timeout=30_000)
        page.wait_for_selector(".thread .file img", timeout=30_000)
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
    assert (tmp_path / "channel.png").stat().st_size > 10_000


# -- Block Kit blocks, drawn -----------------------------------------------------------------
def _cell(value):
    if isinstance(value, str):
        return {"type": "raw_text", "text": value}
    return {"type": "raw_number", "value": value, "text": f"{value:g}"}


LOSSES = [0.9, 0.4, 0.7, 0.2, 0.5, 0.3, 0.8]  # epoch 1..7, not in order


def _run_blocks(series_names, caption="Training log"):
    """A header, a section, a context, a divider, a data_table (page_size 3) and a line
    chart of one series per name: the blocks a run report could post."""
    rows = [[_cell("epoch"), _cell("main/loss"), _cell("note")]] + [
        [_cell(e), _cell(loss), _cell(f"epoch {e}")] for e, loss in enumerate(LOSSES, 1)]
    categories = [str(e) for e in range(1, len(LOSSES) + 1)]
    series = [{"name": name, "data": [{"label": c, "value": loss * (n + 1)}
                                      for c, loss in zip(categories, LOSSES)]}
              for n, name in enumerate(series_names)]
    return [
        {"type": "header", "text": {"type": "plain_text", "text": "Run 7 [Training]"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*loss* is falling"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "host `vm-3`"}]},
        {"type": "divider"},
        {"type": "data_table", "caption": caption, "rows": rows, "page_size": 3},
        {"type": "data_visualization", "title": "Loss", "chart": {
            "type": "line", "series": series,
            "axis_config": {"categories": categories, "x_label": "epoch", "y_label": "loss"}}},
    ]


def test_blocks_are_drawn_sorted_paged_and_updated_live_in_a_real_browser(slack_emulator,
                                                                          browser):
    client = slack_emulator.client()
    posted = client.chat_postMessage(channel="general", text="the notification fallback",
                                     blocks=_run_blocks(["main/loss", "validation/main/loss"]))
    page = browser.new_page()
    page.goto(slack_emulator.view_url)
    page.wait_for_selector(".message .block.data-table")
    navigations = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    text = page.inner_text(".message .text")
    assert "the notification fallback" not in text  # blocks shown, not the fallback
    assert page.inner_text(".block.header") == "Run 7 [Training]"
    assert page.inner_html(".block.section .section-text") == "<b>loss</b> is falling"
    assert "<code>vm-3</code>" in page.inner_html(".block.context")
    assert page.query_selector("hr.block.divider") is not None
    # the table: the header row is the given one; page_size rows a page
    assert page.eval_on_selector_all("table.data-table thead th",
                                     "ths => ths.map(t => t.textContent)") == [
        "epoch", "main/loss", "note"]
    assert page.inner_text("table.data-table caption") == "Training log"

    def visible_column(index):
        return page.eval_on_selector_all(
            "table.data-table tbody tr:not([hidden])",
            f"rows => rows.map(r => r.cells[{index}].textContent)")

    assert visible_column(0) == ["1", "2", "3"] and page.inner_text(".page-of") == "1 / 3"
    page.click(".block.data-table .next")
    assert visible_column(0) == ["4", "5", "6"]
    # clicking a numeric header sorts the rows numerically, from the first page
    page.click("table.data-table thead th[data-column='1']")
    assert visible_column(1) == ["0.2", "0.3", "0.4"]
    assert page.get_attribute("table.data-table thead th[data-column='1']",
                              "aria-sort") == "ascending"
    page.click("table.data-table thead th[data-column='1']")
    assert visible_column(1) == ["0.9", "0.8", "0.7"]
    page.click("table.data-table thead th[data-column='2']")  # a text column: alphabetical
    assert visible_column(2) == ["epoch 1", "epoch 2", "epoch 3"]
    # the chart: inline SVG, one path per series, axis titles, a legend
    assert page.eval_on_selector_all("svg.chart path.series",
                                     "ps => ps.map(p => p.dataset.series)") == [
        "main/loss", "validation/main/loss"]
    assert page.text_content("svg.chart .x-label") == "epoch"
    assert page.text_content("svg.chart .y-label") == "loss"
    assert len(page.query_selector_all("svg.chart .legend-item")) == 2
    assert page.eval_on_selector("svg.chart", "svg => svg.getBBox().width") > 100  # drawn
    # an edit shows without a reload: a third series, a new caption
    client.chat_update(channel=posted["channel"], ts=posted["ts"], text="fallback",
                       blocks=_run_blocks(["main/loss", "validation/main/loss", "lr"],
                                          caption="Training log (epoch 7)"))
    page.wait_for_function("document.querySelectorAll('svg.chart path.series').length === 3",
                           timeout=30_000)
    assert page.inner_text("table.data-table caption") == "Training log (epoch 7)"
    assert "(edited)" in page.inner_text(".message .text")
    assert navigations == []
    assert "http" not in page.content().split("<script>")[1]  # nothing loaded from outside


def test_what_is_scheduled_is_shown_in_a_real_browser(slack_emulator, browser):
    client = slack_emulator.client()
    post_at = int(slack_emulator.clock.now()) + 3600
    client.chat_scheduleMessage(channel="general", post_at=post_at, text="*host lost*")
    page = browser.new_page()
    page.goto(slack_emulator.view_url)
    page.wait_for_selector("#scheduled .scheduled")
    assert page.get_attribute("#scheduled .scheduled", "data-post-at") == str(post_at)
    assert page.inner_html("#scheduled .scheduled b") == "host lost"
    assert page.get_attribute("#scheduled .scheduled time", "datetime").startswith(
        time.strftime("%Y-%m-%d", time.gmtime(post_at)))
    slack_emulator.advance(3600)  # posted: gone from the schedule, in the channel
    page.wait_for_selector(".message .text b", timeout=30_000)
    assert page.query_selector("#scheduled .scheduled") is None
