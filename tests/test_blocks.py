"""The blocks layout (``layout="blocks"``): the data table, the native line charts, the local
check against Slack's documented limits, and the fall-back to text when Slack refuses them.

The Slack facts these tests check come from docs.slack.dev (``reference/block-kit/blocks``,
``…/data-table-block``, ``…/data-visualization-block``), as
:mod:`chainer_slack_report.rendering.block_kit` cites them.  The HTTP tests assert what the
report sends (``slack_emulator.calls``), which the emulator also checks as Slack does, and
every payload is run through the local check.
"""

from __future__ import annotations

import copy
import json
import os
import warnings

import pytest
from conftest import ENTRIES, make_trainer, needs, table_rows

from chainer_slack_report import SlackReportWarning
from chainer_slack_report.options import ReportOptions
from chainer_slack_report.outcome import Outcome
from chainer_slack_report.rendering.block_kit import (
    CHART_MAX_POINTS,
    TABLE_MAX_CHARS,
    check_blocks,
    text_chars,
)
from chainer_slack_report.rendering.blocks import (
    EMPTY_CELL,
    TABLE_CAPACITY,
    BlocksMessage,
    InvalidBlocks,
    table_policy,
)
from chainer_slack_report.rendering.charts import ChartCurves, chart_groups, series_name
from chainer_slack_report.rendering.mentions import Mentions
from chainer_slack_report.rendering.message import DEFAULT_TEMPLATE, ReportMessage
from chainer_slack_report.rendering.normalizers import make_policy
from chainer_slack_report.rendering.template import Template
from chainer_slack_report.run_report import RunReport
from chainer_slack_report.transport.live_message import LiveMessage
from chainer_slack_report.transport.pacing import Pacing

RUN_INFO = {"hostname": "host", "pwd": "/home/u/exp", "pwdshort": "~/exp", "cmd": "train.py",
            "args": "--epochs 3", "command": "train.py --epochs 3", "ranks": ""}


def layout(entries=ENTRIES, normalizer="thin_out", chart=None, template=DEFAULT_TEMPLATE,
           mentions=None):
    """A run's text layout and its blocks layout, fed the same rows."""
    message = ReportMessage(Template(template), entries, make_policy(normalizer, 4000),
                            RUN_INFO, Mentions(mentions))
    return message, BlocksMessage(message, table_policy(normalizer), chart_groups(chart))


def push(message, blocks, rows):
    message.push(rows)
    blocks.push(rows)


def of_type(blocks, kind):
    return [b for b in blocks if b["type"] == kind]


def table_of(blocks):
    (table,) = of_type(blocks, "data_table")
    return table


def column(table, entry):
    """A column's cells (the header not included): value if a number, else the text."""
    index = [c["text"] for c in table["rows"][0]].index(entry)
    return [c["value"] if c["type"] == "raw_number" else c["text"]
            for c in (row[index] for row in table["rows"][1:])]


# -- the data table -------------------------------------------------------------------------
def test_the_table_is_the_entries_and_the_rows_newest_first_with_sortable_numbers():
    message, blocks = layout(entries=["epoch", "main/loss", "note"])
    rows = [{"epoch": 1, "main/loss": 0.51234567, "note": "<!channel> & co"},
            {"epoch": 2, "main/loss": float("nan")},
            {"epoch": 3, "main/loss": 1e-7, "note": "xoxb-1234-secret"}]
    push(message, blocks, rows)
    table = table_of(blocks.render())
    assert [c["text"] for c in table["rows"][0]] == ["epoch", "main/loss", "note"]
    assert all(c["type"] == "raw_text" for c in table["rows"][0])  # no rich_text in a header
    assert column(table, "epoch") == [3, 2, 1]  # newest first: the first page is the newest
    first = table["rows"][-1]
    # PrintReport's formatting ({:g}) is the text, the number the value (numeric sort)
    assert first[1] == {"type": "raw_number", "value": 0.51234567, "text": "0.512346"}
    assert table["rows"][1][1] == {"type": "raw_number", "value": 1e-7, "text": "1e-07"}
    assert table["rows"][2][1] == {"type": "raw_text", "text": "nan"}  # JSON has no NaN
    assert table["rows"][2][2] == {"type": "raw_text", "text": EMPTY_CELL}  # not reported
    assert first[2]["text"] == "&lt;!channel&gt; &amp; co"  # data is escaped
    assert table["rows"][1][2]["text"] == "xoxb-[redacted]"
    assert table["caption"] == "3 rows, newest first" and table["page_size"] == 3
    assert check_blocks(blocks.render()) == []


def test_push_only_queues_and_render_takes_the_rows_in():
    """The training thread's call stores references; the worker renders (and drains)."""
    message, blocks = layout()
    push(message, blocks, [{"epoch": 1, "iteration": 4}])
    assert blocks.policy.count == 0 and message.queued == 1
    rendered = blocks.render()
    assert blocks.policy.count == 1 and column(table_of(rendered), "epoch") == [1]


@pytest.mark.parametrize("normalizer", ["thin_out", "FIFO", "LIFO"])
def test_at_most_100_rows_chosen_by_the_len_normalizer(normalizer):
    message, blocks = layout(normalizer=normalizer)
    push(message, blocks, [{"epoch": i // 10, "iteration": i, "main/loss": 1 / (i + 1)}
                           for i in range(1000)])
    table = table_of(blocks.render())
    shown = column(table, "iteration")
    assert len(shown) == 100 and len(table["rows"]) == 101  # Slack: header + up to 100
    assert table["page_size"] == 10 and table["caption"] == "100 of 1,000 rows shown, newest first"
    assert shown == sorted(shown, reverse=True)
    if normalizer == "thin_out":  # the newest and the first, spread in between
        assert shown[0] == 999 and shown[-1] == 0
        gaps = [a - b for a, b in zip(shown, shown[1:])]
        assert max(gaps) <= 4 * min(gaps)
    elif normalizer == "FIFO":
        assert shown == list(range(999, 899, -1))
    else:  # LIFO keeps the first rows
        assert shown == list(range(99, -1, -1))


def test_a_callable_len_normalizer_picks_the_rows():
    seen = []

    def last_three(rows, budget):
        seen.append((len(rows), budget))
        return rows[-3:]

    message, blocks = layout(normalizer=last_three)
    push(message, blocks, [{"epoch": i, "iteration": i} for i in range(1, 9)])
    assert column(table_of(blocks.render()), "epoch") == [8, 7, 6]
    assert seen[-1][0] == 8 and seen[-1][1] <= TABLE_CAPACITY


def test_a_wide_table_keeps_to_slacks_cell_character_cap():
    entries = [f"key{i:02d}" for i in range(20)]
    message, blocks = layout(entries=entries)
    push(message, blocks, [{e: 123456.789 + i for e in entries} for i in range(500)])
    rendered = blocks.render()
    table = table_of(rendered)
    assert text_chars(table["rows"]) <= TABLE_MAX_CHARS
    assert len(table["rows"]) < 101  # the cap, not the 100 rows, limits it
    assert check_blocks(rendered) == []
    with pytest.raises(ValueError, match="at most 20 columns"):
        layout(entries=entries + ["one_more"])


# -- the status line and the error ----------------------------------------------------------
def test_the_status_line_is_the_template_without_the_table_and_the_error_its_own_block():
    message, blocks = layout(mentions="here")
    push(message, blocks, [{"epoch": 1, "iteration": 4, "main/loss": 0.5}])
    message.show(message.status.TRAINING)
    (head,) = of_type(blocks.render(), "section")
    assert head["text"] == {"type": "mrkdwn", "text": "[Training] - 0:00:00 "
                            "`host:~/exp$ train.py --epochs 3`"}
    try:
        raise RuntimeError("loss <@U0BADBAD1> exploded")
    except RuntimeError as exc:
        message.end(Outcome.failed(exc), 12.0)
    rendered = blocks.render()
    head, *_, error = rendered
    assert head["text"]["text"].startswith("[Failed] - 0:00:12 `host")
    assert head["text"]["text"].endswith("<!here>")  # the finish mentions, as today
    assert "```" not in head["text"]["text"]  # the table is a block of its own
    assert error["type"] == "section"
    assert error["text"]["text"].startswith("```\n") and error["text"]["text"].endswith("```")
    assert "RuntimeError: loss &lt;@U0BADBAD1&gt; exploded" in error["text"]["text"]
    assert "<@U0BADBAD1>" not in json.dumps(rendered)
    assert check_blocks(rendered) == []


def test_a_long_error_keeps_its_tail_within_3000_characters():
    message, blocks = layout()
    push(message, blocks, [{"epoch": 1}])
    message.end(Outcome.failed(detail="& " * 4000 + "the last line"), 1.0)
    error = blocks.render()[-1]["text"]["text"]
    assert len(error) <= 3000 and error.endswith("the last line\n```")


# -- the charts -----------------------------------------------------------------------------
def test_a_chart_holds_the_whole_run_in_20_points_the_last_one_the_newest_value():
    curves = ChartCurves(["main/loss"])
    held = []
    for i in range(100_000):
        curves.add({"epoch": i, "iteration": 10 * i, "main/loss": 1.0 / (i + 1)})
        held.append(curves.held)
    points = curves.points()
    ((key, values),) = points.series
    assert key == "main/loss" and len(values) == len(points.labels) == CHART_MAX_POINTS
    assert values[-1] == 1.0 / 100_000  # exactly the newest value
    assert points.labels[0] == "0" and points.labels[-1] == "99999"  # the whole run
    assert points.x_label == "epoch"
    assert max(held) <= 2 * CHART_MAX_POINTS + 2  # bounded memory
    epochs = [int(label) for label in points.labels]
    gaps = [b - a for a, b in zip(epochs, epochs[1:])]
    assert max(gaps[:-1]) <= 2 * min(gaps[:-1])  # spread evenly (the last gap is shorter)


def test_nan_inf_and_non_numbers_are_skipped():
    curves = ChartCurves(["main/loss"])
    for i, value in enumerate([1.0, float("nan"), float("inf"), "x", None, 2.0]):
        curves.add({"epoch": i + 1, "main/loss": value})
    points = curves.points()
    assert points.series == [("main/loss", [1.0, 2.0])] and points.labels == ["1", "6"]


def test_keys_not_reported_yet_are_left_out_until_they_are():
    curves = ChartCurves(["main/loss", "validation/main/loss"])
    assert curves.points() is None
    for i in range(1, 5):
        curves.add({"epoch": 1, "iteration": i, "main/loss": 1.0 / i})
    points = curves.points()
    assert [key for key, _ in points.series] == ["main/loss"]
    assert points.x_label == "iteration"  # epochs do not tell these points apart
    curves.add({"epoch": 1, "iteration": 5, "main/loss": 0.2, "validation/main/loss": 0.3})
    curves.add({"epoch": 1, "iteration": 6, "main/loss": 0.1})
    points = curves.points()
    assert points.series == [("main/loss", [0.2, 0.1]), ("validation/main/loss", [0.3, 0.3])]
    assert points.labels == ["5", "6"]  # from where every series has a value


def test_chart_blocks_are_line_charts_within_slacks_limits():
    keys = ["main/loss", "validation/main/loss", "main/accuracy", "validation/main/accuracy"]
    message, blocks = layout(entries=["epoch", *keys], chart=[keys[:2], keys[2:]])
    push(message, blocks, [{"epoch": e, **{k: 1.0 / (e + j) for j, k in enumerate(keys)}}
                           for e in range(1, 31)])
    rendered = blocks.render()
    charts = of_type(rendered, "data_visualization")
    assert [c["title"] for c in charts] == ["main/loss, validation/main/loss",
                                            "main/accuracy, validation/main/accuracy"]
    second = charts[1]["chart"]
    assert second["type"] == "line"
    assert [s["name"] for s in second["series"]] == ["main/accuracy", "val/main/accuracy"]
    assert second["axis_config"]["x_label"] == "epoch"
    assert second["axis_config"]["categories"][-1] == "30"
    assert second["series"][1]["data"][-1] == {"label": "30", "value": 1.0 / 33}
    assert check_blocks(rendered) == []


def test_series_names_fit_20_characters():
    assert series_name("main/loss") == "main/loss"
    assert series_name("validation/main/accuracy") == "val/main/accuracy"
    assert series_name("a/very/long/observation/key") == "…ong/observation/key"
    assert len(series_name("x" * 50)) == 20


# -- the options ----------------------------------------------------------------------------
def test_chart_groups_and_layout_are_checked_once():
    options = ReportOptions(layout="blocks", chart=["main/loss", "validation/main/loss"])
    assert options.chart == (("main/loss", "validation/main/loss"),)
    assert ReportOptions(layout="blocks", chart=[["a"], ("b", "c")]).chart == (("a",),
                                                                               ("b", "c"))
    assert ReportOptions().layout == "text" and ReportOptions().chart == ()
    assert ReportOptions(chart=[]).chart == ()  # like sparklines=[]: none
    again = ReportOptions.of("SlackReport", options, {"max_bytes": 2000})  # checked again
    assert again.chart == options.chart and again.layout == "blocks"


@pytest.mark.parametrize("kwargs, error, fragment", [
    ({"layout": "html"}, ValueError, "layout must be one of 'text', 'blocks'"),
    ({"layout": 1}, TypeError, "layout must be one of"),
    ({"layout": "blocks", "chart": "main/loss"}, TypeError, "chart must be None, a list"),
    ({"layout": "blocks", "chart": ["a", ["b"]]}, TypeError, "not both mixed"),
    ({"layout": "blocks", "chart": [[]]}, TypeError, "non-empty list"),
    ({"layout": "blocks", "chart": [["a", 1]]}, TypeError, "non-empty list"),
    ({"layout": "blocks", "chart": [["a"], ["b"], ["c"]]}, ValueError, "at most 2 charts"),
    ({"layout": "blocks", "chart": list("abcdefg")}, ValueError, "at most 6 series"),
    ({"layout": "blocks", "chart": ["a", "a"]}, ValueError, "names a key twice"),
    ({"layout": "blocks", "chart": ["a/" + "x" * 30, "b/" + "x" * 30]}, ValueError,
     "legend names"),
    ({"chart": ["main/loss"]}, ValueError, "add layout='blocks'"),
])
def test_a_bad_layout_or_chart_is_a_clear_error_at_construction(kwargs, error, fragment):
    with pytest.raises(error) as info:
        ReportOptions(**kwargs)
    assert fragment in str(info.value)


def test_the_blocks_layout_needs_a_header():
    with pytest.raises(ValueError, match="needs a table header"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            RunReport(None, "general", ["output"], ReportOptions(layout="blocks"),
                      show_header=False)


# -- the local check ------------------------------------------------------------------------
def _valid():
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": "[Training]"}},
        {"type": "data_table", "caption": "2 rows", "page_size": 2, "rows": [
            [{"type": "raw_text", "text": "epoch"}, {"type": "raw_text", "text": "loss"}],
            [{"type": "raw_number", "value": 1, "text": "1"},
             {"type": "raw_number", "value": 0.5, "text": "0.5"}]]},
        {"type": "data_visualization", "title": "loss", "chart": {
            "type": "line", "axis_config": {"categories": ["1", "2"], "x_label": "epoch"},
            "series": [{"name": "loss", "data": [{"label": "1", "value": 0.5},
                                                  {"label": "2", "value": 0.4}]}]}},
    ]


def _set(path, value):
    def change(blocks):
        *where, last = path
        target = blocks
        for key in where:
            target = target[key]
        target[last] = value
    return change


@pytest.mark.parametrize("change, fragment", [
    (lambda b: b.extend([b[0]] * 48), "51 blocks, at most 50"),
    (_set([0, "text", "text"], "x" * 3001), "3001 characters, at most 3000"),
    (_set([0, "text", "text"], ""), "non-empty string"),
    (_set([1, "rows"], [[{"type": "raw_text", "text": "a"}]]), "1 rows, 2 to 101"),
    (_set([1, "rows"], [[{"type": "raw_text", "text": "a"}]] * 102), "102 rows, 2 to 101"),
    (_set([1, "rows", 1], [{"type": "raw_number", "value": 1, "text": "1"}]),
     "same 1 to 20 cells"),
    (_set([1, "rows", 0, 0], {"type": "rich_text", "elements": []}), "'rich_text' cell"),
    (_set([1, "rows", 1, 0, "text"], ""), "non-empty string"),
    (_set([1, "rows", 1, 1, "value"], float("nan")), "a finite number needed"),
    (_set([1, "rows", 1, 1, "text"], "x" * 10001), "the data tables' cells hold"),
    (_set([1, "page_size"], 101), "1 to 100 needed"),
    (_set([1, "caption"], ""), "caption"),
    (_set([2, "title"], "x" * 51), "51 characters, at most 50"),
    (_set([2, "chart", "type"], "pie"), "a line chart needed"),
    (_set([2, "chart", "axis_config", "categories"], [str(i) for i in range(21)]),
     "1 to 20 needed"),
    (_set([2, "chart", "axis_config", "categories"], ["1", "1"]), "not unique"),
    (_set([2, "chart", "series", 0, "name"], "x" * 21), "21 characters, at most 20"),
    (_set([2, "chart", "series"], []), "1 to 6 series"),
    (lambda b: b[2]["chart"]["series"].append(copy.deepcopy(b[2]["chart"]["series"][0])),
     "names not unique"),
    (_set([2, "chart", "series", 0, "data", 1, "label"], "3"), "one point per category"),
    (_set([2, "chart", "series", 0, "data", 1, "value"], float("inf")), "finite number"),
    (lambda b: b.extend([b[2]] * 2), "3 data_visualization blocks, at most 2"),
    (lambda b: b.extend([b[0]] * 4) or b[0]["text"].update(text="x" * 3000),
     "msg_blocks_too_long"),
    (lambda b: b.append({"type": "image"}), "not a block this check knows"),
])
def test_the_local_check_refuses_what_slacks_limits_refuse(change, fragment):
    blocks = _valid()
    assert check_blocks(blocks) == []
    change(blocks)
    problems = check_blocks(blocks)
    assert any(fragment in p for p in problems), problems


# -- over real HTTP: what the live message sends --------------------------------------------
def _sent(emulator, method):
    return [c.params for c in emulator.calls_to(method) if c.error is None]


def assert_blocks_run(emulator, log, *, entries, chart_keys, max_bytes=4000):
    """The messages of a finished run in the blocks layout, as sent; returns the last."""
    (post,) = _sent(emulator, "chat.postMessage")
    updates = _sent(emulator, "chat.update")
    assert post["blocks"][0]["text"]["text"].startswith("[Started]")
    for params in [post, *updates]:
        assert check_blocks(params["blocks"]) == []  # every payload within the limits
        assert len(params["text"].encode("utf-8")) <= max_bytes
    last = updates[-1]
    head, table, *charts = last["blocks"]
    assert head["text"]["text"].startswith("[Completed]")
    assert [c["text"] for c in table["rows"][0]] == entries
    assert column(table, "iteration") == [row["iteration"] for row in reversed(log)]
    (chart,) = charts
    assert [s["name"] for s in chart["chart"]["series"]] == list(chart_keys)
    for series, key in zip(chart["chart"]["series"], chart_keys):
        assert series["data"][-1]["value"] == pytest.approx(log[-1][key], rel=0, abs=0)
    # the text is the text layout's message, the fallback for notifications and search
    assert last["text"].startswith("[Completed]")
    assert len(table_rows(last["text"])) == len(log)
    (message,) = emulator.messages("general")
    assert message.text == last["text"]
    return last


def _chainer_report(emulator, **kwargs):
    from chainer_slack_report import SlackReport

    kwargs.setdefault("client", emulator.client(timeout=5))
    return SlackReport(None, "general", ENTRIES, min_interval=0.0, update_limit=None,
                       flush_timeout=30.0, layout="blocks",
                       chart=["main/loss", "main/accuracy"], **kwargs)


def test_a_chainer_run_in_the_blocks_layout(slack_emulator, tmp_path):
    needs("chainer")
    report = _chainer_report(slack_emulator)
    trainer = make_trainer(report, epochs=3, out=str(tmp_path))
    trainer.run()
    log = trainer.get_extension("LogReport").log
    assert report.live.delivered and report.live.layout == "blocks"
    assert_blocks_run(slack_emulator, log, entries=ENTRIES,
                      chart_keys=["main/loss", "main/accuracy"])


def test_a_ppe_loop_in_the_blocks_layout(slack_emulator, tmp_path):
    needs("ppe")
    from run_ppe import ENTRIES as PPE_ENTRIES
    from run_ppe import Run

    from chainer_slack_report.ppe import SlackReport

    report = SlackReport(None, "general", PPE_ENTRIES, client=slack_emulator.client(timeout=5),
                         min_interval=0.0, update_limit=None, flush_timeout=30.0,
                         layout="blocks", chart=[["main/loss", "main/accuracy"]])
    run = Run(report, epochs=3, out=str(tmp_path))
    run.train()
    log = run.manager.get_extension("LogReport").log
    assert report.live.delivered and report.live.layout == "blocks"
    assert_blocks_run(slack_emulator, log, entries=PPE_ENTRIES,
                      chart_keys=["main/loss", "main/accuracy"])


def test_invalid_blocks_gives_one_warning_and_the_text_layout_with_every_row(slack_emulator,
                                                                           tmp_path):
    needs("chainer")
    slack_emulator.fail("chat.update", "invalid_blocks", times=1)
    report = _chainer_report(slack_emulator)
    trainer = make_trainer(report, epochs=4, out=str(tmp_path))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.run()
    mine = [str(w.message) for w in caught if issubclass(w.category, SlackReportWarning)]
    (warning,) = mine
    assert "invalid_blocks" in warning and "text layout" in warning
    assert report.live.layout == "text" and report.live.delivered
    updates = slack_emulator.calls_to("chat.update")
    refused = next(i for i, c in enumerate(updates) if c.error == "invalid_blocks")
    assert updates[refused].params["blocks"]  # it was the blocks Slack refused
    after = [c.params for c in updates[refused + 1:]]
    assert after[0]["blocks"] == []  # the blocks Slack shows are cleared once...
    assert all("blocks" not in p for p in after[1:])  # ...then text alone
    (message,) = slack_emulator.messages("general")
    assert message.text.startswith("[Completed]")
    log = trainer.get_extension("LogReport").log
    assert [int(r.split()[0]) for r in table_rows(message.text)] == [r["epoch"] for r in log]


def test_invalid_blocks_on_the_first_post_posts_the_text(slack_emulator):
    slack_emulator.fail("chat.postMessage", "invalid_blocks", times=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = RunReport(None, "general", ENTRIES, ReportOptions(
            client=slack_emulator.client(), layout="blocks", min_interval=0.0,
            update_limit=None, watchdog=False))
        report.start(lambda: 0.0, watch_signals=False)
        report.add([{"epoch": 1, "iteration": 4, "main/loss": 0.5}])
        assert report.end(Outcome.completed())
    posts = slack_emulator.calls_to("chat.postMessage")
    assert posts[0].error == "invalid_blocks" and posts[0].params["blocks"]
    assert posts[1].error is None and "blocks" not in posts[1].params
    assert len(slack_emulator.messages("general")) == 1
    assert sum("invalid_blocks" in str(w.message) for w in caught) == 1


def _live(emulator, **kwargs):
    return LiveMessage(emulator.client(), "general", lambda budget: "the text",
                       pacing=Pacing(min_interval=0.0), **kwargs)


def test_blocks_that_cannot_be_rendered_give_one_warning_and_the_text(slack_emulator):
    def broken(prefix):
        raise InvalidBlocks(["blocks[1].rows: 102 rows, 2 to 101 needed"])

    live = _live(slack_emulator, render_blocks=broken)
    with pytest.warns(SlackReportWarning, match="102 rows.*text layout"):
        live.start()
        live.close()
        assert live.wait(30)
    (post,) = [c.params for c in slack_emulator.calls_to("chat.postMessage")]
    assert "blocks" not in post and post["text"] == "the text" and live.layout == "text"


def test_a_continued_message_has_its_blocks_cleared_by_a_text_update(slack_emulator):
    """A text-only chat.update keeps the blocks a message shows (python-slack-sdk#523): the
    watchdog, which continues the run's message as text, sends ``blocks=[]``."""
    client = slack_emulator.client()
    posted = client.chat_postMessage(channel="general", text="t", blocks=_valid()[:1])
    live = _live(slack_emulator, channel_id=posted["channel"], ts=posted["ts"])
    live.start()
    live.close()
    assert live.wait(30)
    (update,) = [c.params for c in slack_emulator.calls_to("chat.update")]
    assert update["blocks"] == [] and update["text"] == "the text"


def test_slacks_reasons_are_named_in_the_warning(slack_emulator):
    """Slack answers ``invalid_blocks`` with its reasons (``errors``,
    ``response_metadata.messages``); the warning names them.  Needs an emulator that checks
    blocks as Slack does (the project's does)."""
    too_long = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
    live = _live(slack_emulator, render_blocks=lambda prefix: too_long)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        live.start()
        live.close()
        assert live.wait(30)
    refused = [str(w.message) for w in caught if "invalid_blocks" in str(w.message)]
    assert refused, "the emulator took a 3,001-character section"
    assert "3001" in refused[0] and "Slack gave no reasons" not in refused[0]


# -- the channel view, in a real browser ----------------------------------------------------
def test_the_blocks_layout_in_a_real_browser(slack_emulator, tmp_path, browser):
    """A training run in the blocks layout, in headless Chromium: a table whose header is
    the entries, a chart with one path per series, updated without a reload; clicking the
    main/loss header reorders the rows.  The screenshot of the finished run goes to
    ``$CHAINER_SLACK_REPORT_SCREENSHOTS`` if set (docs/_static/channel-blocks.png was made so)."""
    needs("chainer")
    from test_view import _Gate, training_in_view

    gate = _Gate(at=6)
    report = _chainer_report(slack_emulator, template="{status} - {elapsed}{progress_eta} "
                             "`{hostname}$ train.py --epochs 4`\n{content}")
    trainer = make_trainer(report, epochs=4, out=str(tmp_path), extra=[gate])
    with training_in_view(browser, slack_emulator, trainer, gate, (
            "document.querySelector('.message table.data-table') && document"
            ".querySelector('.message .text').textContent.startsWith('[Training]')"
    ), viewport={"width": 900, "height": 640}) as (page, navigations):
        assert page.eval_on_selector_all("table.data-table thead th",
                                         "ths => ths.map(t => t.textContent)") == ENTRIES
        gate.go.set()
        page.wait_for_function(
            "document.querySelector('.message .text').textContent.startsWith('[Completed]')"
            " && document.querySelectorAll('table.data-table tbody tr').length === 4",
            timeout=30_000)
    assert navigations == []  # updated in place
    assert page.eval_on_selector_all("svg.chart path.series",
                                     "ps => ps.map(p => p.dataset.series)") == [
        "main/loss", "main/accuracy"]

    def rows(index):
        return page.eval_on_selector_all(
            "table.data-table tbody tr",
            f"trs => trs.map(r => r.cells[{index}].dataset.value)")

    before = rows(0)
    assert [float(e) for e in before] == [4, 3, 2, 1]  # newest first
    shots = os.environ.get("CHAINER_SLACK_REPORT_SCREENSHOTS") or str(tmp_path)
    page.screenshot(path=os.path.join(shots, "channel-blocks.png"), full_page=True)
    loss = ENTRIES.index("main/loss")
    orders = []
    for _ in range(2):  # ascending, then descending
        page.click(f"table.data-table thead th[data-column='{loss}']")
        direction = page.get_attribute(f"table.data-table thead th[data-column='{loss}']",
                                       "aria-sort")
        values = [float(v) for v in rows(loss)]
        assert values == sorted(values, reverse=direction == "descending")
        orders.append(rows(0))
    assert any(order != before for order in orders)  # the click reordered the rows
    assert os.path.getsize(os.path.join(shots, "channel-blocks.png")) > 10_000

