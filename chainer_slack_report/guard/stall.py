"""A hung run: no new row for ``stall_after`` seconds while the process lives.

A deadlocked collective, a stuck data loader or a full disk leave the process
alive and silent: the lost-host notice is moved (the process lives) and no
watchdog sees a death, so the message would say ``[Training]`` forever.
:class:`StallDetector` is the rule, pure and fed times: each row
(:meth:`~StallDetector.row`), and a look at the clock
(:meth:`~StallDetector.check`) that finds a stall once.  :class:`StallWatch`
runs it on a daemon thread of the training process, which owns the message:
the report shows ``[Stalled]`` and posts one thread reply; rows again bring
``[Training]`` back and a reply saying so.

``stall_after`` is a number of seconds, or :data:`AUTO`: :data:`AUTO_FACTOR`
times the longest gap between two rows seen so far (a stall's own gap does not
count), at least :data:`MIN_AUTO_STALL`, from the first row on (before it the
pace is unknown: a first epoch may take hours) — so a run whose epochs are long
and steady is never called stalled, and its first rows set the pace.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional, Union

from ..job.procfs import cpu_seconds
from ..rendering.message import format_elapsed

__all__ = ["AUTO", "AUTO_FACTOR", "MIN_AUTO_STALL", "Stall", "StallDetector", "StallWatch",
           "check_stall_after", "stall_reply", "resumed_reply"]

#: ``stall_after="auto"``: several times the longest gap between rows so far.
AUTO = "auto"
#: The automatic ``stall_after`` is this many times the longest gap between rows so far...
AUTO_FACTOR = 4.0
#: ...and at least this many seconds (10 minutes).
MIN_AUTO_STALL = 600.0
_BUSY = 0.5  # share of a core above which a silent process counts as busy


def check_stall_after(value) -> Union[float, str, None]:
    """``stall_after`` checked: :data:`AUTO`, None, or seconds > 0 (as float).

    Raises:
        TypeError: Not a number, a str or None.
        ValueError: A str other than ``"auto"``, or a number that is not > 0.
    """
    if value is None or value == AUTO:
        return value
    if isinstance(value, str):
        raise ValueError(f"stall_after must be seconds (> 0), 'auto' or None, got {value!r}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"stall_after must be a number (seconds), 'auto' or None, got "
                        f"{type(value).__name__} {value!r}")
    if not value > 0 or value == float("inf"):
        raise ValueError(f"stall_after must be > 0 seconds (finite), 'auto' or None, got "
                         f"{value!r}")
    return float(value)


@dataclass(frozen=True)
class Stall:
    """One stall, as found by :meth:`StallDetector.check`.

    Attributes:
        last_row (float): Clock time of the last row (or of the start).
        found (float): Clock time it was found.
        usual_gap (float or None): The longest gap between two rows before it,
            seconds; None before two rows.
        limit (float): The ``stall_after`` in force, seconds.
        cpu_share (float or None): CPU time the process used since the last
            row over the wall time, e.g. 0.98 (busy) or 0.001 (waiting); None
            where ``/proc`` does not say.
    """

    last_row: float
    found: float
    usual_gap: Optional[float]
    limit: float
    #: The share of one core the process used since its last row (0.0–n), if known.
    cpu_share: Optional[float] = None

    @property
    def silent(self) -> float:
        """Seconds without a row when it was found."""
        return self.found - self.last_row


class StallDetector:
    """The stall rule over row times (no threads, no clock of its own).

    Args:
        stall_after (float or str): Seconds, or :data:`AUTO`.
        start (float): Clock time of the start (the first row's gap counts from it).
    """

    def __init__(self, stall_after: Union[float, str], *, start: float) -> None:
        self._fixed = None if stall_after == AUTO else float(stall_after)
        self.last_row = start
        self.rows = 0  #: calls of :meth:`row` so far
        self.longest_gap: Optional[float] = None  #: seconds, between two rows (or the start)
        self.stalled: Optional[Stall] = None  #: the stall going on, if any

    @property
    def limit(self) -> float:
        """Seconds without a row that make a stall, now (``inf``: automatic, before the
        first row)."""
        if self._fixed is not None:
            return self._fixed
        if self.longest_gap is None:
            return float("inf")
        return max(MIN_AUTO_STALL, AUTO_FACTOR * self.longest_gap)

    def row(self, now: float) -> Optional[Stall]:
        """New rows at clock time ``now``; the stall they end, if one was going on."""
        ended, self.stalled = self.stalled, None
        if ended is None:  # a stall's own gap is not the run's usual pace
            gap = max(0.0, now - self.last_row)
            self.longest_gap = gap if self.longest_gap is None else max(self.longest_gap, gap)
        self.last_row = now
        self.rows += 1
        return ended

    def check(self, now: float) -> Optional[Stall]:
        """A stall found at clock time ``now`` — once per stall — else None."""
        if self.stalled is None and now - self.last_row >= self.limit:
            self.stalled = Stall(self.last_row, now, self.longest_gap, self.limit)
            return self.stalled
        return None

    def due(self, now: float) -> Optional[float]:
        """Seconds until :meth:`check` can find a stall; None while one goes on (or
        until the first row, automatically)."""
        if self.stalled is not None or self.limit == float("inf"):
            return None
        return max(0.0, self.last_row + self.limit - now)


class StallWatch:
    """Runs a :class:`StallDetector` on a daemon thread until :meth:`stop`.

    Args:
        stall_after (float or str): Seconds, or :data:`AUTO`.
        on_stall (callable): ``on_stall(stall: Stall) -> None``, called on the
            watch's thread once per stall; it must not raise.
        clock (callable): Seconds, monotonic (tests inject one).
    """

    def __init__(self, stall_after: Union[float, str], *, on_stall: Callable[[Stall], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._pid = os.getpid()
        self._cpu_mark = (clock(), cpu_seconds(self._pid))  # at the last row
        self._on_stall = on_stall
        self._cond = threading.Condition()
        self._detector = StallDetector(stall_after, start=clock())
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="SlackReport-stall",
                                        daemon=True)
        self._thread.start()

    def row(self) -> Optional[Stall]:
        """New rows now; the stall they end, if any (O(1))."""
        with self._cond:
            ended = self._detector.row(self._clock())
            self._cond.notify()
        return ended

    @property
    def last_row(self) -> float:
        """Clock time of the newest row (or of the start)."""
        return self._detector.last_row

    def stop(self) -> None:
        """The run ended: no stall from now on."""
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def _run(self) -> None:
        rows = -1
        while True:
            with self._cond:
                if self._stopped:
                    return
                if self._detector.rows != rows:  # new rows: the CPU counts from here
                    rows = self._detector.rows
                    self._cpu_mark = (self._clock(), cpu_seconds(self._pid))
                stall = self._detector.check(self._clock())
                if stall is None:
                    self._cond.wait(self._detector.due(self._clock()))
                    continue
            self._on_stall(dataclasses.replace(stall, cpu_share=self._cpu_share()))

    def _cpu_share(self) -> Optional[float]:
        since, cpu = self._cpu_mark
        now_cpu, wall = cpu_seconds(self._pid), self._clock() - since
        if cpu is None or now_cpu is None or wall <= 0:
            return None
        return max(0.0, now_cpu - cpu) / wall


def stall_reply(stall: Stall, *, mentions: str, summary: str) -> str:
    """The thread reply announcing ``stall`` (mrkdwn): ``mentions`` (rendered
    ``finish_mentions``), how long, the usual gap, the last row (``summary``,
    escaped already), whether the process uses CPU."""
    usual = (f"the longest gap between rows so far was {format_elapsed(stall.usual_gap)}"
             if stall.usual_gap is not None else "no row came yet")
    if stall.cpu_share is None:
        cpu = "Whether the process uses CPU is not known here (no /proc)."
    elif stall.cpu_share >= _BUSY:
        cpu = (f"The process is busy: {stall.cpu_share:.0%} of a core since its last row "
               f"(a loop that logs nothing, or a slow step?).")
    else:
        cpu = (f"The process is idle: {stall.cpu_share:.0%} of a core since its last row "
               f"(waiting: a deadlocked collective, a stuck data loader, a full disk?).")
    text = (f"{mentions + ' ' if mentions else ''}:hourglass: [Stalled]: no new row for "
            f"{format_elapsed(stall.silent)} ({usual}; stall_after "
            f"{format_elapsed(stall.limit)}). {cpu}")
    return text + (f" It last showed: {summary}." if summary else "")


def resumed_reply(stall: Stall, now: float, status: str = "[Training]") -> str:
    """The thread reply when rows come again after ``stall`` (clock time ``now``) and the
    status line says ``status`` again."""
    return (f":arrow_forward: {status} again: a new row after "
            f"{format_elapsed(now - stall.last_row)} without one.")
