"""The data table and data visualization blocks, checked as their reference pages say.

docs.slack.dev ``reference/block-kit/blocks/data-table-block`` (changelog
2026-05-20) and ``reference/block-kit/blocks/data-visualization-block``
(changelog 2026-06-16); posted with the real ``slack_sdk.WebClient``.  A refused
block is ``invalid_blocks`` with a reason ending in the JSON pointer of the field.
"""

from __future__ import annotations

import copy

import pytest
from slack_sdk.errors import SlackApiError

from chainer_slack_report.testing import SlackEmulator


@pytest.fixture
def slack():
    """``SlackEmulator()`` with its defaults (Slack's)."""
    with SlackEmulator() as emulator:
        yield emulator


def text(value):
    return {"type": "raw_text", "text": value}


def number(value, shown=None):
    return {"type": "raw_number", "value": value, "text": shown or f"{value:g}"}


def table(rows=None, **fields):
    header = [text("epoch"), text("main/loss")]
    rows = rows if rows is not None else [header] + [[number(e), number(1 / e)]
                                                     for e in range(1, 8)]
    return {"type": "data_table", "caption": "Training log", "rows": rows, **fields}


def chart(kind="line", series=None, **axis):
    categories = ["1", "2", "3"]
    series = series if series is not None else [
        {"name": "main/loss", "data": [{"label": c, "value": 1 / int(c)} for c in categories]},
        {"name": "validation/main/loss",
         "data": [{"label": c, "value": 1.2 / int(c)} for c in categories]}]
    return {"type": "data_visualization", "title": "Loss",
            "chart": {"type": kind, "series": series,
                      "axis_config": {"categories": categories, **axis}}}


def refused(slack, *blocks):
    """The reasons Slack gives for refusing these blocks (an assertion that it does)."""
    with pytest.raises(SlackApiError) as info:
        slack.client().chat_postMessage(channel="general", text="fallback", blocks=list(blocks))
    assert info.value.response["error"] == "invalid_blocks", info.value.response
    return info.value.response["errors"]


def test_a_data_table_and_a_chart_are_posted_and_stored(slack):
    blocks = [table(page_size=3, row_header_column_index=0),
              chart(x_label="epoch", y_label="loss")]
    posted = slack.client().chat_postMessage(channel="general", text="fallback", blocks=blocks)
    assert posted["message"]["blocks"] == blocks
    assert slack.messages("general")[0].blocks == blocks


# -- data table -----------------------------------------------------------------------------
def test_the_header_row_may_not_hold_rich_text(slack):
    """"The first row of the table is a header, and rich_text cannot be used for header
    cells"; rich_text is fine in the other rows."""
    rich = {"type": "rich_text", "elements": [{"type": "rich_text_section",
                                               "elements": [{"type": "text", "text": "x"}]}]}
    ok = table([[text("a")], [rich]])
    assert slack.client().chat_postMessage(channel="general", text="t", blocks=[ok])["ok"]
    errors = refused(slack, table([[rich], [text("a")]]))
    assert errors == ["rich_text cannot be used for header cells "
                      "[json-pointer:/blocks/0/rows/0/0/type]"]


@pytest.mark.parametrize("rows, pointer", [
    ([[text("only a header")]], "/blocks/0/rows"),  # "a minimum of 2 rows"
    ([[text("h")]] + [[text("r")]] * 101, "/blocks/0/rows"),  # "a maximum of 101 rows"
    ([[text("a"), text("b")], [text("c")]], "/blocks/0/rows"),  # "the same number of values"
    ([[text(str(i)) for i in range(21)]] * 2, "/blocks/0/rows/0"),  # "maximum of 20 columns"
    ([[text("h")], [text("x" * 5000)], [text("y" * 5000)]], "/blocks/0/rows"),  # 10,000
    ([[text("h")], [{"type": "raw_number", "value": "1"}]], "/blocks/0/rows/1/0/value"),
    ([[text("h")], [text("")]], "/blocks/0/rows/1/0/text"),  # raw_text "minLength": 1
    ([[text("h")], [{"type": "button"}]], "/blocks/0/rows/1/0/type"),
], ids=["1 row", "102 rows", "ragged", "21 columns", "10001 characters", "value not a number",
        "empty text", "unknown cell"])
def test_table_shapes_slack_refuses(slack, rows, pointer):
    errors = refused(slack, table(rows))
    assert any(e.endswith(f"[json-pointer:{pointer}]") for e in errors), errors


@pytest.mark.parametrize("fields, pointer", [
    ({"page_size": 0}, "/blocks/0/page_size"),  # "Min 1, Max 100"
    ({"page_size": 101}, "/blocks/0/page_size"),
    ({"row_header_column_index": 2}, "/blocks/0/row_header_column_index"),  # 2 columns
    ({"caption": ""}, "/blocks/0/caption"),  # caption is required
])
def test_table_fields_slack_refuses(slack, fields, pointer):
    (error,) = refused(slack, table(**fields))
    assert error.endswith(f"[json-pointer:{pointer}]")


def test_a_table_at_the_limits_is_taken(slack):
    rows = [[text(f"c{i}") for i in range(20)]] + [[text("v")] * 20] * 100  # 101 x 20
    assert slack.client().chat_postMessage(channel="general", text="t",
                                           blocks=[table(rows, page_size=100)])["ok"]


# -- data visualization ---------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["line", "area", "bar"])
def test_line_area_and_bar_charts_are_taken(slack, kind):
    assert slack.client().chat_postMessage(channel="general", text="t",
                                           blocks=[chart(kind)])["ok"]


def test_a_pie_is_taken(slack):
    pie = {"type": "data_visualization", "title": "Time per phase",
           "chart": {"type": "pie", "segments": [{"label": "forward", "value": 3},
                                                 {"label": "backward", "value": 5}]}}
    assert slack.client().chat_postMessage(channel="general", text="t", blocks=[pie])["ok"]
    pie["chart"]["segments"][0]["value"] = 0  # "Must be greater than 0"
    assert refused(slack, pie) == [
        "must be a number greater than 0 [json-pointer:/blocks/0/chart/segments/0/value]"]


def many_series(n):
    return [{"name": f"s{i}", "data": [{"label": "1", "value": i}]} for i in range(n)]


@pytest.mark.parametrize("change, pointer", [
    (lambda b: b.update(title="t" * 51), "/blocks/0/title"),  # "Maximum 50 characters"
    (lambda b: b["chart"].update(type="scatter"), "/blocks/0/chart/type"),
    (lambda b: b["chart"].update(series=many_series(7)), "/blocks/0/chart/series"),  # max 6
    (lambda b: b["chart"].update(series=[]), "/blocks/0/chart/series"),  # min 1
    (lambda b: b["chart"]["axis_config"].update(categories=[str(i) for i in range(21)]),
     "/blocks/0/chart/axis_config/categories"),  # 20 points
    (lambda b: b["chart"]["series"][0].update(name="n" * 21),
     "/blocks/0/chart/series/0/name"),  # a series name: 20 characters
    (lambda b: b["chart"]["series"][1].update(name="main/loss"),
     "/blocks/0/chart/series/1/name"),  # series names unique
    (lambda b: b["chart"]["series"][0]["data"][0].update(label="9"),
     "/blocks/0/chart/series/0/data/0/label"),  # a label of the categories
    (lambda b: b["chart"]["axis_config"].update(y_label="y" * 51),
     "/blocks/0/chart/axis_config/y_label"),  # axis titles: 50 characters
    (lambda b: b["chart"].pop("axis_config"), "/blocks/0/chart/axis_config"),  # required
], ids=["title 51", "scatter", "7 series", "no series", "21 points", "name 21", "same names",
        "unknown label", "y_label 51", "no axis_config"])
def test_charts_slack_refuses(slack, change, pointer):
    block = copy.deepcopy(chart())
    change(block)
    errors = refused(slack, block)
    assert any(e.endswith(f"[json-pointer:{pointer}]") for e in errors), errors


def test_at_most_two_charts_in_a_message(slack):
    """The data visualization page: at most two of these blocks in one message."""
    client = slack.client()
    assert client.chat_postMessage(channel="general", text="t",
                                   blocks=[chart(), chart("bar")])["ok"]
    assert refused(slack, chart(), chart("bar"), chart("area")) == [
        "no more than 2 data_visualization blocks allowed in a message "
        "[json-pointer:/blocks/2]"]
