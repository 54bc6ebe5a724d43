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

import warnings
from collections import deque
from typing import Callable, List, Sequence, Union

from .mrkdwn import utf8_len

__all__ = [
    "RowPolicy", "ThinOut", "FIFO", "LIFO", "CallablePolicy", "make_policy",
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
    """First in, first out: the oldest rows leave to make room for new ones."""

    name = "FIFO"

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self._rows: deque = deque()
        self._bytes = 0

    def add(self, row: str) -> None:
        self.count += 1
        self._rows.append(row)
        self._bytes += _cost(row)
        while self._bytes > self.capacity and self._rows:
            self._bytes -= _cost(self._rows.popleft())

    def select(self, budget: int) -> List[str]:
        shown: List[str] = []
        used = 0
        for row in reversed(self._rows):
            used += _cost(row)
            if used > budget:
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
    """Evenly spaced rows from the first one on, and always the newest row.

    Rows whose index is a multiple of a stride are kept; when they outgrow the
    capacity the stride doubles and every other kept row goes.  ``select``
    thins the same way when its budget is smaller.  Adding is amortised O(1).
    """

    name = "thin_out"

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self._stride = 1
        self._kept: List[tuple] = []  # (index, row, cost), index % stride == 0
        self._bytes = 0
        self._newest: Union[tuple, None] = None

    def add(self, row: str) -> None:
        index = self.count
        self.count += 1
        entry = (index, row, _cost(row))
        self._newest = entry
        if index % self._stride:
            return
        self._kept.append(entry)
        self._bytes += entry[2]
        while self._bytes > self.capacity and len(self._kept) > 1:
            self._stride *= 2
            self._kept = [e for e in self._kept if e[0] % self._stride == 0]
            self._bytes = sum(e[2] for e in self._kept)

    def select(self, budget: int) -> List[str]:
        if self._newest is None:
            return []
        newest = self._newest
        older = [e for e in self._kept if e[0] != newest[0]]
        room = budget - newest[2]
        if room < 0:
            return []
        used = sum(e[2] for e in older)
        while used > room and older:
            # Keep positions 0, 2, 4, ...: still evenly spaced, first row kept.
            older = older[::2] if len(older) > 1 else []
            used = sum(e[2] for e in older)
        return [e[1] for e in older] + [newest[1]]


class CallablePolicy(RowPolicy):
    """Wraps a user normalizer ``fn(rows, budget) -> rows_to_show``.

    ``rows`` is the list of every row logged so far (escaped, oldest first),
    ``budget`` the UTF-8 bytes available to them, each counted with its
    newline.  Because the callable sees every row, memory grows with the run
    and its cost is the callable's.  A result that is not a sequence of
    ``str`` from ``rows`` within the budget is trimmed to its newest rows that
    fit, with one warning.
    """

    name = "callable"

    def __init__(self, capacity: int, fn: Normalizer) -> None:
        super().__init__(capacity)
        self._fn = fn
        self._rows: List[str] = []
        self._warned = False

    def add(self, row: str) -> None:
        self.count += 1
        self._rows.append(row)

    def select(self, budget: int) -> List[str]:
        try:
            shown = [str(r) for r in self._fn(list(self._rows), budget)]
        except Exception as exc:  # noqa: BLE001 - a user bug must not reach training
            self._warn(f"raised {type(exc).__name__}: {exc}")
            shown = list(self._rows)
        if sum(_cost(r) for r in shown) <= budget:
            return shown
        self._warn(f"returned rows over the budget of {budget} bytes")
        fifo = FIFO(budget)
        for row in shown:
            fifo.add(row)
        return fifo.select(budget)

    def _warn(self, what: str) -> None:
        if not self._warned:
            self._warned = True
            warnings.warn(
                f"len_normalizer {self._fn!r} {what}; showing the newest rows "
                f"that fit instead", RuntimeWarning, stacklevel=2)


#: Names accepted by ``len_normalizer`` (compared case-insensitively).
NORMALIZERS = {"thin_out": ThinOut, "fifo": FIFO, "lifo": LIFO}


def make_policy(normalizer: Union[str, Normalizer], capacity: int) -> RowPolicy:
    """Build the row policy for a ``len_normalizer`` argument.

    Args:
        normalizer: ``"thin_out"``, ``"FIFO"`` or ``"LIFO"`` (any case), or a
            callable ``fn(rows: list[str], budget: int) -> Sequence[str]``.
        capacity: The largest row budget in UTF-8 bytes.

    Raises:
        ValueError: An unknown name (the message lists the accepted ones).
        TypeError: Neither a str nor a callable.
    """
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
