"""Slack's documented limits of the Block Kit blocks the report sends, and a local check.

The blocks layout (:mod:`~chainer_slack_report.rendering.blocks`) builds its
payload within these limits, and :func:`check_blocks` checks every payload
against them before it is sent, so that a refusal by Slack (``invalid_blocks``)
means a workspace or client without these blocks, not a payload of ours.
Pure functions and constants, no network.

Sources (docs.slack.dev):

* ``reference/block-kit/blocks``: "You can include up to 50 blocks in each
  message".
* ``reference/block-kit/blocks/section-block``: ``text`` "Maximum length for
  the text in this field is 3000 characters".
* ``reference/block-kit/blocks/data-table-block`` (changelog 2026-05-20):
  ``caption`` required; "a minimum of 2 rows (1 regular row plus the header)
  and a maximum of 101 rows"; "a minimum of 1 column and a maximum of 20
  columns"; "All rows must have the same number of values"; "the character
  count across all cells cannot exceed 10,000 characters", for one table and
  for all the tables of a message together; ``rich_text`` "cannot be used for
  header cells"; ``raw_text`` and ``raw_number`` ``text`` have ``minLength`` 1,
  a ``raw_number`` ``value`` is a number; ``page_size`` "Min 1, Max 100.
  Defaults to 5".
* ``reference/block-kit/blocks/data-visualization-block`` (changelog
  2026-06-16): ``title`` "Maximum 50 characters"; ``chart`` one of ``pie``,
  ``bar``, ``area``, ``line``; a line chart's ``series`` "Min 1, max 6" and
  its ``axis_config``.  The same page's Data Series and Axis Config limit a
  series ``name`` to 20 characters (unique in its chart), its ``data`` to 1-20
  points, one per category (a point's ``label`` is one of the
  ``categories``), category labels to 20 characters and the axis titles to 50;
  and a message holds at most two of these blocks.  (These last numbers are
  those of Slack's Java SDK, ``com.slack.api.model.block.DataVisualization*``,
  and of the other public SDKs that cite the page; the stored copy of the page
  read for this module was cut before them.)
* ``msg_blocks_too_long`` ("Blocks submitted with this message are too long",
  ``chat.postMessage``/``chat.update``) has no documented number; Slack's
  maintainers put it at about 12,000 characters of text (slackapi/bolt-js#2509):
  the text of all ``text`` fields together stays within :data:`MAX_BLOCKS_TEXT`.
"""

from __future__ import annotations

import math
from typing import Any, List

__all__ = [
    "check_blocks", "text_chars", "MAX_BLOCKS", "MAX_SECTION_TEXT", "MAX_BLOCKS_TEXT",
    "TABLE_MAX_ROWS", "TABLE_MAX_COLUMNS", "TABLE_MAX_CHARS", "TABLE_MAX_PAGE_SIZE",
    "CHART_MAX_TITLE", "CHART_MAX_SERIES", "CHART_MAX_POINTS", "CHART_MAX_LABEL",
    "CHART_MAX_AXIS_TITLE", "MAX_CHARTS",
]

#: Blocks in one message.
MAX_BLOCKS = 50
#: Characters of a section block's ``text`` (also used for a context element's).
MAX_SECTION_TEXT = 3000
#: Characters of every ``text`` field of a message's blocks together (``msg_blocks_too_long``).
MAX_BLOCKS_TEXT = 12000
#: Rows of a data table: the header and up to 100.
TABLE_MAX_ROWS = 101
#: Cells of each data table row.
TABLE_MAX_COLUMNS = 20
#: Characters of all the cells of a message's data tables together.
TABLE_MAX_CHARS = 10000
#: A data table's largest ``page_size``.
TABLE_MAX_PAGE_SIZE = 100
#: Characters of a data visualization block's ``title``.
CHART_MAX_TITLE = 50
#: Series of a line chart.
CHART_MAX_SERIES = 6
#: Points of a series (and categories of a chart).
CHART_MAX_POINTS = 20
#: Characters of a series ``name``, a category and a point ``label``.
CHART_MAX_LABEL = 20
#: Characters of ``x_label`` and ``y_label``.
CHART_MAX_AXIS_TITLE = 50
#: Data visualization blocks in one message.
MAX_CHARTS = 2


def check_blocks(blocks: Any) -> List[str]:
    """What in ``blocks`` Slack's documented limits refuse; ``[]`` when nothing.

    Checks the blocks the report sends (``section``, ``context``,
    ``data_table``, ``data_visualization`` with a ``line`` chart); any other
    type is a problem too (this check does not know its limits).

    Args:
        blocks: The ``blocks`` argument of ``chat.postMessage``/``chat.update``.

    Returns:
        list of str: One line per problem, each naming where it is
        (``"blocks[2].rows: 102 rows, at most 101"``).
    """
    problems: List[str] = []
    if not isinstance(blocks, list):
        return [f"blocks must be a list, got {type(blocks).__name__}"]
    if len(blocks) > MAX_BLOCKS:
        problems.append(f"blocks: {len(blocks)} blocks, at most {MAX_BLOCKS}")
    charts = cells = 0
    for index, block in enumerate(blocks):
        at = f"blocks[{index}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "section":
            _text_object(block.get("text"), f"{at}.text", problems)
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
                problems.append(f"{at}.elements: 1 to 10 text objects needed")
            else:
                for i, element in enumerate(elements):
                    _text_object(element, f"{at}.elements[{i}]", problems)
        elif kind == "data_table":
            cells += _data_table(block, at, problems)
        elif kind == "data_visualization":
            charts += 1
            _data_visualization(block, at, problems)
        else:
            problems.append(f"{at}.type: {kind!r} is not a block this check knows")
    if charts > MAX_CHARTS:
        problems.append(f"blocks: {charts} data_visualization blocks, at most {MAX_CHARTS}")
    if cells > TABLE_MAX_CHARS:
        problems.append(f"blocks: the data tables' cells hold {cells} characters, at most "
                        f"{TABLE_MAX_CHARS}")
    total = text_chars(blocks)
    if total > MAX_BLOCKS_TEXT:
        problems.append(f"blocks: {total} characters of text, at most {MAX_BLOCKS_TEXT} "
                        f"(msg_blocks_too_long)")
    return problems


def text_chars(value: Any) -> int:
    """Characters of every ``text`` string anywhere in ``value`` (a block, a list of them…)."""
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, inner in item.items():
                if key == "text" and isinstance(inner, str):
                    total += len(inner)
                elif isinstance(inner, (dict, list)):
                    stack.append(inner)
        elif isinstance(item, list):
            stack.extend(item)
    return total


def _text_object(value: Any, at: str, problems: List[str]) -> None:
    if not isinstance(value, dict) or value.get("type") not in ("mrkdwn", "plain_text"):
        problems.append(f"{at}: a mrkdwn or plain_text object needed")
        return
    _string(value.get("text"), f"{at}.text", MAX_SECTION_TEXT, problems)


def _string(value: Any, at: str, limit: int, problems: List[str]) -> None:
    if not isinstance(value, str) or not value:
        problems.append(f"{at}: a non-empty string needed, got {value!r}")
    elif len(value) > limit:
        problems.append(f"{at}: {len(value)} characters, at most {limit}")


def _number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _data_table(block: dict, at: str, problems: List[str]) -> int:
    """Check a data table; the characters of its cells."""
    _string(block.get("caption"), f"{at}.caption", 10 ** 6, problems)
    rows = block.get("rows")
    if not isinstance(rows, list) or not 2 <= len(rows) <= TABLE_MAX_ROWS:
        count = len(rows) if isinstance(rows, list) else rows
        problems.append(f"{at}.rows: {count!r} rows, 2 to {TABLE_MAX_ROWS} needed")
        return 0
    widths = {len(row) if isinstance(row, list) else -1 for row in rows}
    if len(widths) > 1 or not 1 <= min(widths) <= TABLE_MAX_COLUMNS:
        problems.append(f"{at}.rows: every row needs the same 1 to {TABLE_MAX_COLUMNS} cells, "
                        f"got widths {sorted(widths)}")
        return 0
    page_size = block.get("page_size", 5)
    if isinstance(page_size, bool) or not isinstance(page_size, int) or \
            not 1 <= page_size <= TABLE_MAX_PAGE_SIZE:
        problems.append(f"{at}.page_size: {page_size!r}, 1 to {TABLE_MAX_PAGE_SIZE} needed")
    chars = 0
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            kind = cell.get("type") if isinstance(cell, dict) else None
            text = cell.get("text") if kind else None
            if (kind == "raw_text" or (kind == "raw_number" and r > 0)) and \
                    isinstance(text, str) and text and \
                    (kind == "raw_text" or _number(cell.get("value"))):
                chars += len(text)
                continue
            where = f"{at}.rows[{r}][{c}]"
            if kind not in ("raw_text", "raw_number") or (kind == "raw_number" and r == 0):
                problems.append(f"{where}: {kind!r} cell; the report sends raw_text (and "
                                f"raw_number below the header)")
            elif not isinstance(text, str) or not text:
                problems.append(f"{where}.text: a non-empty string needed, got {text!r}")
            else:
                problems.append(f"{where}.value: a finite number needed, got "
                                f"{cell.get('value')!r}")
    return chars


def _data_visualization(block: dict, at: str, problems: List[str]) -> None:
    _string(block.get("title"), f"{at}.title", CHART_MAX_TITLE, problems)
    chart = block.get("chart")
    if not isinstance(chart, dict) or chart.get("type") != "line":
        problems.append(f"{at}.chart: a line chart needed")
        return
    axis = chart.get("axis_config")
    categories = axis.get("categories") if isinstance(axis, dict) else None
    if not isinstance(categories, list) or not 1 <= len(categories) <= CHART_MAX_POINTS:
        problems.append(f"{at}.chart.axis_config.categories: 1 to {CHART_MAX_POINTS} needed")
        return
    for i, label in enumerate(categories):
        _string(label, f"{at}.chart.axis_config.categories[{i}]", CHART_MAX_LABEL, problems)
    if len(set(categories)) != len(categories):
        problems.append(f"{at}.chart.axis_config.categories: not unique")
    for key in ("x_label", "y_label"):
        if key in axis:
            _string(axis[key], f"{at}.chart.axis_config.{key}", CHART_MAX_AXIS_TITLE, problems)
    series = chart.get("series")
    if not isinstance(series, list) or not 1 <= len(series) <= CHART_MAX_SERIES:
        problems.append(f"{at}.chart.series: 1 to {CHART_MAX_SERIES} series needed")
        return
    names = [s.get("name") if isinstance(s, dict) else None for s in series]
    if len(set(names)) != len(names):
        problems.append(f"{at}.chart.series: names not unique: {names}")
    for i, one in enumerate(series):
        where = f"{at}.chart.series[{i}]"
        _string(names[i], f"{where}.name", CHART_MAX_LABEL, problems)
        data = one.get("data") if isinstance(one, dict) else None
        if not isinstance(data, list):
            problems.append(f"{where}.data: a list of points needed")
            continue
        labels = [p.get("label") if isinstance(p, dict) else None for p in data]
        if labels != categories:
            problems.append(f"{where}.data: one point per category, in order, needed")
        for j, point in enumerate(data):
            if not isinstance(point, dict) or not _number(point.get("value")):
                problems.append(f"{where}.data[{j}].value: a finite number needed")
