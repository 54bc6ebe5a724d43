"""Scheduled messages: what ``chat.scheduleMessage`` keeps until its ``post_at`` passes.

:class:`Schedule` holds the messages waiting to be posted and enforces the
restrictions of the ``chat.scheduleMessage`` page (docs.slack.dev
``reference/methods/chat.scheduleMessage``, "Restrictions"): ``post_at`` in
the future (``time_in_past``) and at most 120 days ahead (``time_too_far``),
and no more than 30 messages to post within a 5-minute window to the same
channel (``restricted_too_many``).  Posting a due message is the Web API's
job (:meth:`.methods.WebAPI.post_due`); the emulator asks for it whenever its
clock may have passed a ``post_at``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import List, Optional

__all__ = ["ScheduledMessage", "Schedule", "MAX_SECONDS_AHEAD", "WINDOW_SECONDS",
           "MAX_PER_WINDOW"]

#: "You will only be able to schedule a message up to 120 days into the future."
MAX_SECONDS_AHEAD = 120 * 24 * 3600
#: "you cannot schedule more than 30 messages to post within a 5-minute window to the
#: same channel."
WINDOW_SECONDS, MAX_PER_WINDOW = 5 * 60, 30


@dataclass
class ScheduledMessage:
    """A message waiting for its ``post_at``."""

    id: str  #: ``scheduled_message_id``, e.g. ``"Q0000000001"``
    channel: str  #: the channel's ID
    post_at: int  #: Unix time (seconds) it posts at
    text: str
    date_created: int  #: Unix time (seconds) it was scheduled
    blocks: List[dict] = field(default_factory=list)
    thread_ts: Optional[str] = None  #: the parent's ``ts`` for a reply
    #: its message metadata, or None.  The ``chat.scheduleMessage`` page's "Bug
    #: alert": "Messages scheduled with chat.scheduleMessage will not post if the
    #: metadata parameter is used" -- one with metadata is dropped at ``post_at``.
    metadata: Optional[dict] = None

    def as_json(self) -> dict:
        """The entry ``chat.scheduledMessages.list`` returns."""
        return {"id": self.id, "channel_id": self.channel, "post_at": self.post_at,
                "date_created": self.date_created, "text": self.text}


class Schedule:
    """The messages waiting to be posted, in the order they were scheduled.

    Not thread-safe on its own: the emulator uses it under its lock.
    """

    def __init__(self) -> None:
        self.pending: List[ScheduledMessage] = []
        self._ids = itertools.count(1)

    def refusal(self, channel: str, post_at: int, now: float) -> Optional[str]:
        """The error ``chat.scheduleMessage`` answers for this ``post_at``, or None.

        Args:
            channel (str): The channel's ID.
            post_at (int): The requested Unix time (seconds).
            now (float): The emulator clock's Unix time (seconds).
        """
        if post_at <= now:
            return "time_in_past"
        if post_at > now + MAX_SECONDS_AHEAD:
            return "time_too_far"
        times = [m.post_at for m in self.pending if m.channel == channel]
        # the fullest 5-minute window that would hold post_at starts at post_at or
        # at one of the times before it
        starts = [t for t in times if post_at - WINDOW_SECONDS < t <= post_at] + [post_at]
        if max(sum(1 for t in times if s <= t < s + WINDOW_SECONDS) for s in starts) \
                >= MAX_PER_WINDOW:
            return "restricted_too_many"
        return None

    def add(self, channel: str, post_at: int, text: str, now: float, *,
            blocks: Optional[List[dict]] = None, thread_ts: Optional[str] = None,
            metadata: Optional[dict] = None) -> ScheduledMessage:
        """Keep a new message for ``post_at`` (checked by :meth:`refusal` first)."""
        message = ScheduledMessage(id=f"Q{next(self._ids):010d}", channel=channel,
                                   post_at=post_at, text=text, date_created=int(now),
                                   blocks=list(blocks or []), thread_ts=thread_ts,
                                   metadata=metadata)
        self.pending.append(message)
        return message

    def remove(self, channel: str, message_id: str) -> bool:
        """Drop a pending message of ``channel``; False if there is none by that ID."""
        for message in self.pending:
            if message.id == message_id and message.channel == channel:
                self.pending.remove(message)
                return True
        return False

    def take_due(self, now: float) -> List[ScheduledMessage]:
        """Remove and return the messages whose ``post_at`` has come, earliest first."""
        due = sorted((m for m in self.pending if m.post_at <= now), key=lambda m: m.post_at)
        for message in due:
            self.pending.remove(message)
        return due

    def next_post_at(self) -> Optional[int]:
        """The earliest ``post_at`` waiting, or None."""
        return min((m.post_at for m in self.pending), default=None)
