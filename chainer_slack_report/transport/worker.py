"""A background thread that delivers the newest state, never the backlog.

:class:`LatestWorker` knows nothing of Slack (as tqdm's ``MonoWorker`` is
apart from ``tqdm/contrib/slack.py``).  Producers only say "there is news"
(:meth:`LatestWorker.touch`, O(1), never blocks on I/O); the thread calls
``send(final=False)`` when there is news and ``ready_at`` allows, so news that
arrives faster than it can be sent is coalesced into one send of the newest
state.  After :meth:`LatestWorker.close` it calls ``send(final=True)`` until
that succeeds, the sender raises :class:`StopSending`, or the delivery is
abandoned.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Optional

__all__ = ["LatestWorker", "StopSending"]

logger = logging.getLogger(__name__)


class StopSending(Exception):
    """Raised by ``send`` when no later attempt can succeed: the worker ends."""


class LatestWorker:
    """One daemon thread that keeps delivering the newest state.

    Args:
        send (callable): ``send(final: bool) -> bool`` builds and delivers the
            newest state; False means "not delivered, try again once
            ``ready_at`` allows"; raising :class:`StopSending` ends the worker.
        ready_at (callable): ``ready_at(final: bool) -> float``, the
            ``time.monotonic()`` time before which ``send`` must not be called.
        refresh_after (float or None): Seconds after the last send at which the
            state counts as news even without :meth:`touch` (a clock shown in
            it moves); None: only :meth:`touch` makes news.
        name (str): Names the thread.
        on_end (callable or None): ``on_end()``, called once when the worker
            has ended (delivered, stopped or abandoned), on its thread; it
            must not raise.
    """

    def __init__(self, send: Callable[[bool], bool], ready_at: Callable[[bool], float], *,
                 refresh_after: Optional[float] = None, name: str = "worker",
                 on_end: Optional[Callable[[], None]] = None) -> None:
        self._send = send
        self._on_end = on_end
        self._ready_at = ready_at
        self._refresh_after = refresh_after
        self._name = name
        self._cond = threading.Condition()
        self._news = True  # the first state is news
        self._closing = False
        self._abandoned = False
        self._last_send = time.monotonic()
        self._delivered = threading.Event()  # the final state was delivered
        self._ended = threading.Event()  # the thread has ended
        self._thread: Optional[threading.Thread] = None
        self.stopped: Optional[StopSending] = None  #: why the worker stopped early

    # -- producer side -------------------------------------------------------------
    def start(self) -> None:
        """Start the thread (once); it sends the first state as soon as allowed."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True, name=self._name)
            self._thread.start()

    def touch(self) -> None:
        """There is newer state to deliver.  Never blocks on I/O.

        Only the first touch after a send wakes the thread: while news is
        pending the thread already sleeps until it may send, so waking it for
        every row would only cost the caller a GIL hand-over each time.
        """
        if self._news:  # pending already: the thread takes it (it reads news under the lock)
            return
        with self._cond:
            if not self._news:
                self._news = True
                self._cond.notify()

    def close(self) -> None:
        """No more intermediate sends: deliver the final state from now on."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        if self._thread is None:
            self._end()

    def wait(self, timeout: Optional[float]) -> bool:
        """Wait up to ``timeout`` seconds for the final delivery; True if delivered."""
        self._ended.wait(timeout)
        return self._delivered.is_set()

    def abandon(self) -> None:
        """Give up the final delivery (the attempt in flight still completes)."""
        with self._cond:
            self._abandoned = True
            self._cond.notify()

    @property
    def delivered(self) -> bool:
        """True once the final state was delivered."""
        return self._delivered.is_set()

    @property
    def ended(self) -> bool:
        """True once the thread has ended (delivered, stopped or abandoned)."""
        return self._ended.is_set()

    @property
    def closing(self) -> bool:
        return self._closing

    # -- the thread ----------------------------------------------------------------
    def _run(self) -> None:
        try:
            while self._wait_for_news():
                if not self._call(final=False):
                    self.touch()  # not delivered: still news
            while self._wait_until(lambda: self._ready_at(True)):
                if self._call(final=True):
                    self._delivered.set()
                    break
        except StopSending as stop:
            self.stopped = stop
        except Exception:  # noqa: BLE001 - the last line of defence; logged, never raised
            logger.exception("%s stopped", self._name)
            self.stopped = StopSending("the worker crashed")
        finally:
            self._end()

    def _end(self) -> None:
        if self._ended.is_set():
            return
        try:
            if self._on_end is not None:
                self._on_end()
        except Exception:  # noqa: BLE001 - logged, never raised
            logger.exception("%s: on_end failed", self._name)
        finally:
            self._ended.set()

    def _call(self, final: bool) -> bool:
        self._last_send = time.monotonic()
        return self._send(final)

    def _wait_for_news(self) -> bool:
        """Block until news may be sent (True) or the worker is closing (False)."""
        with self._cond:
            while not self._closing:
                now = time.monotonic()
                news = self._news or (self._refresh_after is not None and
                                      now - self._last_send >= self._refresh_after)
                if news:
                    delay = self._ready_at(False) - now
                    if delay <= 0:
                        self._news = False  # taken: a touch() from now on is news again
                        return True
                elif self._refresh_after is not None:
                    delay = self._last_send + self._refresh_after - now
                else:
                    delay = None
                self._cond.wait(delay)
            return False

    def _wait_until(self, ready_at: Callable[[], float]) -> bool:
        """Sleep until ``ready_at()`` (True) unless the delivery is abandoned (False)."""
        with self._cond:
            while not self._abandoned:
                delay = ready_at() - time.monotonic()
                if delay <= 0:
                    return True
                self._cond.wait(delay)
            return False
