"""The blocks layout of a report message (``layout="blocks"``): Block Kit blocks, not one text.

:class:`BlocksMessage` turns a run's rows and status into the ``blocks`` of
``chat.postMessage``/``chat.update``, in this order:

1. a ``section`` (mrkdwn): the template without its table — the status line
   (status, elapsed, progress and ETA, host and command, ranks), the
   sparklines if any, the finish mentions at the end;
2. a ``data_table``: the entries as its header, up to 100 rows newest first
   (the first page shows the newest), chosen by a row policy of the run's
   ``len_normalizer``; numbers as ``raw_number`` (sortable numerically) whose
   text is PrintReport's formatting, other values as ``raw_text``, a value not
   reported for that row as an empty cell;
3. one ``data_visualization`` line chart per ``chart`` group
   (:mod:`~chainer_slack_report.rendering.charts`);
4. after a failure, a ``section`` with the error and the traceback's tail.

Every string taken from data is escaped (``&``, ``<``, ``>``, tokens
redacted: :func:`~chainer_slack_report.rendering.mrkdwn.escape`), in the
table's cells and the charts' labels as much as in the mrkdwn.  Every
rendering is checked with :func:`~chainer_slack_report.rendering.block_kit.check_blocks`
before it is returned.  The message's ``text`` (the notification fallback) is
still the text layout's (:class:`~chainer_slack_report.rendering.message.ReportMessage`).

Like the text layout, :meth:`BlocksMessage.push` (training thread) only
queues references; :meth:`BlocksMessage.render` (the worker) does the work,
with cost and memory bounded however many rows the run logs.
"""

from __future__ import annotations

import copy
import numbers
import threading
from collections import deque
from typing import Iterable, List, Mapping, Optional, Sequence

from .block_kit import (
    CHART_MAX_LABEL,
    CHART_MAX_TITLE,
    MAX_BLOCKS_TEXT,
    MAX_SECTION_TEXT,
    TABLE_MAX_CHARS,
    TABLE_MAX_COLUMNS,
    TABLE_MAX_ROWS,
    check_blocks,
    text_chars,
)
from .charts import ChartCurves, series_name
from .message import ReportMessage, format_row
from .mrkdwn import escape
from .normalizers import FIFO, LIFO, CallablePolicy, GivenRows, RowPolicy, ThinOut, make_policy

__all__ = ["BlocksMessage", "InvalidBlocks", "table_policy", "EMPTY_CELL", "PAGE_SIZE",
           "section_block", "raw_text_cell", "table_cell", "fit_text",
           "MAX_CELL_CHARS", "TABLE_CAPACITY"]

#: The text of a cell whose entry the row did not report: one blank (``raw_text`` needs
#: at least one character).
EMPTY_CELL = " "
#: Rows per page of the data table (fewer if it has fewer): the newest, on the first page.
PAGE_SIZE = 10
#: Characters of one cell's text at most (a longer value ends in ``…``).
MAX_CELL_CHARS = 200
#: The capacity (UTF-8 bytes of text rows) of the data table's row policy.
TABLE_CAPACITY = 2 * TABLE_MAX_CHARS

_FENCE = "```"
_MISSING = object()


class InvalidBlocks(ValueError):
    """A rendering that Slack's documented limits would refuse (a bug, or data beyond them).

    Attributes:
        problems (list of str): What :func:`~.block_kit.check_blocks` found.
    """

    def __init__(self, problems: List[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class _Row(str):
    """A table row as the text layout shows it (what a row policy weighs), with its values."""

    values: tuple
    cells: Optional[list] = None  # built while the table shows the row
    chars = 0  # the characters of the cells' text


def table_policy(normalizer) -> RowPolicy:
    """A row policy of ``len_normalizer``'s kind for the data table: it weighs the rows
    as the text layout shows them (UTF-8 bytes, each with its newline), and is asked for
    rows within twice the table's 10,000 characters of cells (:data:`TABLE_CAPACITY`).

    Args:
        normalizer: A ``len_normalizer`` argument: a name, a callable, or a
            :class:`~.normalizers.RowPolicy` (a built-in one gets a new
            instance of its kind; any other is copied with :func:`copy.deepcopy`,
            so give it before the run logs rows).

    Raises:
        ValueError, TypeError: As :func:`~.normalizers.make_policy`.
    """
    if isinstance(normalizer, RowPolicy):
        kind = type(normalizer)
        if kind is FIFO:
            return FIFO(TABLE_CAPACITY, normalizer.max_rows)
        if kind in (ThinOut, LIFO):
            return kind(TABLE_CAPACITY)
        return copy.deepcopy(normalizer)
    return make_policy(normalizer, TABLE_CAPACITY)


class BlocksMessage:
    """The blocks of one run's message (see the module).

    Args:
        message (ReportMessage): The run's text layout: the status line, the
            error and the entries come from it (it must show a header).
        policy (RowPolicy): Picks the table's rows (see :func:`table_policy`).
        charts (sequence of sequences of str): One line chart per group of
            observation keys (checked by :func:`~.charts.chart_groups`).

    Raises:
        ValueError: ``message`` has no header, or more than 20 entries (a data
            table's columns).

    ``push`` is for the training thread and only stores references; ``render``
    is for one worker thread.
    """

    def __init__(self, message: ReportMessage, policy: RowPolicy,
                 charts: Sequence[Sequence[str]] = ()) -> None:
        if message.header is None:
            raise ValueError("the blocks layout needs a table header (entries)")
        if len(message.entries) > TABLE_MAX_COLUMNS:
            raise ValueError(f"the blocks layout's data table holds at most "
                             f"{TABLE_MAX_COLUMNS} columns (Slack's limit), got "
                             f"{len(message.entries)} entries; show fewer entries or use "
                             f"layout='text'")
        self.message = message
        self.entries = list(message.entries)
        self.policy = policy
        self.charts = [ChartCurves(group) for group in charts]
        self._header = [raw_text_cell(escape(entry)) for entry in self.entries]
        self._header_chars = text_chars(self._header)
        # A callable normalizer returns copies of the rows (and given rows are text alone):
        # they are found again by text.
        self._by_text: Optional[dict] = ({} if isinstance(policy, (CallablePolicy, GivenRows))
                                         else None)
        self._pending: deque = deque()
        self._shown: dict = {}  # id → row, for the rows whose cells are built
        self._lock = threading.Lock()

    # -- training thread ---------------------------------------------------------
    def push(self, observations: Iterable[Mapping[str, object]]) -> None:
        """Queue new log rows (the same as the text layout gets).  O(1) per row."""
        self._pending.extend(observations)

    # -- worker thread -----------------------------------------------------------
    def render(self, prefix: str = "") -> List[dict]:
        """The message's blocks now.

        Args:
            prefix: mrkdwn shown first in the status line (e.g. the note of a
                message that continues one that can no longer be edited).

        Returns:
            list of dict: The blocks, within Slack's documented limits.

        Raises:
            InvalidBlocks: The rendering fails :func:`~.block_kit.check_blocks`
                (should not happen; the caller then sends the text layout).
        """
        with self._lock:
            self._drain()
            head = self._head(prefix)
            error = self._error()
            others = text_chars(head) + text_chars(error)
            blocks = [head]
            table = self._table(min(TABLE_MAX_CHARS, MAX_BLOCKS_TEXT - others))
            if table is not None:
                blocks.append(table)
            blocks.extend(chart for chart in map(_chart, self.charts) if chart is not None)
            if error:
                blocks.append(error)
        problems = check_blocks(blocks)
        if problems:
            raise InvalidBlocks(problems)
        return blocks

    def _drain(self) -> None:
        pending, entries, policy = self._pending, self.entries, self.policy
        while pending:
            observation = pending.popleft()
            row = _Row(escape(format_row(entries, observation)))
            row.values = tuple(observation[e] if e in observation else _MISSING
                               for e in entries)
            policy.add(row)
            if self._by_text is not None:
                self._by_text[str(row)] = row
            for chart in self.charts:
                chart.add(observation)

    def _head(self, prefix: str) -> dict:
        room = MAX_SECTION_TEXT - len(prefix.encode("utf-8"))
        text = (prefix + self.message.render_head(room)).strip("\n")
        return section_block(text or str(self.message.status))

    def _error(self) -> Optional[dict]:
        """The error section: the text's tail that fits 3,000 characters, in a code block."""
        error = self.message.error
        if not error:
            return None
        room = MAX_SECTION_TEXT - 2 * len(_FENCE) - 2
        return section_block(f"{_FENCE}\n{_escaped_within(error, room, tail=True)}\n{_FENCE}")

    def _table(self, budget: int) -> Optional[dict]:
        """The data table within ``budget`` characters of cells, or None without rows.

        The policy picks rows for twice the room (its text rows weigh more than
        their cells: PrintReport pads each column to 10 characters); of those,
        at most 100 are shown, fewer while their cells exceed the room — picked
        again as the policy's kind does (:func:`_at_most`).
        """
        total = self.policy.count
        room = budget - self._header_chars
        if not total or room <= 0:
            return None
        picked = [r for r in map(self._find, self.policy.select(2 * room)) if r is not None]
        limit = TABLE_MAX_ROWS - 1
        while True:
            rows = _at_most(picked, limit, self.policy)
            used = sum(map(_chars, rows))
            if used <= room or limit <= 1:
                break
            limit = max(1, min(limit - 1, limit * room // used))
        shown_now = {id(row): row for row in rows}  # cells are kept for the rows shown only
        for key in self._shown.keys() - shown_now.keys():
            self._shown[key].cells = None
        self._shown = shown_now
        if not rows or used > room:
            return None
        shown = len(rows)
        caption = (f"{_rows(total)}, newest first" if shown == total else
                   f"{shown:,} of {_rows(total)} shown, newest first")
        return {"type": "data_table", "caption": caption, "page_size": min(PAGE_SIZE, shown),
                "rows": [self._header, *(row.cells for row in reversed(rows))]}  # newest first

    def _find(self, row: str) -> Optional[_Row]:
        if isinstance(row, _Row):
            return row
        return self._by_text.get(row) if self._by_text is not None else None


def _chars(row: _Row) -> int:
    """The characters of a row's cells (built when the table first shows the row)."""
    if row.cells is None:
        row.cells = [table_cell(value) for value in row.values]
        row.chars = text_chars(row.cells)
    return row.chars


def _rows(count: int) -> str:
    return f"{count:,} row" + ("" if count == 1 else "s")


def _at_most(rows: List[_Row], limit: int, policy: RowPolicy) -> List[_Row]:
    """At most ``limit`` of the policy's rows: evenly spread with the first and the
    newest for thin_out, the oldest for LIFO, else the newest."""
    if len(rows) <= limit:
        return rows
    if isinstance(policy, ThinOut):
        last = len(rows) - 1
        return [rows[round(k * last / (limit - 1))] for k in range(limit)]
    if isinstance(policy, LIFO):
        return rows[:limit]
    return rows[-limit:]


def section_block(text: str) -> dict:
    """A ``section`` block of mrkdwn ``text`` (at most 3,000 characters: the caller's part)."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def raw_text_cell(text: str) -> dict:
    """A ``raw_text`` cell of ``text`` (already escaped); an empty text is one blank."""
    return {"type": "raw_text", "text": text or EMPTY_CELL}


def table_cell(value: object) -> dict:
    """A table cell: ``raw_number`` for a finite number (its text as PrintReport formats
    it), else ``raw_text``; an entry the row did not report is an empty cell."""
    if value is _MISSING:
        return raw_text_cell(EMPTY_CELL)
    try:
        text = format(value, "g")
    except (TypeError, ValueError):
        text = str(value)
    number = _json_number(value)
    if number is None:
        return raw_text_cell(fit_text(text, MAX_CELL_CHARS))
    return {"type": "raw_number", "value": number, "text": fit_text(text, MAX_CELL_CHARS)}


def _json_number(value: object) -> Optional[float]:
    """``value`` as a JSON number (int or finite float), or None."""
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        return number if number - number == 0 else None  # NaN and inf fail this
    return None


def fit_text(text: str, limit: int) -> str:
    """``text`` escaped (:func:`~.mrkdwn.escape`), cut to at most ``limit`` characters
    (ending in ``…`` when cut; an entity is never split)."""
    escaped = escape(text)
    if len(escaped) <= limit:
        return str(escaped)
    return _escaped_within(text, limit - 1, tail=False) + "…"


def _escaped_within(text: str, room: int, *, tail: bool) -> str:
    """The longest start (or end, ``tail``) of ``text`` whose escaped form has at most
    ``room`` characters, escaped.  An escaped character takes at most 5 (``&amp;``)."""
    part = text[-room:] if tail else text[:room]
    while part and len(escape(part)) > room:
        cut = max(1, (len(escape(part)) - room) // 5)
        part = part[cut:] if tail else part[:-cut]
    return escape(part)


def _chart(curves: ChartCurves) -> Optional[dict]:
    """A line chart of a group's curves, or None before any of its keys is reported."""
    points = curves.points()
    if points is None or not points.series:
        return None
    keys = [key for key, _ in points.series]
    return {
        "type": "data_visualization",
        "title": fit_text(", ".join(keys), CHART_MAX_TITLE),
        "chart": {
            "type": "line",
            "series": [{"name": fit_text(series_name(key), CHART_MAX_LABEL),
                        "data": [{"label": label, "value": value}
                                 for label, value in zip(points.labels, values)]}
                       for key, values in points.series],
            "axis_config": {"categories": points.labels, "x_label": points.x_label},
        },
    }
