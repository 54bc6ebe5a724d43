"""``SlackEmulator``: the emulator a test starts, talks to, injects faults into and inspects.

It owns the pieces and the one lock that guards them: the workspace
(:mod:`.model`) and its Web API methods (:mod:`.methods`), rate limits
(:mod:`.limits`), faults (:mod:`.faults`), the clock (:mod:`.clock`) and the
HTTP server (:mod:`.http`).  :meth:`SlackEmulator.answer` is the one entry the
HTTP layer calls for an API request; :meth:`SlackEmulator.snapshot` is what the
channel view (:mod:`.view`) draws.
"""

from __future__ import annotations

import copy
import mimetypes
import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from .clock import Clock
from .faults import Fault, Faults
from .http import Answer, ApiRequest, Server
from .limits import SLACK_LIMITS, RateLimits, retry_after_header
from .methods import DEFAULT_SCOPES, MAX_TEXT_CHARS, NO_AUTH_METHODS, WebAPI
from .model import Call, Channel, Message, Workspace
from .scheduled import ScheduledMessage

__all__ = ["SlackEmulator", "Snapshot"]


@dataclass
class Snapshot:
    """A consistent copy of what the workspace holds, for drawing it (never the token)."""

    channels: List[Channel]  #: deep copies, in creation order
    users: Dict[str, str]  #: member ID → name
    now: float  #: the emulator clock's time of the snapshot (Unix seconds)
    scheduled: List[ScheduledMessage]  #: copies of the messages waiting, earliest first


class SlackEmulator:
    """A Slack Web API emulator on ``http://127.0.0.1:PORT/api/``.

    Args:
        token (str): The bot token it accepts (``Authorization: Bearer …``).
        channels (iterable of str): Names of channels to create; IDs are
            ``C0000001``, ``C0000002``, … in order.
        users (dict): Member ID → user name, for ``users.list``.
        max_text_chars (int): ``chat.update`` answers ``msg_too_long`` above
            this many characters of ``text`` (Slack: 4,000).
        port (int): 0 picks a free port.
        limits (dict): Rate limits to enforce, method → ``(calls, per)`` or
            ``(calls, per, scope)``: at most ``calls`` (int) accepted calls in
            any ``per`` seconds (float), see :meth:`set_limit`.  The default,
            :data:`~.limits.SLACK_LIMITS`, is Slack's; ``limits=NO_LIMITS``
            (:data:`~.limits.NO_LIMITS`) is the explicit opt-out for tests
            that must run faster than Slack allows.
        retry_after_resolution (float): ``Retry-After`` (of a rate-limited call
            or an injected 429) is rounded up to a multiple of this many
            seconds.  1.0 (the default) sends whole seconds, at least 1, as
            Slack does.  Less is not Slack's: a fraction such as ``0.01`` lets
            tests with short windows run fast, but slack_sdk's
            ``RateLimitErrorRetryHandler`` (``int(Retry-After)``) fails on it.
        scopes (iterable of str): The bot token's OAuth scopes (default
            :data:`DEFAULT_SCOPES`), sent in the ``x-oauth-scopes`` header; a
            method whose scope (:data:`METHOD_SCOPES`; reading a channel needs
            ``channels:read``/``channels:history``, ``groups:*`` for a private
            one) is missing answers ``missing_scope``.  :attr:`scopes` can be
            changed at run time.
        clock (Clock): The emulator's now (default: a new :class:`Clock` on
            real time); :meth:`advance` moves it.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    BOT_USER = "UBOT00001"

    def __init__(self, token: str = "xoxb-0000-emulator-token",
                 channels=("general", "random"), users: Optional[Dict[str, str]] = None,
                 max_text_chars: int = MAX_TEXT_CHARS, port: int = 0, *,
                 limits: Mapping[str, Sequence] = SLACK_LIMITS,
                 retry_after_resolution: float = 1.0,
                 scopes: Sequence[str] = DEFAULT_SCOPES,
                 clock: Optional[Clock] = None) -> None:
        if not retry_after_resolution > 0:
            raise ValueError(f"retry_after_resolution must be > 0, not {retry_after_resolution}")
        self.token = token
        #: Seconds ``Retry-After`` is rounded up to a multiple of (1.0: whole seconds).
        self.retry_after_resolution = float(retry_after_resolution)
        #: The emulator's now: ``ts``, rate-limit windows; see :meth:`advance`.
        self.clock = clock or Clock()
        self.calls: List[Call] = []
        self.revoked = False
        if isinstance(scopes, str):
            scopes = scopes.split(",")
        #: The bot token's OAuth scopes, in the order ``x-oauth-scopes`` lists them.
        self.scopes: List[str] = [s.strip() for s in scopes if s.strip()]
        self.max_in_flight = 0  #: most API requests ever being answered at once
        self._in_flight = 0
        self._lock = threading.RLock()
        self._workspace = Workspace(users)
        self._faults = Faults()
        self._limits = RateLimits()
        self._server = Server(("127.0.0.1", port), self)
        self._api = WebAPI(self._workspace, self.clock, bot_user=self.BOT_USER,
                           max_text_chars=max_text_chars, base_url=self._base_url)
        self._thread: Optional[threading.Thread] = None
        self._poster: Optional[threading.Thread] = None
        self._stopping = threading.Event()
        for name in channels:
            self.add_channel(name)
        self._limits.set_all(limits)

    # -- lifecycle -------------------------------------------------------------
    def _base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def view_url(self) -> str:
        """The channel view for a browser: channels and messages as Slack shows them,
        updating live (:mod:`chainer_slack_report.testing.emulator.view`)."""
        return self._base_url() + "/"

    @property
    def url(self) -> str:
        """The ``base_url`` for :class:`slack_sdk.WebClient` (ends in ``/api/``)."""
        return self._base_url() + "/api/"

    def start(self) -> SlackEmulator:
        """Serve on a thread of its own (and post scheduled messages as they come due)."""
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                name="slack-emulator", daemon=True)
            self._poster = threading.Thread(target=self._post_on_time,
                                            name="slack-emulator-scheduled", daemon=True)
            self._thread.start()
            self._poster.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the port."""
        if self._thread is not None:
            self._stopping.set()
            self._server.shutdown()
            self._thread.join(5)
            self._poster.join(5)
            self._thread = self._poster = None
        self._server.server_close()

    def _post_on_time(self) -> None:
        """Post scheduled messages when real time passes their ``post_at``."""
        wait = 0.0
        while not self._stopping.wait(wait):
            with self._lock:
                self._api.post_due()
                due = self._workspace.schedule.next_post_at()
                now = self.clock.now()
            wait = 0.5 if due is None or self.clock.frozen else min(max(due - now, 0.01), 0.5)

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
    @property
    def channels(self) -> Dict[str, Channel]:
        """Channel ID → :class:`Channel` (live objects), in creation order."""
        return self._workspace.channels

    @property
    def users(self) -> Dict[str, str]:
        """Member ID → user name, for ``users.list`` (change it freely)."""
        return self._workspace.users

    @property
    def files(self) -> Dict[str, dict]:
        """File ID → ``id``, ``name``, ``length``, ``content`` (bytes; None once
        deleted), ``title``, ``deleted`` (True after ``files.delete``)."""
        return self._workspace.files

    @property
    def max_text_chars(self) -> int:
        """``msg_too_long`` above this many characters of ``text``."""
        return self._api.max_text_chars

    @max_text_chars.setter
    def max_text_chars(self, value: int) -> None:
        self._api.max_text_chars = int(value)

    @property
    def latency(self) -> Union[float, Callable[[str], float]]:
        """Seconds each API call waits before answering, or fn(method) -> seconds."""
        return self._faults.latency

    @latency.setter
    def latency(self, value: Union[float, Callable[[str], float]]) -> None:
        self._faults.latency = value

    def add_channel(self, name: str, member: bool = True, *, private: bool = False) -> Channel:
        """Create a channel; ``member=False`` leaves the bot outside it.

        A ``private=True`` channel is invisible to the bot unless it is a
        member (``channel_not_found``), and reading it needs the ``groups:*``
        scopes instead of ``channels:*``.
        """
        with self._lock:
            return self._workspace.add_channel(name, member, private)

    def channel(self, key: str) -> Channel:
        """A channel by ID, name or ``#name``.  Raises KeyError."""
        with self._lock:
            found = self._workspace.find_channel(key)
        if found is None:
            raise KeyError(key)
        return found

    def messages(self, channel: str) -> List[Message]:
        """Top-level messages of a channel (by ID or name), oldest first."""
        with self._lock:
            self._api.post_due()
            return list(self.channel(channel).messages)

    def scheduled(self, channel: Optional[str] = None) -> List[ScheduledMessage]:
        """Messages scheduled with ``chat.scheduleMessage`` and not posted (or deleted)
        yet, earliest ``post_at`` first; only those of ``channel`` (ID or name) if given."""
        with self._lock:
            self._api.post_due()
            wanted = self.channel(channel).id if channel is not None else None
            return sorted((m for m in self._workspace.schedule.pending
                           if wanted is None or m.channel == wanted),
                          key=lambda m: m.post_at)

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

        ``channels``: name → ``id``, ``archived``, ``private``,
        ``messages`` (``ts``, ``text``, ``blocks``, ``history_len``,
        ``replies``' texts, file names, ``reactions`` (emoji name → count) and
        ``metadata`` (or None); with ``history=True`` also
        ``history``, every text the message had) and ``scheduled`` (``id``,
        ``post_at``, ``text``, ``thread_ts`` of each message waiting).
        ``now``: the emulator clock's Unix time.  ``methods``: method →
        ``calls``, ``ok``, ``rate_limited`` (HTTP 429s), ``dropped`` and
        ``errors`` (code → count).  ``limits``: method → ``calls``, ``per``,
        ``scope``.  The token is never included.
        """
        def message(m: Message) -> dict:
            out = {"ts": m.ts, "text": m.text, "blocks": copy.deepcopy(m.blocks),
                   "history_len": len(m.history),
                   "replies": [r.text for r in m.replies],
                   "files": [f["name"] for f in m.files],
                   "reactions": {r.name: len(r.users) for r in m.reactions},
                   "metadata": copy.deepcopy(m.metadata)}
            if history:
                out["history"] = list(m.history)
            return out

        with self._lock:
            self._api.post_due()
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
                                       "private": ch.private,
                                       "messages": [message(m) for m in ch.messages],
                                       "scheduled": [
                                           {"id": m.id, "post_at": m.post_at, "text": m.text,
                                            "thread_ts": m.thread_ts}
                                           for m in self.scheduled(ch.id)]}
                             for ch in self.channels.values()},
                "now": self.clock.now(),
                "methods": methods,
                "rate_limited": sum(e["rate_limited"] for e in methods.values()),
                "limits": self._limits.as_json(),
                "max_in_flight": self.max_in_flight,
            }

    def snapshot(self) -> Snapshot:
        """A consistent copy of the channels, their messages, the users and the scheduled
        messages (for the view)."""
        with self._lock:
            return Snapshot(channels=copy.deepcopy(list(self.channels.values())),
                            users=dict(self.users), now=self.clock.now(),
                            scheduled=copy.deepcopy(self.scheduled()))

    def delete_message(self, channel: str, ts: str) -> None:
        """Delete a message or a reply as a person would (later updates get
        ``message_not_found``).  Raises KeyError for an unknown channel or ``ts``."""
        with self._lock:
            chan = self.channel(channel)
            message, parent = chan.find(ts)
            if message is None:
                raise KeyError(ts)
            (parent.replies if parent else chan.messages).remove(message)

    def archive(self, channel: str) -> None:
        """Archive a channel (by ID or name) as a person would: posting to it is
        ``is_archived``, editing in it ``is_inactive``.  Raises KeyError."""
        with self._lock:
            self.channel(channel).archived = True

    def advance(self, seconds: float) -> float:
        """Move the emulator's clock ``seconds`` forward at once; returns its new now.

        Everything that goes by the clock sees the new time: rate-limit windows
        free their slots, new messages get later ``ts``, and scheduled messages
        whose ``post_at`` has passed are posted before this returns.

        Raises:
            ValueError: ``seconds`` is negative.
        """
        with self._lock:
            now = self.clock.advance(seconds)
            self._api.post_due()
            return now

    def scopes_header(self) -> str:
        """The ``x-oauth-scopes`` header: the scopes, comma-separated, as Slack sends them."""
        return ",".join(self.scopes)

    # -- fault knobs -----------------------------------------------------------
    def fail(self, method: str = "*", error: Optional[str] = "fatal_error", *,
             status: int = 200, times: float = 1, retry_after: Optional[float] = None) -> None:
        """Answer the next ``times`` calls of ``method`` (``"*"``: any) with a fault.

        ``error`` is the Slack error code in ``{"ok": false, "error": …}``;
        ``status`` the HTTP status (429 sends ``Retry-After``: ``retry_after``
        seconds rounded up to a multiple of :attr:`retry_after_resolution`,
        whole seconds by default, as Slack sends them; 5xx with
        ``error=None`` sends a non-JSON body like a load balancer).
        ``times=float("inf")`` keeps failing until :meth:`clear_faults`.
        Injected faults come after the rate limit and before authentication.
        """
        with self._lock:
            self._faults.add(Fault(method, error, status, retry_after, times))

    def rate_limit(self, method: str = "*", retry_after: float = 1.0, times: float = 1) -> None:
        """HTTP 429, ``{"error": "ratelimited"}`` with a ``Retry-After`` header."""
        self.fail(method, "ratelimited", status=429, times=times, retry_after=retry_after)

    def clear_faults(self) -> None:
        """Forget every fault :meth:`fail` and :meth:`rate_limit` injected."""
        with self._lock:
            self._faults.clear()

    def set_down(self, down: bool = True) -> None:
        """An outage: while down, every connection is closed without an answer."""
        self._faults.down = down

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

        The limit decides when a request arrives (at :attr:`Call.started`, on
        the emulator's :attr:`clock`), before latency, injected faults and
        auth, like Slack's front door (calls arriving during :meth:`set_down`
        are not counted).  A call over the limit gets HTTP 429 ``{"ok": false,
        "error": "ratelimited"}`` with ``Retry-After``: the seconds until the
        window frees a slot, rounded up to a multiple of
        :attr:`retry_after_resolution`.  It is recorded with status 429 and
        error ``"ratelimited"``, is not counted in the window and changes no
        state.  Calls accepted earlier under this method's limit keep counting
        when the limit changes.

        Args:
            method (str): API method, e.g. ``"chat.update"``.
            calls (int): Calls accepted per window (>= 1).
            per (float): Window length in seconds (> 0).
            scope (str): ``"app"``, ``"channel"`` or None (see above).

        Raises:
            ValueError: a number or the scope is out of range.
        """
        with self._lock:
            self._limits.set(method, calls=calls, per=per, scope=scope)

    def clear_limits(self, method: Optional[str] = None) -> None:
        """Stop enforcing the limit of ``method`` (None: every limit) and forget its windows."""
        with self._lock:
            self._limits.clear(method)

    # -- what the HTTP layer calls ---------------------------------------------------
    def answer(self, request: ApiRequest) -> Answer:
        """Answer one Web API request as Slack would; called by the HTTP layer.

        Records the call, applies the rate limit (at arrival), waits the
        latency, then gives the outage, the 429, an injected fault, the auth
        error or the method's answer, in that order.  Blocks for the latency.
        """
        params = request.params
        with self._lock:  # one clock reading, under the lock: windows stay exact
            self._api.post_due()  # what came due first, as it would have on Slack
            call = Call(method=request.method, params=params, started=self.clock.now())
            self.calls.append(call)
            wait = None if self._faults.down else self._limits.admit(
                request.method, call.started, lambda scope: self._limit_key(scope, request))
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            return self._answer(request, call, wait)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _limit_key(self, scope: str, request: ApiRequest) -> str:
        if scope == "channel":
            key = str(request.params.get("channel") or request.params.get("channel_id") or "")
            channel = self._workspace.find_channel(key)
            return channel.id if channel is not None else key
        return request.token or ""

    def _answer(self, request: ApiRequest, call: Call, wait: Optional[float]) -> Answer:
        delay = self._faults.delay(request.method)
        if delay > 0:
            time.sleep(delay)
        if self._faults.down:
            call.dropped = True
            return Answer.closed()
        if wait is not None:
            call.status, call.error = 429, "ratelimited"
            return Answer.json({"ok": False, "error": "ratelimited"}, status=429, headers={
                "Retry-After": retry_after_header(wait, self.retry_after_resolution)})
        with self._lock:
            fault = self._faults.take(request.method)
        if fault is not None:
            call.status, call.error = fault.status, fault.error
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = retry_after_header(fault.retry_after,
                                                            self.retry_after_resolution)
            if fault.error is None:
                return Answer(fault.status, b"<html>Service Unavailable</html>", "text/html",
                              headers)
            return Answer.json({"ok": False, "error": fault.error}, status=fault.status,
                               headers=headers)
        error = self._auth_error(request)
        headers = {}
        if error and request.method not in NO_AUTH_METHODS:
            result = {"ok": False, "error": error}
        else:
            if not error:  # Slack tells an accepted token its scopes on every answer
                headers["x-oauth-scopes"] = self.scopes_header()
            if request.error:
                result = {"ok": False, "error": request.error}
            else:
                with self._lock:
                    result = self._api.call(request.method, request.params, self.scopes)
        call.error = None if result.get("ok") else result.get("error")
        return Answer.json(result, headers=headers)

    def _auth_error(self, request: ApiRequest) -> Optional[str]:
        token = request.token
        if not token:  # a token in the query string is refused (see ApiRequest)
            return "invalid_auth" if request.token_in_query else "not_authed"
        if token != self.token:
            return "invalid_auth"
        if self.revoked:
            return "token_revoked"
        return None

    def file(self, file_id: str) -> Optional[Tuple[bytes, str]]:
        """An uploaded file's bytes and content type, or None (for ``GET /files/ID``)."""
        with self._lock:
            record = self.files.get(file_id)
            if record is None or record["content"] is None:
                return None
            kind = mimetypes.guess_type(record["name"])[0] or "application/octet-stream"
            return record["content"], kind

    def upload(self, file_id: str, body: bytes) -> bool:
        """Store the bytes posted to a file's ``upload_url``; False if no such upload."""
        with self._lock:
            record = self.files.get(file_id)
            if record is None:
                return False
            record["content"] = body
            return True
