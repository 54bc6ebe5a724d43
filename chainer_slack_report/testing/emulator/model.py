"""The emulated workspace: channels, their messages and threads, users, uploaded files,
scheduled messages.

These are the records the Web API methods (:mod:`.methods`) read and change
and that tests inspect (``SlackEmulator.messages`` returns :class:`Message`
objects).  :class:`Call` is the record of one API request.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from .reactions import Reaction
from .scheduled import Schedule

__all__ = ["Message", "Channel", "Call", "Workspace"]


@dataclass
class Message:
    """A message in a channel (or a reply in a thread)."""

    channel: str  #: the channel's ID
    ts: str  #: Slack's message ID, ``"<Unix seconds>.<6 digits>"``
    text: str  #: with ``blocks``, the fallback for notifications (may be ``""``)
    user: str  #: the poster's member ID
    thread_ts: Optional[str] = None  #: the parent's ``ts`` for a reply
    history: List[str] = field(default_factory=list)  #: every text it had, first to last
    replies: List[Message] = field(default_factory=list)
    files: List[dict] = field(default_factory=list)  #: ``id``, ``name``, ``title`` of each
    unfurl_links: Optional[bool] = None
    blocks: List[dict] = field(default_factory=list)  #: Block Kit blocks, as posted
    bot_id: Optional[str] = None  #: the posting app's bot ID (Slack's ``bot_id``)
    edited_ts: Optional[str] = None  #: when it was last edited (a ``ts``), or None
    #: its message metadata (``event_type``, ``event_payload``), as posted, or None
    metadata: Optional[dict] = None
    reactions: List[Reaction] = field(default_factory=list)  #: in the order first added

    def as_json(self, *, metadata: bool = True) -> dict:
        """The message object as the Web API returns it.

        Args:
            metadata (bool): Include its ``metadata`` (``chat.postMessage`` and
                ``chat.update`` answers do; ``conversations.history`` and
                ``.replies`` only with ``include_all_metadata``).
        """
        out = {"type": "message", "ts": self.ts, "text": self.text, "user": self.user}
        if self.bot_id:
            out["bot_id"] = self.bot_id
        if self.blocks:
            out["blocks"] = [dict(b) for b in self.blocks]
        if self.thread_ts:  # a reply (the bot starts its threads: the parent is its own)
            out.update(thread_ts=self.thread_ts, parent_user_id=self.user)
        elif self.replies:  # a thread's parent, as conversations.history shows it
            out.update(thread_ts=self.ts, reply_count=len(self.replies),
                       reply_users=sorted({r.user for r in self.replies}),
                       latest_reply=self.replies[-1].ts)
        if self.files:
            out["files"] = [dict(f) for f in self.files]
        if self.edited_ts:
            out["edited"] = {"user": self.user, "ts": self.edited_ts}
        if self.reactions:
            out["reactions"] = [r.as_json() for r in self.reactions]
        if metadata and self.metadata is not None:
            out["metadata"] = json.loads(json.dumps(self.metadata))
        return out


@dataclass
class Channel:
    """A channel; the bot is a member unless ``member`` is False.

    A private channel (``private=True``) is invisible to a bot outside it.
    """

    id: str
    name: str
    member: bool = True
    archived: bool = False
    messages: List[Message] = field(default_factory=list)  #: top level, oldest first
    private: bool = False

    def find(self, ts: Optional[str]) -> Tuple[Optional[Message], Optional[Message]]:
        """``(message, parent)`` for a message or a reply with this ``ts``.

        ``parent`` is the thread's parent for a reply, None for a top-level
        message; ``(None, None)`` when there is no such message.
        """
        for message in self.messages:
            if message.ts == ts:
                return message, None
            for reply in message.replies:
                if reply.ts == ts:
                    return reply, message
        return None, None


@dataclass
class Call:
    """One recorded API call (the token is never recorded)."""

    method: str
    params: dict
    #: the emulator clock's time (Unix seconds) when the request arrived; rate
    #: limits count this instant
    started: float
    status: int = 200  #: HTTP status; 429 when rate-limited
    error: Optional[str] = None  #: Slack error code (``"ratelimited"`` with 429)
    dropped: bool = False  #: the connection was closed without an answer


class Workspace:
    """Channels (by ID, in creation order), users, files, and the IDs handed out.

    Not thread-safe on its own: the emulator uses it under its lock.
    """

    def __init__(self, users: Optional[Dict[str, str]] = None) -> None:
        self.channels: Dict[str, Channel] = {}
        self.users: Dict[str, str] = dict(users or {})  #: member ID → user name
        #: file ID → ``id``, ``name``, ``length``, ``content`` (None once deleted),
        #: ``deleted`` (True after ``files.delete``)
        self.files: Dict[str, dict] = {}
        self.schedule = Schedule()  #: messages waiting for their ``post_at``
        self._ts_counter = itertools.count(1)
        self._ids = itertools.count(1)

    def add_channel(self, name: str, member: bool = True, private: bool = False) -> Channel:
        """A new channel ``C0000001``, ``C0000002``, … in creation order."""
        channel = Channel(id=f"C{len(self.channels) + 1:07d}", name=name, member=member,
                          private=private)
        self.channels[channel.id] = channel
        return channel

    def find_channel(self, key: str) -> Optional[Channel]:
        """A channel by ID, name or ``#name``; None if there is none."""
        if key in self.channels:
            return self.channels[key]
        name = key[1:] if key.startswith("#") else key
        return next((c for c in self.channels.values() if c.name == name), None)

    def next_ts(self, now: float) -> str:
        """A new, unique message ``ts`` at Unix time ``now`` (seconds)."""
        return f"{int(now)}.{next(self._ts_counter):06d}"

    def next_id(self, prefix: str) -> str:
        """A new ID such as ``F0000001`` (``prefix`` and seven digits)."""
        return f"{prefix}{next(self._ids):07d}"
