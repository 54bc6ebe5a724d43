"""Which call goes first when the shared budget has fewer slots than callers: :class:`Rank`.

Every ask of the shared budget carries a rank.  While a call waits for a slot
of its bucket, it is written in the bucket's queue (:class:`Waiting`); a slot
that frees goes to the best-ranked call waiting, and among calls of one rank
to the one that waited longest — for a run's own intermediate updates, to the
run whose message has gone longest without one (stalest first).  So final
states go first, then a sweep's board, then the runs' own messages, and a
lost-host notice never delays a run's first post.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any, Optional

__all__ = ["Rank", "Waiting", "PENDING_GRACE"]

#: Seconds a waiting call keeps its place after the time it was told to ask again: a
#: caller that does not come back (it died, or has nothing new to send) stops holding
#: the others back then.
PENDING_GRACE = 2.0


class Rank(enum.IntEnum):
    """A call's place in the queue of its bucket: lower goes first.

    ``BOARD_FINAL`` and ``FINAL`` are *priority* calls: they may use the budget's
    reserve, count against the nominal limit (not one cut by 429s) and are held
    to no fair interval.  ``BOARD`` is held to the window less the reserve only.
    ``POST``, ``UPDATE`` and ``NOTICE`` are a run's own calls, held to its fair
    interval and, while a board is active, leaving it a share of the window.
    """

    #: A board edit that shows a run's end for the first time (one edit, many finals).
    BOARD_FINAL = 0
    #: A run's final update, a thread reply (a finish mention), a notice's delete.
    FINAL = 1
    #: A board's intermediate edit (it serves every run at once).
    BOARD = 2
    #: A message's first post (``chat.postMessage``).
    POST = 3
    #: A run's intermediate update: the stalest message first.
    UPDATE = 4
    #: Scheduling a lost-host notice (``chat.scheduleMessage``, in the channel's
    #: ``chat.postMessage`` bucket): it is due minutes ahead, so it goes last.
    NOTICE = 5

    @property
    def priority(self) -> bool:
        """True for the calls that must not be crowded out (see the class)."""
        return self <= Rank.FINAL

    @property
    def board(self) -> bool:
        """True for a board's calls."""
        return self in (Rank.BOARD_FINAL, Rank.BOARD)


@dataclass
class Waiting:
    """A call that waits for a slot of its bucket.

    Attributes:
        rank (Rank): Its rank.
        since (float): What orders it among calls of its rank (earlier first): when
            it first asked, or for :attr:`Rank.UPDATE` the run's last update.
        until (float): It keeps its place until then (the time it was told to ask
            again, plus :data:`PENDING_GRACE`).
    """

    rank: Rank
    since: float
    until: float

    def key(self) -> tuple:
        """Its order in the queue (smaller goes first)."""
        return (int(self.rank), self.since)

    def to_json(self) -> list:
        return [int(self.rank), self.since, self.until]

    @classmethod
    def from_json(cls, raw: Any) -> Optional[Waiting]:
        """The entry a state held, or None if it is malformed."""
        if not (isinstance(raw, list) and len(raw) == 3 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                for v in raw)):
            return None
        try:
            rank = Rank(int(raw[0]))
        except ValueError:
            return None
        return cls(rank=rank, since=float(raw[1]), until=float(raw[2]))
