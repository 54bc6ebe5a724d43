"""A sweep's board: every run's newest state in one message (``board="NAME"``).

Pure rendering, no network and no store.  :class:`BoardRow` is what a board
shows of one run — its name, status, progress and ETA, the newest value of
each entry, the elapsed time — as a small JSON-friendly record (what each run
of a board hands to the board's keeper through the shared store);
:func:`board_text` and :func:`board_blocks` make the board message of all the
rows of one board, in the text and the blocks layout:

- a headline: the board's name and how many runs train, completed, failed…;
- one line per run, the runs that ended badly first (failed, killed, lost,
  interrupted, terminated), then the live ones, then the completed ones, each
  group in the order of the runs' names (numbers inside names compare as
  numbers: ``lr=2`` before ``lr=10``);
- when not every run fits (the text's byte budget; a data table's 100 rows
  and 10,000 characters of cells, Slack's limits in
  :mod:`~chainer_slack_report.rendering.block_kit`), the completed runs are
  left out first, then the live ones — a run that ended badly is never left
  out while another row could make room — and a note says how many are not
  shown.

:func:`run_names` gives each run of a sweep its default name: the command-line
arguments that differ between the runs (what the sweep varies).

Everything that comes from data (names, values, the board's name) is escaped
(``&``, ``<``, ``>``; tokens redacted: :func:`~.mrkdwn.escape`).
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from ..outcome import Status
from .block_kit import (
    CHART_MAX_LABEL,
    CHART_MAX_POINTS,
    CHART_MAX_SERIES,
    CHART_MAX_TITLE,
    TABLE_MAX_CHARS,
    TABLE_MAX_COLUMNS,
    TABLE_MAX_ROWS,
    check_blocks,
)
from .blocks import InvalidBlocks, fit_text, raw_text_cell, section_block, table_cell
from .message import format_elapsed
from .mrkdwn import escape, truncate_utf8, utf8_len

__all__ = ["BoardRow", "board_text", "board_blocks", "board_chart", "headline", "run_names",
           "BOARD_COLUMNS", "MAX_BOARD_ENTRIES"]

#: The board's own columns around the entries: ``run``, ``status``, ``progress``,
#: ``ETA`` before them, ``elapsed`` after.
BOARD_COLUMNS = ("run", "status", "progress", "ETA", "elapsed")
#: Entries a board shows at most: a data table's 20 columns less the board's own five.
MAX_BOARD_ENTRIES = TABLE_MAX_COLUMNS - len(BOARD_COLUMNS)

#: Final statuses that a board never hides while another row could make room.
_BAD = (Status.FAILED, Status.KILLED, Status.LOST, Status.INTERRUPTED, Status.TERMINATED)
_LIVE = (Status.STARTED, Status.TRAINING, Status.RUNNING)
_FENCE = "```"
_MAX_NAME_CHARS = 40  # a run's name in the text layout (longer ones end in "…")


@dataclass(frozen=True)
class BoardRow:
    """What a board shows of one run.

    Attributes:
        name (str): The run's name on the board (plain text).
        status (Status): As the run's own message names it.
        elapsed (float): Seconds since the run started (stopped at its end).
        values (dict): The newest value reported of each entry (numbers or
            strings); an entry not reported yet is absent.
        progress (str or None): e.g. ``"epoch 12/50 · 24 %"``
            (:meth:`~.progress.Progress.text`), None without a training length.
        eta (float or None): Seconds left, None when not known.
        curves (dict): For the board's chart: key → the run's curve of it, a
            list of ``(x, value)`` pairs of finite numbers (x the epoch or
            iteration, increasing), at most 20 (e.g. from
            :meth:`~.charts.ChartCurves.points`).
    """

    name: str
    status: Status
    elapsed: float
    values: Mapping[str, object] = field(default_factory=dict)
    progress: Optional[str] = None
    eta: Optional[float] = None
    curves: Mapping[str, Sequence[Tuple[float, float]]] = field(default_factory=dict)

    def to_json(self) -> dict:
        """The row as JSON-friendly values (NaN and infinities become strings)."""
        return {"name": self.name, "status": self.status.value, "elapsed": self.elapsed,
                "values": {key: _jsonable(value) for key, value in self.values.items()},
                "progress": self.progress, "eta": self.eta,
                "curves": {key: [[float(x), float(v)] for x, v in points]
                           for key, points in self.curves.items()}}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> BoardRow:
        """The row that :meth:`to_json` gave.

        Raises:
            ValueError: ``data`` is not such a row (a missing or mistyped field,
                an unknown status).
        """
        try:
            values = data.get("values") or {}
            eta = data.get("eta")
            curves = {str(key): [(float(x), float(v)) for x, v in points]
                      for key, points in dict(data.get("curves") or {}).items()}
            row = cls(name=str(data["name"]), status=Status(data["status"]),
                      elapsed=float(data["elapsed"]),
                      values={str(key): value for key, value in dict(values).items()},
                      progress=None if data.get("progress") is None else str(data["progress"]),
                      eta=None if eta is None else float(eta), curves=curves)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ValueError(f"not a board row: {data!r} ({e})") from None
        return row

    @property
    def ended_badly(self) -> bool:
        """Failed, killed, lost, interrupted or terminated."""
        return self.status in _BAD


def headline(board: str, rows: Sequence[BoardRow]) -> str:
    """The board's first line (mrkdwn): its name and how many runs stand where.

    e.g. ``"*lr-sweep* · 24 runs: 20 training · 3 completed · 1 failed"``; the
    live statuses (started, training, running) count as training.
    """
    parts = " · ".join(f"{count} {word}" for word, count in _counts(rows).items())
    runs = f"{len(rows)} run" + ("" if len(rows) == 1 else "s")
    return f"*{escape(board)}* · {runs}" + (f": {parts}" if parts else "")


def board_text(board: str, entries: Sequence[str], rows: Sequence[BoardRow], *,
               max_bytes: int = 4000) -> str:
    """The board in the text layout: the headline, then a code-block table.

    Args:
        board (str): The board's name.
        entries (sequence of str): Observation keys shown as columns, between
            the board's own (``run``, ``status``, ``progress``, ``ETA`` |
            ``elapsed``).
        rows (sequence of BoardRow): One per run, in any order.
        max_bytes (int): UTF-8 bytes of the whole text at most (Slack's
            ``chat.update`` refuses more than 4,000 characters: ``msg_too_long``).

    Returns:
        str: mrkdwn, at most ``max_bytes`` bytes.
    """
    head = headline(board, rows)
    if not rows:
        return truncate_utf8(head, max_bytes)
    columns = [*BOARD_COLUMNS[:4], *entries, BOARD_COLUMNS[4]]
    cells = {id(row): _text_cells(row, entries) for row in rows}
    widths = [max(len(column), *(len(cells[id(row)][i]) for row in rows))
              for i, column in enumerate(columns)]

    def line(texts: Sequence[str]) -> str:
        return escape("  ".join(t.ljust(w) for t, w in zip(texts, widths)).rstrip())

    header = line(columns)
    lines = {id(row): line(cells[id(row)]) for row in rows}
    fixed = utf8_len(f"{head}\n{_FENCE}\n{header}\n{_FENCE}")
    note_room = utf8_len(_not_shown(rows, rows)) + 1
    shown = _fit(rows, lambda row: utf8_len(lines[id(row)]) + 1, max_bytes - fixed - note_room)
    if len(shown) == len(rows):  # no note needed: the rows may use its room too
        shown = _fit(rows, lambda row: utf8_len(lines[id(row)]) + 1, max_bytes - fixed)
    body = "\n".join([header, *(lines[id(row)] for row in _ordered(shown))])
    text = f"{head}\n{_FENCE}\n{body}\n{_FENCE}"
    if len(shown) < len(rows):
        text += "\n" + _not_shown(shown, rows)
    return truncate_utf8(text, max_bytes)


def board_blocks(board: str, entries: Sequence[str], rows: Sequence[BoardRow], *,
                 chart: Optional[str] = None) -> List[dict]:
    """The board in the blocks layout: the headline, then a ``data_table`` of the runs
    (one row per run; numbers as ``raw_number`` so that a click on a column ranks the
    runs by it — the leaderboard; ``elapsed`` sorts by its seconds).

    Args:
        board (str): The board's name.
        entries (sequence of str): At most :data:`MAX_BOARD_ENTRIES` observation keys.
        rows (sequence of BoardRow): One per run, in any order.
        chart (str or None): An observation key: a line chart of it across runs
            follows the table (:func:`board_chart`).

    Returns:
        list of dict: The blocks, within Slack's documented limits (Data table
        block: 100 rows besides the header, 20 columns, 10,000 characters of cells;
        Data visualization block: 6 series of 20 points).

    Raises:
        ValueError: More than :data:`MAX_BOARD_ENTRIES` entries.
        InvalidBlocks: The rendering breaks a limit anyway (a bug).
    """
    if len(entries) > MAX_BOARD_ENTRIES:
        raise ValueError(f"a board shows at most {MAX_BOARD_ENTRIES} entries (a data table's "
                         f"{TABLE_MAX_COLUMNS} columns less the board's own "
                         f"{len(BOARD_COLUMNS)}), got {len(entries)}")
    header = [raw_text_cell(escape(column))
              for column in (*BOARD_COLUMNS[:4], *entries, BOARD_COLUMNS[4])]
    cells = {id(row): _table_cells(row, entries) for row in rows}
    room = TABLE_MAX_CHARS - sum(len(cell["text"]) for cell in header)
    shown = _fit(rows, lambda row: sum(len(cell["text"]) for cell in cells[id(row)]), room,
                 most=TABLE_MAX_ROWS - 1)
    blocks = [section_block(headline(board, rows))]
    if shown:
        caption = (f"{len(rows)} runs" if len(shown) == len(rows) else
                   _not_shown(shown, rows).replace("… ", "", 1))
        blocks.append({"type": "data_table", "caption": caption,
                       "page_size": min(len(shown), 25),
                       "rows": [header, *(cells[id(row)] for row in _ordered(shown))]})
    drawn = board_chart(chart, rows) if chart is not None else None
    if drawn is not None:
        blocks.append(drawn)
    problems = check_blocks(blocks)
    if problems:
        raise InvalidBlocks(problems)
    return blocks


def board_chart(key: str, rows: Sequence[BoardRow]) -> Optional[dict]:
    """A line chart of ``key`` across runs: one series per run, at most six (Slack's
    limit), taken in the order the board shows the runs among those with a curve of
    ``key`` (:attr:`BoardRow.curves`); None when no run has one yet.

    A chart's series share their x categories (one point each, in order): the x axis
    spans the range that every run shown has reached (a run whose curve would shrink it
    to fewer than two points is left for the next), at most 20 points spread over it,
    and each series shows at an x its newest value at or before it.  The title says
    how many runs it shows of how many.
    """
    curves = [(row, sorted(row.curves[key])) for row in _ordered(rows)
              if len(row.curves.get(key, ())) >= 2]
    chosen: List[Tuple[BoardRow, list]] = []
    for row, points in curves:
        if len(chosen) == CHART_MAX_SERIES:
            break
        if len(_common_xs([*chosen, (row, points)])) >= 2:
            chosen.append((row, points))
    if not chosen:
        return None
    xs = _common_xs(chosen)
    if len(xs) > CHART_MAX_POINTS:
        last = len(xs) - 1
        xs = [xs[round(k * last / (CHART_MAX_POINTS - 1))] for k in range(CHART_MAX_POINTS)]
    labels = [_x_label(x) for x in xs]
    names = _series_names([row.name for row, _ in chosen])
    runs = f"{len(chosen)} of {len(curves)} runs" if len(chosen) < len(curves) else (
        f"{len(chosen)} run" + ("" if len(chosen) == 1 else "s"))
    return {"type": "data_visualization",
            "title": fit_text(f"{key} · {runs}", CHART_MAX_TITLE),
            "chart": {"type": "line",
                      "series": [{"name": name,
                                  "data": [{"label": label, "value": _at(points, x)}
                                           for label, x in zip(labels, xs)]}
                                 for name, (_, points) in zip(names, chosen)],
                      "axis_config": {"categories": labels}}}


def run_names(commands: Sequence[Sequence[str]]) -> List[Optional[str]]:
    """Each run's default board name: the arguments of its command that are not the same
    in every run (what a sweep varies), or None where there are none.

    An option and its value are one argument (``--lr 0.1`` and ``--lr=0.1`` alike),
    so that a name says which option took which value.

    Args:
        commands (sequence of sequences of str): Each run's command line (``argv``).

    Returns:
        list: One name (str) or None per command, in order.
    """
    grouped = [_arguments(command) for command in commands]
    common = set.intersection(*(set(args) for args in grouped)) if grouped else set()
    return [" ".join(arg for arg in args if arg not in common) or None for args in grouped]


# -- rows ------------------------------------------------------------------------------
def _ordered(rows: Sequence[BoardRow]) -> List[BoardRow]:
    """The order rows are shown in: ended badly, live, completed; each by name."""
    return sorted(rows, key=lambda row: (_group(row), _natural(row.name)))


def _group(row: BoardRow) -> int:
    """0: needs a look (ended badly, or live but not training, e.g. stalled); 1: live;
    2: completed."""
    if row.ended_badly or _word(row.status) != "training" and not row.status.final:
        return 0
    return 2 if row.status is Status.COMPLETED else 1


def _word(status: Status) -> str:
    """How the headline counts a status: the live ones as ``training``, others by name."""
    if status in _LIVE:
        return "training"
    return status.value.strip("[]").lower()


def _counts(rows: Sequence[BoardRow]) -> Dict[str, int]:
    """How many rows of each :func:`_word`, in the order rows are shown."""
    counts: Dict[str, int] = {}
    for row in _ordered(rows):
        word = _word(row.status)
        counts[word] = counts.get(word, 0) + 1
    return counts


def _fit(rows: Sequence[BoardRow], size, room: int, most: Optional[int] = None
         ) -> List[BoardRow]:
    """The rows that fit ``room`` (``size(row)`` each), taken in the order of
    :func:`_ordered` — so the completed runs are dropped first, then the live ones."""
    shown, used = [], 0
    for row in _ordered(rows):
        if most is not None and len(shown) >= most:
            break
        cost = size(row)
        if used + cost > room:
            break
        shown.append(row)
        used += cost
    return shown


def _not_shown(shown: Sequence[BoardRow], rows: Sequence[BoardRow]) -> str:
    """e.g. ``"… 7 of 31 runs not shown: 5 completed, 2 training"``."""
    kept = {id(row) for row in shown}
    left = [row for row in rows if id(row) not in kept]
    parts = ", ".join(f"{count} {word}" for word, count in _counts(left).items())
    return f"… {len(left)} of {len(rows)} runs not shown" + (f": {parts}" if parts else "")


def _natural(name: str) -> Tuple:
    """A sort key in which numbers inside ``name`` compare as numbers."""
    return tuple((0, float(part), "") if _NUMBER.fullmatch(part) else (1, 0.0, part)
                 for part in _NUMBER_SPLIT.split(name) if part)


_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_NUMBER_SPLIT = re.compile(r"(\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)")


# -- cells -----------------------------------------------------------------------------
def _text_cells(row: BoardRow, entries: Sequence[str]) -> List[str]:
    """The row's cells in the text layout (plain text: escaped with the whole line)."""
    name = row.name if len(row.name) <= _MAX_NAME_CHARS else row.name[:_MAX_NAME_CHARS - 1] + "…"
    values = [_format(row.values[entry]) if entry in row.values else "" for entry in entries]
    return [name, row.status.value, row.progress or "", _eta(row.eta), *values,
            format_elapsed(row.elapsed)]


def _table_cells(row: BoardRow, entries: Sequence[str]) -> List[dict]:
    """The row's cells in the data table."""
    values = [table_cell(row.values[entry]) if entry in row.values else raw_text_cell("")
              for entry in entries]
    elapsed = {"type": "raw_number", "value": round(max(0.0, row.elapsed), 3),
               "text": format_elapsed(row.elapsed)}
    return [raw_text_cell(fit_text(row.name, 200)), raw_text_cell(row.status.value),
            raw_text_cell(escape(row.progress or "")), raw_text_cell(_eta(row.eta)),
            *values, elapsed]


def _common_xs(curves: Sequence[Tuple[BoardRow, list]]) -> List[float]:
    """The x values of all ``curves`` within the range every one of them covers."""
    low = max(points[0][0] for _, points in curves)
    high = min(points[-1][0] for _, points in curves)
    return sorted({x for _, points in curves for x, _ in points if low <= x <= high})


def _at(points: Sequence[Tuple[float, float]], x: float) -> float:
    """The newest value at or before ``x`` (the first one before the curve starts)."""
    value = points[0][1]
    for px, pv in points:
        if px > x:
            break
        value = pv
    return value


def _x_label(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else format(x, ".6g")


def _series_names(names: Sequence[str]) -> List[str]:
    """Legend names within 20 characters, unique (``#2 …`` where two would be alike)."""
    fitted = [fit_text(name, CHART_MAX_LABEL) for name in names]
    return [fit_text(f"#{index + 1} {names[index]}", CHART_MAX_LABEL)
            if fitted.count(name) > 1 else name for index, name in enumerate(fitted)]


def _format(value: object) -> str:
    """A value as PrintReport formats it (``g``), else ``str``."""
    try:
        return format(value, "g")
    except (TypeError, ValueError):
        return str(value)


def _eta(eta: Optional[float]) -> str:
    return "" if eta is None else format_elapsed(eta)


def _jsonable(value: object) -> object:
    """``value`` for JSON: a finite number or a string."""
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        return number if math.isfinite(number) else str(number)
    return str(value)


def _arguments(command: Sequence[str]) -> List[str]:
    """``command``'s arguments with each option joined to its value (``"--lr 0.1"``)."""
    args: List[str] = []
    i = 0
    while i < len(command):
        arg = command[i]
        if (arg.startswith("-") and "=" not in arg and not _NUMBER.fullmatch(arg.lstrip("-"))
                and i + 1 < len(command) and not _is_option(command[i + 1])):
            args.append(f"{arg} {command[i + 1]}")
            i += 2
            continue
        args.append(arg)
        i += 1
    return args


def _is_option(arg: str) -> bool:
    """``--x``/``-x``, not a negative number."""
    return arg.startswith("-") and len(arg) > 1 and not _NUMBER.fullmatch(arg[1:])
