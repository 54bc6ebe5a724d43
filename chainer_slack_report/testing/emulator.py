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
``no_text``, ``ratelimited``).  Knobs inject latency, HTTP 429 with
``Retry-After``, 5xx answers, Slack error codes and outages (connections
dropped without an answer).  Every call is recorded in :attr:`calls`.

Only 127.0.0.1 is ever bound.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Dict, List, Optional, Union

__all__ = ["SlackEmulator", "Message", "Call", "Channel"]

#: ``chat.update`` documents ``msg_too_long`` at 4,000 characters.
MAX_TEXT_CHARS = 4000


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
    started: float  #: time.monotonic() when the request arrived
    status: int = 200
    error: Optional[str] = None
    dropped: bool = False  #: the connection was closed without an answer


@dataclass
class _Fault:
    method: str
    error: Optional[str]
    status: int
    retry_after: Optional[float]
    remaining: float


class SlackEmulator:
    """A Slack Web API emulator on ``http://127.0.0.1:PORT/api/``.

    Args:
        token (str): The bot token it accepts (``Authorization: Bearer …``).
        channels (iterable of str): Names of channels to create; IDs are
            ``C0000001``, ``C0000002``, … in order.
        users (dict): Member ID → user name, for ``users.list``.
        max_text_chars (int): ``msg_too_long`` above this many characters.
        port (int): 0 picks a free port.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    BOT_USER = "UBOT00001"

    def __init__(self, token: str = "xoxb-0000-emulator-token",
                 channels=("general", "random"), users: Optional[Dict[str, str]] = None,
                 max_text_chars: int = MAX_TEXT_CHARS, port: int = 0) -> None:
        self.token = token
        self.max_text_chars = max_text_chars
        #: Seconds each API call waits before answering, or fn(method) -> seconds.
        self.latency: Union[float, Callable[[str], float]] = 0.0
        self.calls: List[Call] = []
        self.channels: Dict[str, Channel] = {}
        self.users: Dict[str, str] = dict(users or {})
        self.files: Dict[str, dict] = {}
        self.revoked = False
        self.max_in_flight = 0  #: most API requests ever being answered at once
        self._in_flight = 0
        self._down = False
        self._faults: List[_Fault] = []
        self._lock = threading.RLock()
        self._ts_counter = itertools.count(1)
        self._ids = itertools.count(1)
        for name in channels:
            self.add_channel(name)
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self._server.daemon_threads = True
        self._server.emulator = self  # type: ignore[attr-defined]
        self._thread: Optional[threading.Thread] = None

    # -- lifecycle -------------------------------------------------------------
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

    def delete_message(self, channel: str, ts: str) -> None:
        """Delete a message as a person would (later updates get message_not_found)."""
        with self._lock:
            chan = self.channel(channel)
            chan.messages = [m for m in chan.messages if m.ts != ts]

    def archive(self, channel: str) -> None:
        with self._lock:
            self.channel(channel).archived = True

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
        if url.path.startswith("/upload/"):
            self._upload(emulator, url.path.rsplit("/", 1)[1], body)
            return
        method = url.path.rsplit("/", 1)[-1]
        params = self._params(url.query, body)
        token = params.pop("token", None)
        auth = self.headers.get("Authorization") or ""
        if auth.startswith("Bearer "):
            token = auth[len("Bearer "):].strip()
        call = Call(method=method, params=params, started=time.monotonic())
        with emulator._lock:
            emulator.calls.append(call)
            emulator._in_flight += 1
            emulator.max_in_flight = max(emulator.max_in_flight, emulator._in_flight)
        try:
            self._answer(emulator, method, params, token, call)
        finally:
            with emulator._lock:
                emulator._in_flight -= 1

    def _answer(self, emulator: SlackEmulator, method: str, params: dict,
                token: Optional[str], call: Call) -> None:
        delay = emulator._latency(method)
        if delay > 0:
            time.sleep(delay)
        if emulator._down:
            call.dropped = True
            self.close_connection = True
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
        result = {"ok": False, "error": error} if error else emulator._api(method, params)
        call.error = None if result.get("ok") else result.get("error")
        self._send_json(200, result)

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
