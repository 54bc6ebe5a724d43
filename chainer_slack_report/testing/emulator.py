"""A local, stateful Slack Web API server for tests.

The real :class:`slack_sdk.WebClient` talks to it unchanged through
``base_url``::

    with SlackEmulator() as slack:
        client = slack.client()           # WebClient(token, base_url=slack.url)
        client.chat_postMessage(channel="general", text="hi")
        assert slack.messages("general")[0].text == "hi"

It keeps channels, messages with ``ts``, each message's edit history, thread
replies, users and files uploaded through the ``files_upload_v2`` flow
(``files.getUploadURLExternal`` → POST bytes → ``files.completeUploadExternal``).
It checks the bot token and the channel and answers with Slack's error codes
(``not_authed``, ``invalid_auth``, ``token_revoked``, ``channel_not_found``,
``not_in_channel``, ``is_archived``, ``message_not_found``, ``msg_too_long``,
``no_text``, ``ratelimited``, ``missing_scope``).  The bot's OAuth scopes
(:attr:`SlackEmulator.scopes`) come back in the ``x-oauth-scopes`` header of
every answer to an accepted token, as Slack sends them; ``auth.test``,
``conversations.info`` and ``conversations.list`` tell what ``chainer-slack-report
check`` needs to know.  Knobs inject latency, HTTP 429 with
``Retry-After``, 5xx answers, Slack error codes and outages (connections
dropped without an answer).  Every call is recorded in :attr:`calls`.

Rate limits like Slack's (off by default) are sliding windows per method::

    SlackEmulator(limits=SLACK_LIMITS)                  # Slack-like numbers
    slack.set_limit("chat.update", calls=3, per=0.5)    # or any, at run time

A call over a limit gets HTTP 429 ``{"ok": false, "error": "ratelimited"}``
with ``Retry-After`` (see :meth:`SlackEmulator.set_limit`).

To share one emulator between processes, run it as its own process::

    python -m chainer_slack_report.testing.emulator --port 0 --update-limit 50/60

It prints one JSON line (``url``, ``token``, ``channels``, ``state_url``) and
serves until SIGTERM/SIGINT.  ``GET /_emulator/state`` answers
:meth:`SlackEmulator.state` as JSON (``?history=1`` adds every message's
edit history).

Only 127.0.0.1 is ever bound.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import itertools
import json
import math
import mimetypes
import os
import signal
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Deque, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from . import view

__all__ = ["SlackEmulator", "Message", "Call", "Channel", "SLACK_LIMITS", "DEFAULT_SCOPES",
           "METHOD_SCOPES", "main", "add_arguments", "serve"]

#: ``chat.update`` documents ``msg_too_long`` at 4,000 characters.
MAX_TEXT_CHARS = 4000

#: Slack-like rate limits for ``SlackEmulator(limits=…)``: method → (calls, per seconds).
#:
#: * ``chat.update``: 50 per 60 s per app (one token).  Slack's "Rate limits"
#:   page puts it in Tier 3, "50+ per minute", counted per method, per app,
#:   per workspace; 50 is that documented floor.
#: * ``chat.postMessage``: 5 per 5 s per channel.  Slack documents about one
#:   message per second per channel with short bursts tolerated; a 5 s window
#:   keeps that average and lets a burst of 5 through.
SLACK_LIMITS: Dict[str, Tuple[int, float]] = {
    "chat.update": (50, 60.0),
    "chat.postMessage": (5, 5.0),
}

#: The bot's OAuth scopes unless told otherwise: post and edit, resolve user
#: names, upload files.
DEFAULT_SCOPES = ("chat:write", "users:read", "files:write")

#: The OAuth scope each method needs (as Slack's method pages list them); a
#: token without it gets ``missing_scope`` with ``needed`` and ``provided``.
#: The read methods of ``conversations.*`` are not checked (they would need
#: ``channels:read``/``channels:history``, which a reporting bot rarely has).
METHOD_SCOPES: Dict[str, str] = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.delete": "chat:write",
    "users.list": "users:read",
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
}

#: The scope a limit gets when none is given: Slack counts ``chat.postMessage``
#: per channel, everything else per app.
_DEFAULT_SCOPES = {"chat.postMessage": "channel"}
_SCOPES = ("app", "channel")


@dataclass
class Message:
    """A message in a channel (or a reply in a thread)."""

    channel: str
    ts: str
    text: str
    user: str
    thread_ts: Optional[str] = None
    history: List[str] = field(default_factory=list)  #: every text it had, first to last
    replies: List[Message] = field(default_factory=list)
    files: List[dict] = field(default_factory=list)
    unfurl_links: Optional[bool] = None

    def as_json(self) -> dict:
        out = {"type": "message", "ts": self.ts, "text": self.text, "user": self.user}
        if self.thread_ts:
            out["thread_ts"] = self.thread_ts
        if self.files:
            out["files"] = [dict(f) for f in self.files]
        if len(self.history) > 1:
            out["edited"] = {"user": self.user, "ts": self.ts}
        return out


@dataclass
class Channel:
    """A public channel; the bot is a member unless ``member`` is False."""

    id: str
    name: str
    member: bool = True
    archived: bool = False
    messages: List[Message] = field(default_factory=list)


@dataclass
class Call:
    """One recorded API call (the token is never recorded)."""

    method: str
    params: dict
    #: time.monotonic() when the request arrived; rate limits count this instant
    started: float
    status: int = 200  #: HTTP status; 429 when rate-limited
    error: Optional[str] = None  #: Slack error code (``"ratelimited"`` with 429)
    dropped: bool = False  #: the connection was closed without an answer


@dataclass
class _Fault:
    method: str
    error: Optional[str]
    status: int
    retry_after: Optional[float]
    remaining: float


@dataclass(frozen=True)
class _Limit:
    calls: int
    per: float
    scope: str


class SlackEmulator:
    """A Slack Web API emulator on ``http://127.0.0.1:PORT/api/``.

    Args:
        token (str): The bot token it accepts (``Authorization: Bearer …``).
        channels (iterable of str): Names of channels to create; IDs are
            ``C0000001``, ``C0000002``, … in order.
        users (dict): Member ID → user name, for ``users.list``.
        max_text_chars (int): ``msg_too_long`` above this many characters.
        port (int): 0 picks a free port.
        limits (dict): Rate limits to enforce, method → ``(calls, per)`` or
            ``(calls, per, scope)``: at most ``calls`` (int) accepted calls in
            any ``per`` seconds (float), see :meth:`set_limit`.  None (the
            default) enforces none, as before.  :data:`SLACK_LIMITS` holds
            Slack-like numbers.
        retry_after_resolution (float): ``Retry-After`` of a rate-limited call
            is rounded up to a multiple of this many seconds.  1.0 (the
            default) sends whole seconds, at least 1, as Slack does; e.g. 0.01
            sends fractions so tests with short windows run fast.
        scopes (iterable of str): The bot token's OAuth scopes (default
            :data:`DEFAULT_SCOPES`), sent in the ``x-oauth-scopes`` header; a
            method whose scope (:data:`METHOD_SCOPES`) is missing answers
            ``missing_scope``.  :attr:`scopes` can be changed at run time.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    BOT_USER = "UBOT00001"

    def __init__(self, token: str = "xoxb-0000-emulator-token",
                 channels=("general", "random"), users: Optional[Dict[str, str]] = None,
                 max_text_chars: int = MAX_TEXT_CHARS, port: int = 0, *,
                 limits: Optional[Mapping[str, Sequence]] = None,
                 retry_after_resolution: float = 1.0,
                 scopes: Sequence[str] = DEFAULT_SCOPES) -> None:
        if not retry_after_resolution > 0:
            raise ValueError(f"retry_after_resolution must be > 0, not {retry_after_resolution}")
        self.token = token
        self.max_text_chars = max_text_chars
        #: Seconds ``Retry-After`` is rounded up to a multiple of (1.0: whole seconds).
        self.retry_after_resolution = float(retry_after_resolution)
        #: Seconds each API call waits before answering, or fn(method) -> seconds.
        self.latency: Union[float, Callable[[str], float]] = 0.0
        self.calls: List[Call] = []
        self.channels: Dict[str, Channel] = {}
        self.users: Dict[str, str] = dict(users or {})
        self.files: Dict[str, dict] = {}
        self.revoked = False
        if isinstance(scopes, str):
            scopes = scopes.split(",")
        #: The bot token's OAuth scopes, in the order ``x-oauth-scopes`` lists them.
        self.scopes: List[str] = [s.strip() for s in scopes if s.strip()]
        self.max_in_flight = 0  #: most API requests ever being answered at once
        self._in_flight = 0
        self._down = False
        self._faults: List[_Fault] = []
        self._limits: Dict[str, _Limit] = {}
        #: (method, scope key) → monotonic times of the calls the limit accepted
        self._windows: Dict[Tuple[str, str], Deque[float]] = {}
        self._lock = threading.RLock()
        self._ts_counter = itertools.count(1)
        self._ids = itertools.count(1)
        for name in channels:
            self.add_channel(name)
        for method, spec in (limits or {}).items():
            calls, per, *scope = spec
            self.set_limit(method, calls=calls, per=per, scope=scope[0] if scope else None)
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.emulator = self  # type: ignore[attr-defined]
        self._thread: Optional[threading.Thread] = None

    # -- lifecycle -------------------------------------------------------------
    @property
    def view_url(self) -> str:
        """The channel view for a browser: channels and messages as Slack shows them,
        updating live (``chainer_slack_report.testing.view``)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    @property
    def url(self) -> str:
        """The ``base_url`` for :class:`slack_sdk.WebClient` (ends in ``/api/``)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    def start(self) -> SlackEmulator:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                name="slack-emulator", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> SlackEmulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def client(self, **kwargs):
        """A real :class:`slack_sdk.WebClient` pointed at this emulator."""
        from slack_sdk import WebClient

        kwargs.setdefault("token", self.token)
        return WebClient(base_url=self.url, **kwargs)

    # -- state -----------------------------------------------------------------
    def add_channel(self, name: str, member: bool = True) -> Channel:
        """Create a channel; ``member=False`` leaves the bot outside it."""
        with self._lock:
            channel = Channel(id=f"C{len(self.channels) + 1:07d}", name=name, member=member)
            self.channels[channel.id] = channel
            return channel

    def channel(self, key: str) -> Channel:
        """A channel by ID, name or ``#name``.  Raises KeyError."""
        found = self._find_channel(key)
        if found is None:
            raise KeyError(key)
        return found

    def messages(self, channel: str) -> List[Message]:
        """Top-level messages of a channel (by ID or name), oldest first."""
        with self._lock:
            return list(self.channel(channel).messages)

    def find_message(self, ts: str) -> Optional[Message]:
        with self._lock:
            for channel in self.channels.values():
                for message in channel.messages:
                    if message.ts == ts:
                        return message
        return None

    def calls_to(self, method: str) -> List[Call]:
        """Recorded calls of one API method (e.g. ``"chat.update"``)."""
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def count(self, method: Optional[str] = None, *, status: Optional[int] = None,
              error: Optional[str] = None) -> int:
        """How many recorded calls match: ``count(status=429)`` counts rate-limited calls.

        Args:
            method (str): Only calls of this API method; None: any.
            status (int): Only answers with this HTTP status; None: any.
            error (str): Only answers with this Slack error code; None: any.
        """
        with self._lock:
            return sum(1 for c in self.calls
                       if (method is None or c.method == method)
                       and (status is None or c.status == status)
                       and (error is None or c.error == error))

    def state(self, *, history: bool = False) -> dict:
        """A JSON-able summary, also served at ``GET /_emulator/state``.

        ``channels``: name → ``id`` and ``messages`` (``ts``, ``text``,
        ``history_len``, ``replies``' texts, file names; with ``history=True``
        also ``history``, every text the message had).  ``methods``: method →
        ``calls``, ``ok``, ``rate_limited`` (HTTP 429s), ``dropped`` and
        ``errors`` (code → count).  ``limits``: method → ``calls``, ``per``,
        ``scope``.  The token is never included.
        """
        def message(m: Message) -> dict:
            out = {"ts": m.ts, "text": m.text, "history_len": len(m.history),
                   "replies": [r.text for r in m.replies],
                   "files": [f["name"] for f in m.files]}
            if history:
                out["history"] = list(m.history)
            return out

        with self._lock:
            methods: Dict[str, dict] = {}
            for c in self.calls:
                entry = methods.setdefault(c.method, {"calls": 0, "ok": 0, "rate_limited": 0,
                                                      "dropped": 0, "errors": {}})
                entry["calls"] += 1
                if c.dropped:
                    entry["dropped"] += 1
                elif c.status == 429:
                    entry["rate_limited"] += 1
                elif c.status == 200 and c.error is None:
                    entry["ok"] += 1
                if c.error is not None:
                    entry["errors"][c.error] = entry["errors"].get(c.error, 0) + 1
            return {
                "channels": {ch.name: {"id": ch.id, "archived": ch.archived,
                                       "messages": [message(m) for m in ch.messages]}
                             for ch in self.channels.values()},
                "methods": methods,
                "rate_limited": sum(e["rate_limited"] for e in methods.values()),
                "limits": {name: {"calls": lim.calls, "per": lim.per, "scope": lim.scope}
                           for name, lim in self._limits.items()},
                "max_in_flight": self.max_in_flight,
            }

    def delete_message(self, channel: str, ts: str) -> None:
        """Delete a message as a person would (later updates get message_not_found)."""
        with self._lock:
            chan = self.channel(channel)
            chan.messages = [m for m in chan.messages if m.ts != ts]

    def archive(self, channel: str) -> None:
        with self._lock:
            self.channel(channel).archived = True

    def scopes_header(self) -> str:
        """The ``x-oauth-scopes`` header: the scopes, comma-separated, as Slack sends them."""
        return ",".join(self.scopes)

    # -- fault knobs -----------------------------------------------------------
    def fail(self, method: str = "*", error: Optional[str] = "fatal_error", *,
             status: int = 200, times: float = 1, retry_after: Optional[float] = None) -> None:
        """Answer the next ``times`` calls of ``method`` (``"*"``: any) with a fault.

        ``error`` is the Slack error code in ``{"ok": false, "error": …}``;
        ``status`` the HTTP status (429 sends ``Retry-After: retry_after``;
        5xx with ``error=None`` sends a non-JSON body like a load balancer).
        ``times=float("inf")`` keeps failing until :meth:`clear_faults`.
        """
        with self._lock:
            self._faults.append(_Fault(method, error, status, retry_after, times))

    def rate_limit(self, method: str = "*", retry_after: float = 1.0, times: float = 1) -> None:
        """HTTP 429, ``{"error": "ratelimited"}`` with a ``Retry-After`` header."""
        self.fail(method, "ratelimited", status=429, times=times, retry_after=retry_after)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def set_down(self, down: bool = True) -> None:
        """An outage: while down, every connection is closed without an answer."""
        self._down = down

    # -- rate limits -------------------------------------------------------------
    def set_limit(self, method: str, *, calls: int, per: float,
                  scope: Optional[str] = None) -> None:
        """Enforce at most ``calls`` accepted calls of ``method`` in any ``per`` seconds.

        Like Slack, the limit is a sliding window over the calls it accepted,
        counted per ``scope``: ``"app"`` (per token; one app is one token) or
        ``"channel"`` (per channel the call posts to; thread replies count for
        their channel).  ``scope=None`` picks ``"channel"`` for
        ``chat.postMessage`` and ``"app"`` otherwise.  :data:`SLACK_LIMITS`
        lists Slack-like numbers and the Slack facts behind them.

        The limit decides when a request arrives (at :attr:`Call.started`),
        before latency, injected faults and auth, like Slack's front door
        (calls arriving during :meth:`set_down` are not counted).
        A call over the limit gets HTTP 429 ``{"ok": false, "error":
        "ratelimited"}`` with ``Retry-After``: the seconds until the window
        frees a slot, rounded up to a multiple of
        :attr:`retry_after_resolution`.  It is recorded with status 429 and
        error ``"ratelimited"``, is not counted in the window and changes no
        state.  Calls accepted earlier under this method's limit keep counting
        when the limit changes.

        Args:
            method (str): API method, e.g. ``"chat.update"``.
            calls (int): Calls accepted per window (>= 1).
            per (float): Window length in seconds (> 0).
            scope (str): ``"app"``, ``"channel"`` or None (see above).
        """
        scope = scope or _DEFAULT_SCOPES.get(method, "app")
        if scope not in _SCOPES:
            raise ValueError(f"scope must be one of {_SCOPES}, not {scope!r}")
        if int(calls) != calls or calls < 1 or not per > 0:
            raise ValueError(f"need calls >= 1 (int) and per > 0 seconds, not {calls}/{per}")
        with self._lock:
            self._limits[method] = _Limit(int(calls), float(per), scope)

    def clear_limits(self, method: Optional[str] = None) -> None:
        """Stop enforcing the limit of ``method`` (None: every limit) and forget its windows."""
        with self._lock:
            for name in [method] if method is not None else list(self._limits):
                self._limits.pop(name, None)
                for key in [k for k in self._windows if k[0] == name]:
                    del self._windows[key]

    def _admit(self, method: str, params: dict, token: Optional[str],
               now: float) -> Optional[float]:
        """None if the call is within its limit (and counts it), else seconds to wait."""
        limit = self._limits.get(method)
        if limit is None:
            return None
        if limit.scope == "channel":
            key = str(params.get("channel") or params.get("channel_id") or "")
            channel = self._find_channel(key)
            key = "channel:" + (channel.id if channel is not None else key)
        else:  # a digest, so that no structure here holds the token
            key = "app:" + hashlib.sha256((token or "").encode()).hexdigest()[:16]
        window = self._windows.setdefault((method, key), collections.deque())
        while window and now - window[0] >= limit.per:
            window.popleft()
        if len(window) < limit.calls:
            window.append(now)
            return None
        return window[-limit.calls] + limit.per - now

    def _retry_after_header(self, wait: float) -> str:
        resolution = self.retry_after_resolution
        steps = max(1, math.ceil(wait / resolution))
        if steps > 1 and (steps - 1) * resolution >= wait:  # float noise in the division
            steps -= 1
        value = steps * resolution
        if value == int(value):
            return str(int(value))
        return repr(round(value, 9))

    # -- request handling (called by the handler threads) ----------------------
    def _find_channel(self, key: str) -> Optional[Channel]:
        with self._lock:
            if key in self.channels:
                return self.channels[key]
            name = key[1:] if key.startswith("#") else key
            for channel in self.channels.values():
                if channel.name == name:
                    return channel
        return None

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts_counter):06d}"

    def _take_fault(self, method: str) -> Optional[_Fault]:
        with self._lock:
            for fault in self._faults:
                if fault.method in ("*", method) and fault.remaining > 0:
                    fault.remaining -= 1
                    return fault
        return None

    def _latency(self, method: str) -> float:
        latency = self.latency
        return float(latency(method) if callable(latency) else latency)

    def _check_auth(self, token: Optional[str]) -> Optional[str]:
        if not token:
            return "not_authed"
        if token != self.token:
            return "invalid_auth"
        if self.revoked:
            return "token_revoked"
        return None

    def _missing_scope(self, method: str) -> Optional[dict]:
        """Slack's ``missing_scope`` answer if the token lacks the method's scope."""
        needed = METHOD_SCOPES.get(method)
        scopes = list(self.scopes)
        if needed is None or needed in scopes:
            return None
        return {"ok": False, "error": "missing_scope", "needed": needed,
                "provided": ",".join(scopes)}

    def _api(self, method: str, params: dict) -> dict:
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return {"ok": False, "error": "unknown_method"}
        with self._lock:
            return handler(params)

    def _postable(self, params: dict, key: str = "channel"):
        channel = self._find_channel(str(params.get(key) or ""))
        if channel is None:
            return None, "channel_not_found"
        if channel.archived:
            return None, "is_archived"
        if not channel.member:
            return None, "not_in_channel"
        return channel, None

    def _text_error(self, text) -> Optional[str]:
        if not text:
            return "no_text"
        if len(text) > self.max_text_chars:
            return "msg_too_long"
        return None

    def _m_auth_test(self, params: dict) -> dict:
        return {"ok": True, "user_id": self.BOT_USER, "user": "emulator-bot",
                "team": "Emulator", "team_id": "T0000001", "bot_id": "B0000001"}

    def _m_chat_postMessage(self, params: dict) -> dict:
        channel, error = self._postable(params)
        error = error or self._text_error(params.get("text"))
        if error:
            return {"ok": False, "error": error}
        message = Message(channel=channel.id, ts=self._next_ts(), text=params["text"],
                          user=self.BOT_USER, thread_ts=params.get("thread_ts"),
                          history=[params["text"]],
                          unfurl_links=params.get("unfurl_links"))
        if message.thread_ts:
            parent = next((m for m in channel.messages if m.ts == message.thread_ts), None)
            if parent is None:
                return {"ok": False, "error": "thread_not_found"}
            parent.replies.append(message)
        else:
            channel.messages.append(message)
        return {"ok": True, "channel": channel.id, "ts": message.ts,
                "message": message.as_json()}

    def _m_chat_update(self, params: dict) -> dict:
        channel = self.channels.get(str(params.get("channel") or ""))  # IDs only
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if channel.archived:
            return {"ok": False, "error": "is_archived"}
        message = next((m for m in channel.messages if m.ts == params.get("ts")), None)
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        error = self._text_error(params.get("text"))
        if error:
            return {"ok": False, "error": error}
        message.text = params["text"]
        message.history.append(message.text)
        return {"ok": True, "channel": channel.id, "ts": message.ts, "text": message.text}

    def _m_chat_delete(self, params: dict) -> dict:
        channel = self.channels.get(str(params.get("channel") or ""))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        before = len(channel.messages)
        channel.messages = [m for m in channel.messages if m.ts != params.get("ts")]
        if len(channel.messages) == before:
            return {"ok": False, "error": "message_not_found"}
        return {"ok": True, "channel": channel.id, "ts": params["ts"]}

    def _m_conversations_history(self, params: dict) -> dict:
        channel = self._find_channel(str(params.get("channel") or ""))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "messages": [m.as_json() for m in reversed(channel.messages)],
                "has_more": False}

    def _m_conversations_replies(self, params: dict) -> dict:
        channel = self._find_channel(str(params.get("channel") or ""))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        parent = next((m for m in channel.messages if m.ts == params.get("ts")), None)
        if parent is None:
            return {"ok": False, "error": "thread_not_found"}
        return {"ok": True, "messages": [parent.as_json()] + [r.as_json() for r in parent.replies],
                "has_more": False}

    @staticmethod
    def _channel_json(channel: Channel) -> dict:
        return {"id": channel.id, "name": channel.name, "is_channel": True,
                "is_private": False, "is_archived": channel.archived,
                "is_member": channel.member}

    def _m_conversations_info(self, params: dict) -> dict:
        # Like Slack: a channel ID only (a name gets channel_not_found).
        channel = self.channels.get(str(params.get("channel") or ""))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "channel": self._channel_json(channel)}

    def _m_conversations_list(self, params: dict) -> dict:
        exclude_archived = str(params.get("exclude_archived", "")).lower() in ("1", "true")
        channels = [self._channel_json(c) for c in self.channels.values()
                    if not (exclude_archived and c.archived)]
        limit = int(params.get("limit") or 0) or 100
        start = int(params.get("cursor") or 0)
        cursor = str(start + limit) if start + limit < len(channels) else ""
        return {"ok": True, "channels": channels[start:start + limit],
                "response_metadata": {"next_cursor": cursor}}

    def _m_users_list(self, params: dict) -> dict:
        members = [{"id": uid, "name": name, "real_name": name,
                    "profile": {"display_name": name, "real_name": name}}
                   for uid, name in sorted(self.users.items())]
        limit = int(params.get("limit") or 0) or len(members) or 1
        start = int(params.get("cursor") or 0)
        page = members[start:start + limit]
        cursor = str(start + limit) if start + limit < len(members) else ""
        return {"ok": True, "members": page, "response_metadata": {"next_cursor": cursor}}

    def _m_files_getUploadURLExternal(self, params: dict) -> dict:
        if not params.get("filename") or not params.get("length"):
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{next(self._ids):07d}"
        self.files[file_id] = {"id": file_id, "name": params["filename"],
                               "length": int(params["length"]), "content": None}
        base = self.url.rsplit("/api/", 1)[0]
        return {"ok": True, "file_id": file_id, "upload_url": f"{base}/upload/{file_id}"}

    def _m_files_completeUploadExternal(self, params: dict) -> dict:
        try:
            entries = json.loads(params.get("files") or "[]")
        except ValueError:
            return {"ok": False, "error": "invalid_arguments"}
        shared = []
        for entry in entries:
            record = self.files.get(entry.get("id"))
            if record is None or record["content"] is None:
                return {"ok": False, "error": "file_not_found"}
            record["title"] = entry.get("title") or record["name"]
            shared.append(record)
        if params.get("channel_id"):
            channel, error = self._postable(params, "channel_id")
            if error:
                return {"ok": False, "error": error}
            info = [{"id": r["id"], "name": r["name"], "title": r["title"]} for r in shared]
            message = Message(channel=channel.id, ts=self._next_ts(),
                              text=params.get("initial_comment") or "", user=self.BOT_USER,
                              thread_ts=params.get("thread_ts"), files=info)
            message.history.append(message.text)
            parent = next((m for m in channel.messages if m.ts == message.thread_ts), None)
            (parent.replies if parent else channel.messages).append(message)
        return {"ok": True, "files": [{"id": r["id"], "title": r["title"]} for r in shared]}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args) -> None:  # noqa: A002 - quiet
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        emulator: SlackEmulator = self.server.emulator  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urllib.parse.urlsplit(self.path)
        if url.path in ("/", "/index.html"):
            self._send(200, view.PAGE.encode("utf-8"), "text/html; charset=utf-8")
            return
        if url.path.startswith("/files/"):
            self._file(emulator, url.path.rsplit("/", 1)[1])
            return
        if url.path.startswith("/_emulator/"):
            self._debug(emulator, url)
            return
        if url.path.startswith("/upload/"):
            self._upload(emulator, url.path.rsplit("/", 1)[1], body)
            return
        method = url.path.rsplit("/", 1)[-1]
        params = self._params(url.query, body)
        token = params.pop("token", None)
        auth = self.headers.get("Authorization") or ""
        if auth.startswith("Bearer "):
            token = auth[len("Bearer "):].strip()
        with emulator._lock:  # one clock reading, under the lock: windows stay exact
            call = Call(method=method, params=params, started=time.monotonic())
            emulator.calls.append(call)
            wait = None if emulator._down else emulator._admit(method, params, token,
                                                               call.started)
            emulator._in_flight += 1
            emulator.max_in_flight = max(emulator.max_in_flight, emulator._in_flight)
        try:
            self._answer(emulator, method, params, token, call, wait)
        finally:
            with emulator._lock:
                emulator._in_flight -= 1

    def _answer(self, emulator: SlackEmulator, method: str, params: dict,
                token: Optional[str], call: Call, wait: Optional[float]) -> None:
        delay = emulator._latency(method)
        if delay > 0:
            time.sleep(delay)
        if emulator._down:
            call.dropped = True
            self.close_connection = True
            return
        if wait is not None:
            call.status, call.error = 429, "ratelimited"
            self._send_json(429, {"ok": False, "error": "ratelimited"},
                            {"Retry-After": emulator._retry_after_header(wait)})
            return
        fault = emulator._take_fault(method)
        if fault is not None:
            call.status, call.error = fault.status, fault.error
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = f"{fault.retry_after:g}"
            if fault.error is None:
                self._send(fault.status, b"<html>Service Unavailable</html>",
                           "text/html", headers)
            else:
                self._send_json(fault.status, {"ok": False, "error": fault.error}, headers)
            return
        error = emulator._check_auth(token)
        headers = {}
        if error:
            result = {"ok": False, "error": error}
        else:  # Slack tells an accepted token its scopes on every answer
            headers["x-oauth-scopes"] = emulator.scopes_header()
            result = emulator._missing_scope(method) or emulator._api(method, params)
        call.error = None if result.get("ok") else result.get("error")
        self._send_json(200, result, headers)

    @staticmethod
    def _params(query: str, body: bytes) -> dict:
        params = dict(urllib.parse.parse_qsl(query))
        if body:
            text = body.decode("utf-8")
            if text.lstrip().startswith("{"):
                params.update(json.loads(text))
            else:
                params.update(urllib.parse.parse_qsl(text))
        return params

    def _file(self, emulator: SlackEmulator, file_id: str) -> None:
        record = emulator.files.get(file_id)
        if record is None or record["content"] is None:
            self._send(404, b"no such file", "text/plain")
            return
        kind = mimetypes.guess_type(record["name"])[0] or "application/octet-stream"
        self._send(200, record["content"], kind)

    def _debug(self, emulator: SlackEmulator, url: urllib.parse.SplitResult) -> None:
        if url.path.rstrip("/") == "/_emulator/view.json":
            self._send_json(200, view.view_state(emulator))
            return
        if url.path.rstrip("/") != "/_emulator/state":
            self._send(404, b"unknown debug endpoint", "text/plain")
            return
        query = dict(urllib.parse.parse_qsl(url.query))
        history = query.get("history", "") not in ("", "0", "false")
        self._send_json(200, emulator.state(history=history))

    def _upload(self, emulator: SlackEmulator, file_id: str, body: bytes) -> None:
        record = emulator.files.get(file_id)
        if record is None:
            self._send(404, b"unknown upload", "text/plain")
            return
        record["content"] = body
        self._send(200, f"OK - {len(body)}".encode(), "text/plain")

    def _send_json(self, status: int, payload: dict, headers: Optional[dict] = None) -> None:
        self._send(status, json.dumps(payload).encode("utf-8"),
                   "application/json; charset=utf-8", headers)

    def _send(self, status: int, body: bytes, content_type: str,
              headers: Optional[dict] = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    #: listen() backlog; socketserver's 5 drops connections when dozens of
    #: processes call at once (each WebClient call opens a new connection).
    request_queue_size = 256


# -- as its own process ------------------------------------------------------------
def _limit_arg(text: str) -> Tuple[int, float]:
    try:
        calls, per = text.split("/")
        calls, per = int(calls), float(per)
    except ValueError:
        message = f"expected CALLS/SECONDS like 50/60, not {text!r}"
        raise argparse.ArgumentTypeError(message) from None
    if calls < 1 or not per > 0:
        raise argparse.ArgumentTypeError(f"need CALLS >= 1 and SECONDS > 0, not {text!r}")
    return calls, per


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the emulator's options to ``parser`` (``python -m …emulator`` and the CLI)."""
    parser.add_argument("--port", type=int, default=0, help="TCP port (0: a free one)")
    parser.add_argument("--token", default="xoxb-0000-emulator-token",
                        help="the bot token it accepts")
    parser.add_argument("--channels", default="general,random",
                        help="comma-separated channel names (default: general,random)")
    parser.add_argument("--scopes", default=",".join(DEFAULT_SCOPES),
                        help="comma-separated OAuth scopes of the token, sent in "
                             "x-oauth-scopes; a method needing another answers "
                             "missing_scope (default: %(default)s)")
    parser.add_argument("--update-limit", type=_limit_arg, nargs="?", metavar="CALLS/SECONDS",
                        const=SLACK_LIMITS["chat.update"],
                        help="limit chat.update per app; without a value 50/60 "
                             "(Slack Tier 3). Default: no limit")
    parser.add_argument("--post-limit", type=_limit_arg, nargs="?", metavar="CALLS/SECONDS",
                        const=SLACK_LIMITS["chat.postMessage"],
                        help="limit chat.postMessage per channel; without a value 5/5 "
                             "(Slack: ~1 per second per channel, short bursts). "
                             "Default: no limit")
    parser.add_argument("--retry-after-resolution", type=float, default=1.0, metavar="SECONDS",
                        help="Retry-After is rounded up to a multiple of this "
                             "(default 1: whole seconds, as Slack sends)")
    parser.add_argument("--latency", type=float, default=0.0, metavar="SECONDS",
                        help="seconds each API call waits before answering")
    parser.add_argument("--state-file", metavar="PATH",
                        help="on exit, write the final state (as GET /_emulator/state?history=1)")
    return parser


def _announce_json(info: dict) -> None:
    print(json.dumps(info), flush=True)


def serve(args: argparse.Namespace, announce: Callable[[dict], None] = _announce_json) -> int:
    """Serve a :class:`SlackEmulator` built from ``args`` (see :func:`add_arguments`)
    until SIGTERM/SIGINT; returns the exit code 0.

    ``announce(info)`` is called once it listens, with ``url`` (the WebClient
    ``base_url``), ``token``, ``channels`` (name → ID), ``state_url`` and
    ``pid``; by default it prints them as one JSON line.
    """
    limits = {}
    if args.update_limit:
        limits["chat.update"] = args.update_limit
    if args.post_limit:
        limits["chat.postMessage"] = args.post_limit
    names = [n.strip() for n in args.channels.split(",") if n.strip()]
    emulator = SlackEmulator(token=args.token, channels=names, port=args.port, limits=limits,
                             retry_after_resolution=args.retry_after_resolution,
                             scopes=args.scopes.split(","))
    emulator.latency = args.latency
    stop = threading.Event()

    def on_signal(signum, frame) -> None:
        stop.set()

    previous = {signum: signal.signal(signum, on_signal)
                for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        with emulator:
            base = emulator.url.rsplit("/api/", 1)[0]
            announce({"url": emulator.url, "token": emulator.token,
                      "channels": {c.name: c.id for c in emulator.channels.values()},
                      "state_url": f"{base}/_emulator/state", "view_url": f"{base}/",
                      "pid": os.getpid()})
            while not stop.wait(1.0):
                pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if args.state_file:
        with open(args.state_file, "w", encoding="utf-8") as out:
            json.dump(emulator.state(history=True), out)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Serve a :class:`SlackEmulator` until SIGTERM/SIGINT; returns the exit code 0.

    Prints one JSON line to stdout first: ``url`` (the WebClient
    ``base_url``), ``token``, ``channels`` (name → ID), ``state_url`` and ``pid``.
    """
    parser = add_arguments(argparse.ArgumentParser(
        prog="python -m chainer_slack_report.testing.emulator",
        description="A local Slack Web API emulator on 127.0.0.1, shared by processes."))
    return serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
