"""The shared budget's state as typed objects, and the JSON form it has in the state file.

A :class:`State` holds the runs that count as active (:class:`Run`) and one
:class:`Bucket` per rate-limited key.  :meth:`State.from_json` reads whatever
a state file holds — written by another process, another version, or cut
short — and keeps only the well-formed parts; :meth:`State.to_json` writes
it back.  Times are clock values in seconds (the budget's clock).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from .rank import Waiting

__all__ = ["VERSION", "Run", "Bucket", "State", "is_number"]

#: The largest PID a state file may name (Linux's ``pid_max`` is at most 2**22).
MAX_PID = 2**31 - 1
#: The largest ``calls`` a bucket may hold (Slack's limits are tens to hundreds a minute).
MAX_CALLS = 10**6

#: Version of the state file's layout; a file of another version is started afresh.
#: 1: keys ``v``, ``keys``, ``eff``, ``ra``, ``mark`` (0.x); 2: the field names below.
VERSION = 2


def is_number(value: Any) -> bool:
    """Whether ``value`` is a finite int or float (a bool is not)."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _all_finite(values: Any) -> bool:
    """Whether the iterable ``values`` holds only finite numbers; cheap for long lists."""
    try:
        return math.isfinite(sum(values, 0.0))
    except (TypeError, OverflowError):  # not numbers; an int too large for a float
        return False


@dataclass
class Run:
    """A run that counts as active.

    Attributes:
        pid (int): Its process, on ``host``.
        host (str): The host name of that process.
        seen (float): Time of its last heartbeat (a :meth:`SharedBudget.join`
            or any ask).
        last_call (dict): Bucket key → time of its last non-priority grant
            there (what its fair interval counts from).
    """

    pid: int
    host: str
    seen: float
    last_call: Dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_json(cls, raw: Any) -> Optional[Run]:
        """The run a state file held, or None if it is malformed."""
        if not (isinstance(raw, dict) and isinstance(raw.get("pid"), int)
                and isinstance(raw.get("host"), str) and is_number(raw.get("seen"))):
            return None
        if not 0 < raw["pid"] <= MAX_PID:
            raise ValueError(f"PID {raw['pid']} is out of range")
        last = raw.get("last_call")
        last = (dict(zip(last, map(float, last.values())))
                if isinstance(last, dict) and _all_finite(last.values()) else {})
        return cls(pid=raw["pid"], host=raw["host"], seen=float(raw["seen"]), last_call=last)


@dataclass
class Bucket:
    """The sliding-window log and Slack's answers for one key (``"chat.update"``, say).

    Attributes:
        calls (int): The nominal limit: calls per window; 0 while the bucket
            only carries a block (a 429 for a key not asked for yet).
        per (float): The window in seconds.
        effective (float): Calls per window allowed now: ``calls`` halved by
            429s and grown back one at a time (AIMD); between 1 and
            ``max(1, calls)``.
        grants (list of float): Times of the grants within the window, oldest first.
        blocked_until (float): End of Slack's ``Retry-After`` block; no call before it.
        block_seconds (float): Length of that block (its ``Retry-After``).
        next_increase (float): Earliest time ``effective`` may grow by one again.
        waiting (dict): Who waits for a slot: ``"<run id>/<rank>"`` →
            :class:`~.rank.Waiting` (the queue a freed slot is given from).
    """

    calls: int
    per: float
    effective: float
    grants: List[float]
    blocked_until: float
    block_seconds: float
    next_increase: float
    waiting: Dict[str, Waiting] = field(default_factory=dict)

    @classmethod
    def fresh(cls, *, calls: int, per: float) -> Bucket:
        """A bucket with nothing granted nor blocked, at its full limit (the one place
        a bucket is made; ``calls=0, per=0.0`` for one that will only carry a block)."""
        return cls(calls=calls, per=per, effective=float(max(1, calls)), grants=[],
                   blocked_until=0.0, block_seconds=0.0, next_increase=0.0)

    @classmethod
    def from_json(cls, raw: Any) -> Optional[Bucket]:
        """The bucket a state file held, or None if it is malformed (values out of
        range are brought into range)."""
        times = ("per", "effective", "blocked_until", "block_seconds", "next_increase")
        if not (isinstance(raw, dict) and isinstance(raw.get("grants"), list)
                and isinstance(raw.get("calls"), int) and raw["calls"] >= 0
                and _all_finite([raw.get(name) for name in times])
                and _all_finite(raw["grants"])):
            return None
        calls = raw["calls"]
        if calls > MAX_CALLS:
            raise ValueError(f"{calls} calls a window is out of range")
        queue = raw.get("waiting")
        waiting = {}
        for who, entry in (queue.items() if isinstance(queue, dict) else ()):
            parsed = Waiting.from_json(entry)
            if parsed is not None:
                waiting[str(who)] = parsed
        return cls(calls=calls, per=max(0.0, float(raw["per"])),
                   effective=min(max(1.0, float(raw["effective"])), float(max(1, calls))),
                   grants=sorted(map(float, raw["grants"])),
                   blocked_until=float(raw["blocked_until"]),
                   block_seconds=max(0.0, float(raw["block_seconds"])),
                   next_increase=float(raw["next_increase"]), waiting=waiting)

    def to_json(self) -> dict:
        """The bucket as the state's JSON holds it."""
        return {**{name: value for name, value in vars(self).items() if name != "waiting"},
                "waiting": {who: entry.to_json() for who, entry in self.waiting.items()}}


@dataclass
class State:
    """All that the runs sharing one budget know: run id → :class:`Run`, key → :class:`Bucket`."""

    runs: Dict[str, Run] = field(default_factory=dict)
    buckets: Dict[str, Bucket] = field(default_factory=dict)
    #: Why the file's state was dropped as a whole (a value out of range), else None.
    reset: Optional[str] = field(default=None, compare=False)

    @classmethod
    def from_json(cls, data: bytes) -> State:
        """The state in a file's bytes; empty, truncated, not JSON, of another
        :data:`VERSION` or malformed: a fresh state, or one without the malformed parts.
        A value out of range (a PID or a count too large to use) makes it a fresh
        state whose :attr:`reset` says why: nothing in a file can raise later."""
        state = cls()
        try:
            raw = json.loads(data)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            return state
        if not isinstance(raw, dict) or raw.get("version") != VERSION:
            return state
        for name, parts, parse in (("runs", state.runs, Run.from_json),
                                   ("buckets", state.buckets, Bucket.from_json)):
            found = raw.get(name)
            if isinstance(found, dict):
                for key, value in found.items():
                    try:
                        part = parse(value)
                    except (ValueError, OverflowError) as exc:  # a float() of a huge int
                        return cls(reset=f"{name} {key!r}: {exc}")
                    if part is not None:
                        parts[key] = part
        return state

    def to_json(self) -> bytes:
        """The state file's bytes: compact JSON of :data:`VERSION`'s layout."""
        return json.dumps({"version": VERSION,
                           "runs": {key: vars(run) for key, run in self.runs.items()},
                           "buckets": {key: bucket.to_json()
                                       for key, bucket in self.buckets.items()}},
                          separators=(",", ":")).encode()
