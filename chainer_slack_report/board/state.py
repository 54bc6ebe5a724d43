"""A sweep's board as shared state: each run's newest row, the board message, the lease.

:class:`BoardState` is the document that the runs of one board share (in the
same kinds of store as the rate budget: a file of the state directory on one
host, Redis across hosts — :func:`open_board_store`).  Its rules are pure
functions of a state and a time (seconds, the store's clock), written once:

* :meth:`BoardState.publish` — a run's newest :class:`~..rendering.board.BoardRow`
  and heartbeat; a run joining a board that has closed and whose grace has passed
  starts a new board;
* :meth:`BoardState.lead` — whoever holds the lease keeps the board message;
  the lease is free when its holder let it go, ended, or did not renew it
  within :data:`LEASE` seconds (a holder that died), so another run takes over;
* :meth:`BoardState.rows` — the rows to show: each run named (its ``run_name``,
  else the arguments the board's runs vary, else host and PID), a live run
  whose heartbeat stopped for :data:`SILENT_AFTER` seconds shown ``[Lost]``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

from ..outcome import Status
from ..rendering.board import BoardRow, run_names
from ..transport.budget.state import is_number

__all__ = ["LEASE", "GRACE", "SILENT_AFTER", "Member", "BoardState", "VERSION"]

#: Seconds a lease lasts unless renewed (the keeper renews it every second or so).
LEASE = 5.0
#: Seconds after a board closed (every run ended) within which a run joining it
#: reopens it; later, a run of that name starts a new board.
GRACE = 30.0
#: Seconds without a heartbeat after which a live run shows as ``[Lost]``.
SILENT_AFTER = 60.0
#: Version of the document's layout; another version is started afresh.
VERSION = 1
#: Statuses of a run that died: it posts nothing more.
_DEAD = (Status.KILLED, Status.LOST)


@dataclass
class Member:
    """One run of a board.

    Attributes:
        row (BoardRow): Its newest row (``row.name`` as the run named itself, or "").
        seen (float): Time of its last heartbeat.
        argv (list of str): Its command line (what the default names compare).
        fallback (str): Its name when neither ``run_name`` nor the arguments tell it
            apart (``host:PID``).
        announced (bool): Its bad ending was announced in the board's thread.
        posted (bool): Its own message is posted (in the board's thread, or
            top-level): the reply that the whole board ended waits for it.
    """

    row: BoardRow
    seen: float
    argv: List[str] = field(default_factory=list)
    fallback: str = ""
    announced: bool = False
    posted: bool = False

    def to_json(self) -> dict:
        return {"row": self.row.to_json(), "seen": self.seen, "argv": self.argv,
                "fallback": self.fallback, "announced": self.announced,
                "posted": self.posted}

    @classmethod
    def from_json(cls, raw) -> Optional[Member]:
        """The member a document held, or None if it is malformed."""
        try:
            argv = raw.get("argv") or []
            if not (is_number(raw["seen"]) and all(isinstance(a, str) for a in argv)):
                return None
            return cls(row=BoardRow.from_json(raw["row"]), seen=float(raw["seen"]),
                       argv=list(argv), fallback=str(raw.get("fallback") or ""),
                       announced=bool(raw.get("announced")),
                       posted=bool(raw.get("posted")))  # absent in older documents
        except (KeyError, TypeError, ValueError, AttributeError):
            return None


@dataclass
class BoardState:
    """All that the runs of one board share.

    Attributes:
        members (dict): run id → :class:`Member`.
        channel_id (str or None): The board message's channel ID, once posted.
        ts (str or None): The board message's ``ts``, once posted.
        holder (str or None): The run id holding the lease.
        lease_until (float): When the lease ends unless renewed.
        closed_at (float or None): When the board showed its final status (every
            run had ended), None while it is open.
        shown (list of str): The runs whose end the board message shows (what an
            ending run waits for before it lets its keeper go).
        edited_at (float): When Slack last took an edit of the board message (a new
            holder paces its first edit from it).
    """

    members: Dict[str, Member] = field(default_factory=dict)
    channel_id: Optional[str] = None
    ts: Optional[str] = None
    holder: Optional[str] = None
    lease_until: float = 0.0
    closed_at: Optional[float] = None
    shown: List[str] = field(default_factory=list)
    edited_at: float = 0.0

    # -- the JSON form ---------------------------------------------------------------
    @classmethod
    def from_json(cls, data: bytes) -> BoardState:
        """The state in a store's bytes; empty or malformed: a fresh state (a malformed
        member alone is left out)."""
        state = cls()
        try:
            raw = json.loads(data)
        except (ValueError, RecursionError):
            return state
        if not isinstance(raw, dict) or raw.get("version") != VERSION:
            return state
        members = raw.get("members")
        for run_id, value in (members.items() if isinstance(members, dict) else ()):
            member = Member.from_json(value) if isinstance(value, dict) else None
            if member is not None:
                state.members[str(run_id)] = member
        if isinstance(raw.get("ts"), str) and isinstance(raw.get("channel_id"), str):
            state.channel_id, state.ts = raw["channel_id"], raw["ts"]
        if isinstance(raw.get("holder"), str) and is_number(raw.get("lease_until")):
            state.holder, state.lease_until = raw["holder"], float(raw["lease_until"])
        if is_number(raw.get("closed_at")):
            state.closed_at = float(raw["closed_at"])
        if is_number(raw.get("edited_at")):
            state.edited_at = float(raw["edited_at"])
        shown = raw.get("shown")
        if isinstance(shown, list):
            state.shown = [run_id for run_id in shown if isinstance(run_id, str)]
        return state

    def to_json(self) -> bytes:
        """Compact JSON of :data:`VERSION`'s layout."""
        return json.dumps({"version": VERSION,
                           "members": {k: m.to_json() for k, m in self.members.items()},
                           "channel_id": self.channel_id, "ts": self.ts,
                           "holder": self.holder, "lease_until": self.lease_until,
                           "closed_at": self.closed_at, "shown": self.shown,
                           "edited_at": self.edited_at},
                          separators=(",", ":"), allow_nan=False).encode()

    # -- the rules ---------------------------------------------------------------------
    def publish(self, now: float, run_id: str, row: BoardRow, *, argv: Sequence[str] = (),
                fallback: str = "", posted: bool = False) -> None:
        """Run ``run_id``'s newest row and heartbeat at ``now``; ``posted``: its own message
        is posted (once said, never undone).

        A run that is not on a closed board whose :data:`GRACE` has passed starts a new
        board (the old message stays as it is); within the grace it reopens the board.
        """
        if run_id not in self.members and self.closed_at is not None:
            if now >= self.closed_at + GRACE:
                self.members.clear()
                self.shown.clear()
                self.channel_id = self.ts = self.holder = None
                self.lease_until = self.edited_at = 0.0
            self.closed_at = None
        member = self.members.get(run_id)
        if member is None:
            self.members[run_id] = Member(row=row, seen=now, argv=list(argv), fallback=fallback,
                                          posted=posted)
            return
        member.posted = member.posted or posted
        if member.row.status.final and not row.status.final:
            return  # an ending is never undone (a late row of a run already reported dead)
        member.row, member.seen = row, now

    def lead(self, now: float, run_id: str, *, lease: float = LEASE) -> bool:
        """Take or renew the lease for ``run_id`` if it is free; True if ``run_id`` holds it.

        The lease is free when nobody holds it, it ran out, or its holder is not on the
        board.  A holder whose run ended keeps it for its last edit, then lets it go
        (:meth:`release`).
        """
        free = (self.holder is None or self.lease_until <= now
                or self.holder not in self.members)
        if self.holder == run_id or free:
            self.holder, self.lease_until = run_id, now + lease
            return True
        return False

    def release(self, run_id: str) -> None:
        """``run_id`` lets the lease go (another run may take it at once)."""
        if self.holder == run_id:
            self.holder, self.lease_until = None, 0.0

    def show(self, run_ids: Sequence[str]) -> None:
        """The board message now shows the end of ``run_ids`` (an edit Slack took)."""
        self.shown = sorted(set(self.shown) | set(run_ids))

    def ended(self, now: float) -> List[str]:
        """The runs that ended (a silent one counts as lost), in the order of :meth:`rows`."""
        return [run_id for run_id, row in zip(self.members, self.rows(now))
                if row.status.final]

    def rows(self, now: float, names: Optional[Dict[str, str]] = None) -> List[BoardRow]:
        """The rows to show, named: a run's own name, else the arguments that differ
        between the board's runs (:func:`~..rendering.board.run_names`), else its
        ``host:PID``; a live run silent for :data:`SILENT_AFTER` seconds as ``[Lost]``."""
        members = list(self.members.values())
        varied = run_names([m.argv for m in members]) if len(members) > 1 else [None] * len(
            members)
        rows = []
        for member, default in zip(members, varied):
            row = member.row
            name = row.name or default or member.fallback or "run"
            status = row.status
            if not status.final and now - member.seen >= SILENT_AFTER:
                status = Status.LOST
            rows.append(dataclasses.replace(row, name=name, status=status))
        return rows

    def all_ended(self, now: float) -> bool:
        """Every run of the board has ended (a silent one counts as lost)."""
        return bool(self.members) and all(row.status.final for row in self.rows(now))

    def unposted(self, now: float) -> int:
        """How many runs' own messages are still on their way: runs not shown dead
        (``[Killed]``, ``[Lost]``: a dead run posts nothing more) whose message is not
        :attr:`Member.posted` yet."""
        return sum(not member.posted and row.status not in _DEAD
                   for member, row in zip(self.members.values(), self.rows(now)))
