"""Which table rows stay in a message that must fit a byte budget.

A *row policy* receives every table row once (:meth:`RowPolicy.add`) and, on
each render, returns the rows to show within a budget
(:meth:`RowPolicy.select`).  The built-in policies keep only what they may
still show, so memory and the cost of ``select`` are bounded by ``capacity``
bytes however many rows were logged (a run can log a million rows).

Sizes are UTF-8 bytes; a row costs its encoded length plus one byte for its
newline.  The table header is not a row: the renderer always keeps it.
"""

from __future__ import annotations

import threading
import warnings
from collections import deque
from typing import Callable, List, Optional, Sequence, Union

from ..warning import SlackReportWarning
from .mrkdwn import utf8_len

__all__ = [
    "RowPolicy", "ThinOut", "FIFO", "LIFO", "CallablePolicy", "GivenRows", "make_policy",
    "NORMALIZERS", "Normalizer",
]

#: A user normalizer: ``fn(rows, budget) -> rows_to_show``.
Normalizer = Callable[[List[str], int], Sequence[str]]


def _cost(row: str) -> int:
    return utf8_len(row) + 1


class RowPolicy:
    """Base class of row policies.

    Args:
        capacity (int): The largest budget ``select`` will be asked for, in
            UTF-8 bytes; a policy may forget rows it could never show in it.
    """

    name = "policy"

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.count = 0  #: rows added so far

    def add(self, row: str) -> None:
        """Take the next (newest) table row, already escaped, without newline."""
        raise NotImplementedError

    def select(self, budget: int) -> List[str]:
        """Rows to show, oldest first, whose total cost is at most ``budget`` bytes."""
        raise NotImplementedError


class FIFO(RowPolicy):
    """First in, first out: the oldest rows leave to make room for new ones.

    Args:
        capacity (int): As in :class:`RowPolicy` (UTF-8 bytes).
        max_rows (int or None): Show at most this many rows (the newest), e.g.
            the last N lines of a command's output; None: as many as fit.

    A FIFO can also show an *unfinished* row after the others: a line still
    being written, such as a progress bar before its newline
    (:meth:`show_unfinished`).
    """

    name = "FIFO"

    def __init__(self, capacity: int, max_rows: Optional[int] = None) -> None:
        super().__init__(capacity)
        self.max_rows = max_rows
        self._rows: deque = deque()
        self._bytes = 0
        self._unfinished = ""
        self._count_lock = threading.Lock()  # add and show_unfinished may be two threads

    @property
    def unfinished(self) -> str:
        """The unfinished row shown after the others; ``""`` for none."""
        return self._unfinished

    def show_unfinished(self, row: str) -> None:
        """Show ``row`` as the newest row until it is replaced or cleared.

        Args:
            row (str): The line being written, escaped like the rows of
                :meth:`add`, without newline; ``""`` shows none.

        The row counts as one in :attr:`count` while it is shown and goes into
        ``max_rows``; it is not kept once replaced or cleared (its finished
        line comes through :meth:`add`, which does not clear it).  It is shown
        only when its cost fits the budget.  Safe to call from a thread other
        than the one that adds and selects (e.g. the one reading a command's
        output while the Slack worker renders).
        """
        with self._count_lock:
            self.count += (1 if row else 0) - (1 if self._unfinished else 0)
            self._unfinished = row

    def add(self, row: str) -> None:
        with self._count_lock:
            self.count += 1
        self._rows.append(row)
        self._bytes += _cost(row)
        while self._rows and (self._bytes > self.capacity or (
                self.max_rows is not None and len(self._rows) > self.max_rows)):
            self._bytes -= _cost(self._rows.popleft())

    def select(self, budget: int) -> List[str]:
        unfinished = self._unfinished
        cost = _cost(unfinished)
        if not unfinished or cost > budget:
            return self._newest(budget, self.max_rows)
        room = None if self.max_rows is None else self.max_rows - 1
        return [*self._newest(budget - cost, room), unfinished]

    def _newest(self, budget: int, max_rows: Optional[int]) -> List[str]:
        """The newest rows, oldest first, within ``budget`` bytes and ``max_rows``."""
        shown: List[str] = []
        used = 0
        for row in reversed(self._rows):
            used += _cost(row)
            if used > budget or (max_rows is not None and len(shown) >= max_rows):
                break
            shown.append(row)
        shown.reverse()
        return shown


class LIFO(RowPolicy):
    """Last in, first out: the first rows stay; once full, new rows are not added."""

    name = "LIFO"

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self._rows: List[str] = []
        self._bytes = 0
        self._full = False

    def add(self, row: str) -> None:
        self.count += 1
        if self._full:
            return
        cost = _cost(row)
        if self._bytes + cost > self.capacity:
            self._full = True
            return
        self._rows.append(row)
        self._bytes += cost

    def select(self, budget: int) -> List[str]:
        shown: List[str] = []
        used = 0
        for row in self._rows:
            used += _cost(row)
            if used > budget:
                break
            shown.append(row)
        return shown


class ThinOut(RowPolicy):
    """Rows spread over the whole run: the first, then evenly thinned, and the newest.

    Guarantees, for every ``select``:

    * the first row (index 0) and the newest row are shown (unless the budget
      cannot hold them: then the newest alone, or nothing), oldest first;
    * the gaps between consecutive shown rows (differences of row indices)
      differ by at most a factor of 2: they are ``s`` or ``2 * s`` for a
      power-of-two stride ``s``, except the gap to the newest row, which can
      be smaller (it is at most ``s``);
    * once the rows outnumber what fits, they fill the budget: less than
      one row's bytes are left unused (less than two when rows differ in
      width, as the newest row can be followed by a narrower one), so with
      rows of equal width exactly as many rows are shown as :class:`FIFO`
      shows — unless the budget grew since rows were dropped (see below).

    How: only rows whose index is a multiple of ``s`` are kept.  The kept
    rows are an older part spaced ``2 * s`` (from row 0) and a newer part
    spaced ``s``.  When the kept rows plus the newest exceed the room, ONE
    row goes: the first of the newer part, which moves the boundary between
    the parts one row newer and frees that row's bytes.  When the newer part
    is used up, every gap is ``2 * s`` and ``s`` doubles.  So the held rows
    never take more than the room (row 0 and the newest aside) and stay
    within one row of filling it, whatever the rows' widths (in UTF-8 bytes).

    The room starts at ``capacity`` and then follows the budget of the
    latest ``select`` (never above ``capacity``): a smaller budget thins the
    held rows for good, by the same rule, rather than thinning a copy on
    every render (the budget seldom changes, and mostly shrinks: a longer
    clock, a final error block, Slack's ``msg_too_long``).  Rows dropped so
    are not restored if the budget grows again; new rows fill the room.

    Memory is O(rows that fit in ``capacity`` bytes) however many rows are
    logged.  ``add`` is amortised O(1) (a doubling of ``s`` costs O(rows
    held), once per about half the rows held dropped); ``select`` is O(rows
    held).
    """

    name = "thin_out"

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self._room = capacity  # bytes the held rows (kept + newest) may take
        self._stride = 1  # s: a power of two
        # Entries are (index, row, cost in bytes); every index is a multiple of s.
        self._older: deque = deque()  # row 0, then spaced 2 * s
        self._newer: deque = deque()  # _older[-1] + s, then spaced s
        self._kept_bytes = 0
        self._newest: Union[tuple, None] = None  # never in _older/_newer

    def add(self, row: str) -> None:
        if self._newest is not None:
            self._keep(self._newest)
        self._newest = (self.count, row, _cost(row))
        self.count += 1
        self._thin(self._room)

    def select(self, budget: int) -> List[str]:
        """Rows to show within ``budget`` bytes; see the class for which.

        The budget (at most ``capacity``) becomes the room: a smaller one
        drops rows for good.  A budget below one byte shows nothing and
        changes nothing.
        """
        newest = self._newest
        if newest is None or budget < 1:
            return []
        self._room = min(self.capacity, budget)
        self._thin(self._room)
        if self._kept_bytes + newest[2] > budget:  # row 0 and the newest do not fit
            return [newest[1]] if newest[2] <= budget else []
        return [e[1] for e in self._older] + [e[1] for e in self._newer] + [newest[1]]

    def _keep(self, entry: tuple) -> None:
        """Keep a row that is no longer the newest if its index is a multiple of s."""
        index = entry[0]
        if index % self._stride:
            return
        self._kept_bytes += entry[2]
        older = self._older
        if older and (self._newer or index - older[-1][0] == self._stride):
            self._newer.append(entry)
            return
        older.append(entry)  # row 0, or 2 * s after the last kept row
        self._normalize()

    def _thin(self, room: int) -> None:
        """Drop rows at the boundary until the held rows take at most ``room`` bytes."""
        while self._newer and self._kept_bytes + self._newest[2] > room:
            newer = self._newer  # _normalize may replace both parts
            self._kept_bytes -= newer.popleft()[2]
            if newer:
                self._older.append(newer.popleft())
            self._normalize()

    def _normalize(self) -> None:
        """Without a gap of s left, double s: the older part becomes the newer one."""
        if not self._newer and len(self._older) > 1:
            self._stride *= 2
            older = self._older
            first = older.popleft()
            self._newer, self._older = older, deque([first])


class CallablePolicy(RowPolicy):
    """Wraps a user normalizer ``fn(rows, budget) -> rows_to_show``.

    ``rows`` is the list of every row logged so far (escaped, oldest first),
    ``budget`` the UTF-8 bytes available to them, each counted with its
    newline.  Because the callable sees every row, memory grows with the run
    and its cost is the callable's.  A result that is not a sequence of
    ``str`` from ``rows`` within the budget is trimmed to its newest rows that
    fit, with one :class:`~chainer_slack_report.SlackReportWarning`; so is a
    normalizer that raises (then the newest rows of all are shown).
    """

    name = "callable"

    def __init__(self, capacity: int, fn: Normalizer) -> None:
        super().__init__(capacity)
        self._fn = fn
        self._rows: List[str] = []
        self._warned = False
        #: The rows the last :meth:`select` returned (what the run last showed); a
        #: watchdog shows them (:class:`GivenRows`), as it cannot call ``fn``.
        self.last_shown: List[str] = []

    def add(self, row: str) -> None:
        self.count += 1
        self._rows.append(row)

    def select(self, budget: int) -> List[str]:
        try:
            shown = [str(r) for r in self._fn(list(self._rows), budget)]
        except Exception as exc:  # noqa: BLE001 - a user bug must not reach training
            self._warn(f"raised {type(exc).__name__}: {exc}")
            shown = list(self._rows)
        if sum(_cost(r) for r in shown) > budget:
            self._warn(f"returned rows over the budget of {budget} bytes")
            shown = _newest(shown, budget)
        self.last_shown = shown
        return shown

    def _warn(self, what: str) -> None:
        """Warn once per policy, located at the user's normalizer.

        ``select`` runs on the Slack worker thread, so no frame of the user's
        code is on the stack: the warning points at the ``def`` of the
        normalizer when it has one, else (a ``functools.partial``, an object
        with ``__call__``) at the ``render`` that asked for the rows.
        """
        if self._warned:
            return
        self._warned = True
        message = (f"len_normalizer {self._fn!r} {what}; showing the newest rows "
                   f"that fit instead")
        code = getattr(self._fn, "__code__", None)
        if code is None:
            # 1: _warn, 2: select, 3: the ReportMessage code that asked for the rows
            warnings.warn(message, SlackReportWarning, stacklevel=3)
            return
        warnings.warn_explicit(
            message, SlackReportWarning, code.co_filename, code.co_firstlineno,
            module=getattr(self._fn, "__module__", None),
            module_globals=getattr(self._fn, "__globals__", None))


class GivenRows(RowPolicy):
    """The rows another process showed last, given to it (:attr:`shown`): how a watchdog
    shows a run whose ``len_normalizer`` is a callable, which cannot leave the run.

    It counts the rows added (for the note on the rows not shown) and keeps none;
    :meth:`select` returns the given rows, the newest of them that fit if they no longer
    all do (the final status line may be longer than the last one shown).
    """

    name = "given"

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        #: The rows to show (escaped, oldest first), as the run's policy last selected them.
        self.shown: List[str] = []

    def add(self, row: str) -> None:
        self.count += 1

    def select(self, budget: int) -> List[str]:
        shown = list(self.shown)
        return shown if sum(_cost(r) for r in shown) <= budget else _newest(shown, budget)


def _newest(rows: Sequence[str], budget: int) -> List[str]:
    """The newest of ``rows`` that fit in ``budget`` bytes, oldest first."""
    fifo = FIFO(budget)
    for row in rows:
        fifo.add(row)
    return fifo.select(budget)


#: Names accepted by ``len_normalizer`` (compared case-insensitively).
NORMALIZERS = {"thin_out": ThinOut, "fifo": FIFO, "lifo": LIFO}


def make_policy(normalizer: Union[str, Normalizer, RowPolicy], capacity: int) -> RowPolicy:
    """Build the row policy for a ``len_normalizer`` argument.

    Args:
        normalizer: ``"thin_out"``, ``"FIFO"`` or ``"LIFO"`` (any case), a
            callable ``fn(rows: list[str], budget: int) -> Sequence[str]``, or
            a :class:`RowPolicy` (used as it is).
        capacity: The largest row budget in UTF-8 bytes.

    Raises:
        ValueError: An unknown name (the message lists the accepted ones).
        TypeError: Neither a str nor a callable.
    """
    if isinstance(normalizer, RowPolicy):
        return normalizer
    if isinstance(normalizer, str):
        cls = NORMALIZERS.get(normalizer.lower())
        if cls is None:
            raise ValueError(
                f"unknown len_normalizer {normalizer!r}; accepted: 'thin_out', "
                f"'FIFO', 'LIFO' (any case) or a callable fn(rows, budget)")
        return cls(capacity)
    if callable(normalizer):
        return CallablePolicy(capacity, normalizer)
    raise TypeError(
        f"len_normalizer must be a str ('thin_out', 'FIFO', 'LIFO') or a "
        f"callable fn(rows, budget), got {type(normalizer).__name__}")
