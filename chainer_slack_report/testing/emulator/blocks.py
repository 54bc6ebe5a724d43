"""Block Kit checks: a message's ``blocks`` as Slack validates them before posting.

:func:`check_blocks` answers what ``chat.postMessage``, ``chat.update`` and
``chat.scheduleMessage`` answer for blocks Slack refuses:

* ``invalid_blocks_format`` -- ``blocks`` is not a JSON array of objects;
* ``invalid_blocks`` -- with the reasons where Slack puts them, in ``errors``
  and (prefixed ``[ERROR]``) in ``response_metadata.messages``, each ending in
  ``[json-pointer:/blocks/N/…]``, e.g. ``must be less than 3001 characters
  [json-pointer:/blocks/0/text/text]``;
* ``msg_blocks_too_long`` -- the blocks hold more text than a message can.

The limits are those of the Block Kit reference pages on docs.slack.dev
(``reference/block-kit/blocks`` and one page per block), named below.
"""

from __future__ import annotations

import json
from typing import Any, Iterator, List, Optional, Tuple

__all__ = ["parse_blocks", "check_blocks", "text_chars", "MESSAGE_BLOCK_TYPES", "MAX_BLOCKS",
           "MAX_SECTION_TEXT", "MAX_HEADER_TEXT", "MAX_BLOCKS_TEXT_CHARS"]

#: "You can include up to 50 blocks in each message" (Blocks reference).
MAX_BLOCKS = 50
#: ``block_id``: "Maximum length for this field is 255 characters."
MAX_BLOCK_ID = 255
#: Section block: ``text`` "Maximum length for the text in this field is 3000 characters";
#: ``fields`` "Maximum number of items is 10. Maximum length for the text in each item is
#: 2000 characters."
MAX_SECTION_TEXT, MAX_SECTION_FIELDS, MAX_FIELD_TEXT = 3000, 10, 2000
#: Header block: a ``plain_text`` ``text`` of at most 150 characters.
MAX_HEADER_TEXT = 150
#: Context block: ``elements`` "Maximum number of items is 10."
MAX_CONTEXT_ELEMENTS = 10
#: Actions block: ``elements`` "There is a maximum of 25 elements in each action block."
MAX_ACTIONS_ELEMENTS = 25
#: Markdown block: "The cumulative limit for all markdown blocks in a single payload is
#: 12,000 characters."
MAX_MARKDOWN_TEXT = 12000
#: Image block: ``alt_text`` and ``title`` at most 2000 characters, ``image_url`` 3000.
MAX_IMAGE_ALT, MAX_IMAGE_URL = 2000, 3000
#: ``msg_blocks_too_long``, "Blocks submitted with this message are too long", has no
#: documented number.  Slack's maintainers put it at "12,000 text characters with a buffer
#: for block containers" (slackapi/bolt-js#2509, where it struck at about 13,200); here the
#: text of every ``text`` field of the blocks together may not exceed 12,000 characters.
MAX_BLOCKS_TEXT_CHARS = 12000

#: Data table block (docs.slack.dev ``reference/block-kit/blocks/data-table-block``,
#: changelog 2026-05-20): "a minimum of 2 rows (1 regular row plus the header) and a
#: maximum of 101 rows"; "a minimum of 1 column and a maximum of 20 columns"; "All rows
#: must have the same number of values, and the character count across all cells cannot
#: exceed 10,000 characters"; ``page_size`` "Min 1, Max 100. Defaults to 5".
TABLE_MIN_ROWS, TABLE_MAX_ROWS, TABLE_MAX_COLUMNS = 2, 101, 20
TABLE_MAX_CHARS, TABLE_MAX_PAGE_SIZE, TABLE_PAGE_SIZE = 10000, 100, 5
#: Data visualization block (``reference/block-kit/blocks/data-visualization-block``,
#: changelog 2026-06-16): ``title`` "Maximum 50 characters"; ``segments`` of a pie and
#: ``series`` of a line, area or bar chart "Min 1, max 6"; a segment's ``label`` "Maximum
#: of 20 characters", its ``value`` "Must be greater than 0".  The same page's Data Series
#: and Axis Config: a series ``name`` of at most 20 characters, 1 to 20 data points, point
#: and category labels of at most 20 characters, axis titles of at most 50, and at most
#: two of these blocks in one message.
CHART_TYPES = ("line", "area", "bar", "pie")
CHART_MAX_TITLE, CHART_MAX_SERIES, CHART_MAX_POINTS = 50, 6, 20
CHART_MAX_LABEL, CHART_MAX_AXIS_TITLE, MAX_CHARTS = 20, 50, 2

#: The block types a message may hold (Blocks reference and blocks.json on docs.slack.dev:
#: the blocks available in the "Messages" surface).  ``alert`` is for modals only.
MESSAGE_BLOCK_TYPES = frozenset({
    "actions", "card", "carousel", "container", "context", "context_actions", "data_table",
    "data_visualization", "divider", "file", "header", "image", "input", "markdown",
    "rich_text", "section", "table", "video",
})

_TEXT_TYPES = ("plain_text", "mrkdwn")


def parse_blocks(value: Any) -> Tuple[Optional[List[dict]], Optional[str]]:
    """``(blocks, None)`` from a ``blocks`` argument, or ``(None, "invalid_blocks_format")``.

    Args:
        value: The argument as it came: a list (JSON body), a JSON string
            (form-encoded body), or None/``""`` (no blocks: ``([], None)``).
    """
    if value is None or value == "":
        return [], None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None, "invalid_blocks_format"
    if not isinstance(value, list) or not all(isinstance(b, dict) for b in value):
        return None, "invalid_blocks_format"
    return value, None


def check_blocks(blocks: List[dict]) -> Optional[dict]:
    """Slack's error answer for these blocks, or None when Slack would take them.

    Args:
        blocks (list of dict): The parsed blocks (see :func:`parse_blocks`).

    Returns:
        dict or None: ``{"ok": False, "error": "invalid_blocks", "errors": [...],
        "response_metadata": {"messages": ["[ERROR] ...", ...]}}``, or
        ``{"ok": False, "error": "msg_blocks_too_long"}``, or None.
    """
    problems = _Problems()
    if len(blocks) > MAX_BLOCKS:
        problems.add(f"no more than {MAX_BLOCKS} items allowed", "/blocks")
    block_ids = set()
    markdown = 0
    for index, block in enumerate(blocks):
        at = f"/blocks/{index}"
        kind = block.get("type")
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or len(block_id) > MAX_BLOCK_ID:
                problems.add(f"must be less than {MAX_BLOCK_ID + 1} characters",
                             at + "/block_id")
            elif block_id in block_ids:
                problems.add("block_id must be unique within a message", at + "/block_id")
            block_ids.add(block_id)
        if kind not in MESSAGE_BLOCK_TYPES:
            problems.add(f"unsupported block type {kind!r} for a message", at + "/type")
            continue
        check = _CHECKS.get(kind)
        if check is not None:
            check(block, at, problems)
        if kind == "markdown" and isinstance(block.get("text"), str):
            markdown += len(block["text"])
    charts = [i for i, b in enumerate(blocks) if b.get("type") == "data_visualization"]
    if len(charts) > MAX_CHARTS:
        problems.add(f"no more than {MAX_CHARTS} data_visualization blocks allowed in a "
                     f"message", f"/blocks/{charts[MAX_CHARTS]}")
    if markdown > MAX_MARKDOWN_TEXT:
        problems.add(f"markdown blocks together must be less than {MAX_MARKDOWN_TEXT + 1} "
                     f"characters", "/blocks")
    if problems.errors:
        return {"ok": False, "error": "invalid_blocks", "errors": list(problems.errors),
                "response_metadata": {"messages": ["[ERROR] " + e for e in problems.errors]}}
    if text_chars(blocks) > MAX_BLOCKS_TEXT_CHARS:
        return {"ok": False, "error": "msg_blocks_too_long"}
    return None


def text_chars(value: Any) -> int:
    """Characters in every ``text`` string anywhere in ``value`` (blocks, a block, …)."""
    return sum(len(text) for text in _texts(value))


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "text" and isinstance(item, str):
                yield item
            else:
                yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)


class _Problems:
    """Slack's reasons, each ``"<what> [json-pointer:<where>]"``."""

    def __init__(self) -> None:
        self.errors: List[str] = []

    def add(self, what: str, where: str) -> None:
        self.errors.append(f"{what} [json-pointer:{where}]")

    def text_object(self, value: Any, at: str, *, limit: int,
                    types: Tuple[str, ...] = _TEXT_TYPES) -> None:
        """A text object: ``type`` one of ``types`` and 1..``limit`` characters of ``text``."""
        if not isinstance(value, dict):
            self.add("must provide an object", at)
            return
        if value.get("type") not in types:
            self.add(f"must be one of {', '.join(types)}", at + "/type")
        self.string(value.get("text"), at + "/text", limit=limit)

    def string(self, value: Any, at: str, *, limit: int) -> None:
        """A string of 1..``limit`` characters."""
        if not isinstance(value, str):
            self.add("must provide a string", at)
        elif not value:
            self.add("must be more than 0 characters", at)
        elif len(value) > limit:
            self.add(f"must be less than {limit + 1} characters", at)

    def items(self, value: Any, at: str, *, low: int, high: int) -> List[Any]:
        """A list of ``low``..``high`` items; returns it (or ``[]``)."""
        if not isinstance(value, list):
            self.add("must provide an array", at)
            return []
        if len(value) < low:
            self.add(f"must provide at least {low} items", at)
        if len(value) > high:
            self.add(f"no more than {high} items allowed", at)
        return value


def _section(block: dict, at: str, problems: _Problems) -> None:
    if "text" not in block and "fields" not in block:
        problems.add("must provide text or fields", at)
    if "text" in block:
        problems.text_object(block["text"], at + "/text", limit=MAX_SECTION_TEXT)
    if "fields" in block:
        for i, item in enumerate(problems.items(block["fields"], at + "/fields", low=1,
                                                high=MAX_SECTION_FIELDS)):
            problems.text_object(item, f"{at}/fields/{i}", limit=MAX_FIELD_TEXT)


def _header(block: dict, at: str, problems: _Problems) -> None:
    problems.text_object(block.get("text"), at + "/text", limit=MAX_HEADER_TEXT,
                         types=("plain_text",))


def _context(block: dict, at: str, problems: _Problems) -> None:
    for i, item in enumerate(problems.items(block.get("elements"), at + "/elements", low=1,
                                            high=MAX_CONTEXT_ELEMENTS)):
        if isinstance(item, dict) and item.get("type") == "image":
            continue
        problems.text_object(item, f"{at}/elements/{i}", limit=MAX_SECTION_TEXT)


def _actions(block: dict, at: str, problems: _Problems) -> None:
    problems.items(block.get("elements"), at + "/elements", low=1, high=MAX_ACTIONS_ELEMENTS)


def _markdown(block: dict, at: str, problems: _Problems) -> None:
    problems.string(block.get("text"), at + "/text", limit=MAX_MARKDOWN_TEXT)


def _image(block: dict, at: str, problems: _Problems) -> None:
    problems.string(block.get("alt_text"), at + "/alt_text", limit=MAX_IMAGE_ALT)
    if "image_url" in block:
        problems.string(block["image_url"], at + "/image_url", limit=MAX_IMAGE_URL)
    elif "slack_file" not in block:
        problems.add("must provide image_url or slack_file", at)


def _rich_text(block: dict, at: str, problems: _Problems) -> None:
    problems.items(block.get("elements"), at + "/elements", low=0, high=10 ** 6)


def _data_table(block: dict, at: str, problems: _Problems) -> None:
    problems.string(block.get("caption"), at + "/caption", limit=10 ** 6)
    rows = problems.items(block.get("rows"), at + "/rows", low=TABLE_MIN_ROWS,
                          high=TABLE_MAX_ROWS)
    widths = set()
    for r, row in enumerate(rows):
        where = f"{at}/rows/{r}"
        cells = problems.items(row, where, low=1, high=TABLE_MAX_COLUMNS)
        widths.add(len(cells))
        for c, cell in enumerate(cells):
            _table_cell(cell, f"{where}/{c}", problems, header=r == 0)
    if len(widths) > 1:
        problems.add("all rows must have the same number of cells", at + "/rows")
    if text_chars(rows) > TABLE_MAX_CHARS:
        problems.add(f"the cells together must be less than {TABLE_MAX_CHARS + 1} characters",
                     at + "/rows")
    if "page_size" in block:
        _integer(block["page_size"], at + "/page_size", problems, low=1,
                 high=TABLE_MAX_PAGE_SIZE)
    if "row_header_column_index" in block:
        _integer(block["row_header_column_index"], at + "/row_header_column_index", problems,
                 low=0, high=max(widths, default=1) - 1)


def _table_cell(cell: Any, at: str, problems: _Problems, *, header: bool) -> None:
    kind = cell.get("type") if isinstance(cell, dict) else None
    if kind == "raw_text":
        problems.string(cell.get("text"), at + "/text", limit=TABLE_MAX_CHARS)
    elif kind == "raw_number":
        if not _is_number(cell.get("value")):
            problems.add("must provide a number", at + "/value")
        if "text" in cell:
            problems.string(cell["text"], at + "/text", limit=TABLE_MAX_CHARS)
    elif kind == "rich_text" and not header:
        _rich_text(cell, at, problems)
    elif kind == "rich_text":
        problems.add("rich_text cannot be used for header cells", at + "/type")
    else:
        problems.add("must be one of raw_text, raw_number, rich_text", at + "/type")


def _data_visualization(block: dict, at: str, problems: _Problems) -> None:
    problems.string(block.get("title"), at + "/title", limit=CHART_MAX_TITLE)
    chart = block.get("chart")
    if not isinstance(chart, dict) or chart.get("type") not in CHART_TYPES:
        problems.add(f"must be one of {', '.join(CHART_TYPES)}", at + "/chart/type")
        return
    at += "/chart"
    if chart["type"] == "pie":
        segments = problems.items(chart.get("segments"), at + "/segments", low=1,
                                  high=CHART_MAX_SERIES)
        for i, segment in enumerate(segments):
            where = f"{at}/segments/{i}"
            segment = segment if isinstance(segment, dict) else {}
            problems.string(segment.get("label"), where + "/label", limit=CHART_MAX_LABEL)
            value = segment.get("value")
            if not _is_number(value) or value <= 0:
                problems.add("must be a number greater than 0", where + "/value")
        return
    axis = chart.get("axis_config")
    if not isinstance(axis, dict):
        problems.add("must provide an object", at + "/axis_config")
        axis = {}
    categories = problems.items(axis.get("categories"), at + "/axis_config/categories",
                                low=1, high=CHART_MAX_POINTS)
    for i, label in enumerate(categories):
        problems.string(label, f"{at}/axis_config/categories/{i}", limit=CHART_MAX_LABEL)
    for key in ("x_label", "y_label"):
        if key in axis:
            problems.string(axis[key], f"{at}/axis_config/{key}", limit=CHART_MAX_AXIS_TITLE)
    names = set()
    for i, series in enumerate(problems.items(chart.get("series"), at + "/series", low=1,
                                              high=CHART_MAX_SERIES)):
        where = f"{at}/series/{i}"
        series = series if isinstance(series, dict) else {}
        problems.string(series.get("name"), where + "/name", limit=CHART_MAX_LABEL)
        if series.get("name") in names:
            problems.add("series names must be unique", where + "/name")
        names.add(series.get("name"))
        for j, point in enumerate(problems.items(series.get("data"), where + "/data", low=1,
                                                 high=CHART_MAX_POINTS)):
            point = point if isinstance(point, dict) else {}
            problems.string(point.get("label"), f"{where}/data/{j}/label",
                            limit=CHART_MAX_LABEL)
            if point.get("label") not in categories:
                problems.add("label must be one of axis_config.categories",
                             f"{where}/data/{j}/label")
            if not _is_number(point.get("value")):
                problems.add("must provide a number", f"{where}/data/{j}/value")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and value == value and abs(value) != float("inf")


def _integer(value: Any, at: str, problems: _Problems, *, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        problems.add("must provide an integer", at)
    elif not low <= value <= high:
        problems.add(f"must be between {low} and {high}", at)


_CHECKS = {
    "section": _section, "header": _header, "context": _context, "actions": _actions,
    "markdown": _markdown, "image": _image, "rich_text": _rich_text,
    "data_table": _data_table, "data_visualization": _data_visualization,
}
