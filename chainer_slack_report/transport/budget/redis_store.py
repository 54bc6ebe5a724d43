"""The shared budget's state in Redis: one budget for the runs of a token on every host.

:class:`RedisStore` keeps one budget's :class:`~.state.State` as one Redis
string, ``chainer_slack_report:budget:<name>`` (``<name>``: the same hash as
the state file's name, :func:`~.store.state_name`; the token is never
stored), in the JSON form of the state file.  It runs the same
``fn(state, now)`` changes and looks as :class:`~.store.BudgetStore`, so the
budget's rules (:mod:`.shared`) are written once:

* a change is an optimistic transaction (``WATCH`` the key, read it, run
  ``fn``, ``MULTI``/``SET``/``EXEC``; tried again if another client changed the
  key meanwhile), so it is atomic on the server;
* ``now`` is the server's ``TIME``, so every host reads one clock;
* runs count by their heartbeat (the ``seen`` time of their last ask), which
  expires after the budget's ``horizon``: a PID means nothing on another host;
* the key expires when nobody has changed it for :data:`KEY_TTL` seconds.

When the server does not answer (at the start, or later), the store warns
once (:class:`~chainer_slack_report.SlackReportWarning`, naming the host and
port, never the password), keeps the budget in the host's state file
meanwhile, and tries the server again every :data:`RETRY_AFTER` seconds.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import warnings
from typing import Callable, Optional, TypeVar

from ...warning import SlackReportWarning
from .state import State
from .store import BudgetStore, Busy, Change, Document, Look
from .store_url import StoreURL, mask

__all__ = ["KEY_PREFIX", "KEY_TTL", "SOCKET_TIMEOUT", "RETRY_AFTER", "RedisStore",
           "redis_client"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

#: Prefix of the budgets' keys: ``chainer_slack_report:budget:<16 hex digits>``.
KEY_PREFIX = "chainer_slack_report:budget:"
#: Seconds a key lives after its last change (longer than any window or ``Retry-After``
#: the budget keeps).
KEY_TTL = 7200
#: Seconds one Redis command (and a connect) may take before the server counts as lost.
SOCKET_TIMEOUT = 1.0
#: Seconds between two tries to reach a server that did not answer.
RETRY_AFTER = 5.0
_CONFLICT_BACKOFF = 0.001  # seconds: the first backoff after a WATCH conflict (doubled each time)


def redis_client(url: StoreURL, *, timeout: float = SOCKET_TIMEOUT):
    """A redis-py client of ``url``: ``timeout`` seconds per command and connect, no
    retries (the caller has somewhere else to go), no ``decode_responses``.  Nothing
    is sent before its first command.  Needs redis-py (:func:`.store_url` checks that
    it is installed).
    """
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(url.url, socket_timeout=timeout,
                                socket_connect_timeout=timeout,
                                retry=Retry(NoBackoff(), 0))


class RedisStore:
    """One budget's state in Redis, with the host's state file while the server is away.

    Args:
        url (StoreURL): The server.
        name (str): The state's name (:func:`~.store.state_name`).
        fallback (callable): ``fallback()`` opens the host's
            :class:`~.store.BudgetStore`, used while the server does not answer.
        lock_timeout (float): Seconds that tries of one change may take while
            other clients keep changing the key, before it gives up with
            :class:`~.store.Busy`.
        clock (callable or None): None (the default): the server's ``TIME``;
            tests inject a clock of their own.
        prefix (str): The key's prefix; default :data:`KEY_PREFIX` (a budget's).
        document (type): What the key holds (:data:`~.store.Document`); default
            the budget's :class:`~.state.State`.
        what (str): What the state is, as the warning names it.

    Raises:
        ImportError: redis-py is not installed.

    Nothing is sent to the server before the first :meth:`update` or
    :meth:`view` (a run's worker thread asks them, never its training thread).
    """

    def __init__(self, url: StoreURL, name: str, *, fallback: Callable[[], BudgetStore],
                 lock_timeout: float, clock: Optional[Callable[[], float]] = None,
                 prefix: str = KEY_PREFIX, document: Document = State,
                 what: str = "the shared Slack rate budget") -> None:
        import redis

        self.url = url
        self.key = prefix + name
        self._document = document
        self._what = what
        self._errors = (redis.RedisError, OSError)
        self._watch_error = redis.WatchError
        self._client = redis_client(url)
        self._open_fallback = fallback
        self._fallback: Optional[BudgetStore] = None
        self._lock_timeout = lock_timeout
        self._clock = clock
        self._guard = threading.Lock()
        self._away_until = 0.0  # time.monotonic() before which the server is not asked
        self._answered = False  # the server has answered once
        self._warned = False

    # -- where the state is now ----------------------------------------------------------
    @property
    def away(self) -> bool:
        """True while the server did not answer and the host's state file is used."""
        return self._away_until > 0.0

    @property
    def checks_pids(self) -> bool:
        """False while in Redis: runs count by their heartbeat only (a PID means nothing
        on another host, nor in another container of the same host name)."""
        return self.away

    @property
    def path(self) -> Optional[str]:
        """The host's state file while the server is away, else None."""
        return self._fallback.path if self.away and self._fallback is not None else None

    def where(self) -> str:
        """The server and key, as messages show it (no password)."""
        return f"{self.url.shown} key {self.key}"

    # -- the operations --------------------------------------------------------------------
    def update(self, fn: Change[_T]) -> _T:
        """``fn(state, now)``'s result; the state is written back if it says it changed.

        Raises:
            Busy: Other clients kept changing the key for ``lock_timeout`` seconds.
        """
        if self._use_server():
            try:
                return self._transaction(fn)
            except Busy:
                raise
            except self._errors as exc:
                self._lost(exc)
        return self._local().update(fn)

    def view(self, fn: Look[_T]) -> _T:
        """``fn(state, now)``'s result, on the state as the last change left it."""
        if self._use_server():
            try:
                with self._client.pipeline(transaction=False) as pipe:
                    pipe.time()
                    pipe.get(self.key)
                    server_time, raw = pipe.execute()
                self._back()
                return fn(self._document.from_json(raw or b""), self._now(server_time))
            except self._errors as exc:
                self._lost(exc)
        return self._local().view(fn)

    def ping(self) -> float:
        """Seconds one ``PING`` took (what ``chainer-slack-report check`` shows).

        Raises:
            redis.RedisError, OSError: The server did not answer as it should.
        """
        start = time.perf_counter()
        self._client.ping()
        return time.perf_counter() - start

    def _now(self, server_time) -> float:
        if self._clock is not None:
            return self._clock()
        seconds, microseconds = server_time
        return seconds + microseconds / 1e6

    def _transaction(self, fn: Change[_T]) -> _T:
        deadline = time.monotonic() + self._lock_timeout
        conflicts = 0
        with self._client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(self.key)
                    now = self._now(pipe.time())
                    state = self._document.from_json(pipe.get(self.key) or b"")
                    result, changed = fn(state, now)
                    if changed:
                        pipe.multi()
                        pipe.set(self.key, state.to_json(), ex=KEY_TTL)
                        pipe.execute()
                    else:
                        pipe.unwatch()
                    self._back()
                    return result
                except self._watch_error:  # another client changed the key: again
                    if time.monotonic() >= deadline:
                        raise Busy() from None
                    # Randomized exponential backoff (1 ms doubling up to 64 ms), so that
                    # many clients of one key do not keep retrying into each other.
                    conflicts += 1
                    time.sleep(random.uniform(0.0, _CONFLICT_BACKOFF * 2 ** min(conflicts, 6)))

    # -- the server lost and found ---------------------------------------------------------
    def _use_server(self) -> bool:
        away = self._away_until
        return not away or time.monotonic() >= away

    def _local(self) -> BudgetStore:
        with self._guard:
            if self._fallback is None:
                self._fallback = self._open_fallback()
            return self._fallback

    def _lost(self, exc: BaseException) -> None:
        with self._guard:
            was_away = self.away
            self._away_until = time.monotonic() + RETRY_AFTER
            first, self._warned = not self._warned, True
        what = f"{type(exc).__name__}: {mask(str(exc))}"
        if was_away:
            logger.debug("Redis at %s still does not answer (%s)", self.url.where, what)
        if not first:
            if not was_away:
                logger.warning("Redis at %s lost again (%s); this host's state file meanwhile",
                               self.url.where, what)
            return
        when = "lost" if self._answered else "not reachable"
        warnings.warn(
            f"chainer_slack_report: {self._what}'s Redis at {self.url.where} "
            f"is {when} ({what}); meanwhile this host's runs share it in its state "
            f"file and adapt to Slack's 429s, and it is tried again every {RETRY_AFTER:g} s",
            SlackReportWarning, stacklevel=2)

    def _back(self) -> None:
        if self._answered and not self._away_until:
            return
        with self._guard:
            if self._away_until:
                logger.info("Redis at %s answers again: the budget is shared through it",
                            self.url.where)
            self._away_until = 0.0
            self._answered = True
