"""Final reports still on their way when the run is over: :data:`FINAL_DELIVERIES`.

A final report that Slack has not taken within ``flush_timeout`` (a long
``Retry-After``, a slow Slack) goes on being delivered in the background; the
interpreter waits for it at exit, for at most the report's ``exit_timeout``.
"""

from __future__ import annotations

import atexit
import sys
import threading
import time
from typing import List, Optional, Protocol

__all__ = ["FinalDeliveries", "FINAL_DELIVERIES", "wait_for_final_reports"]


class Delivery(Protocol):
    """What :class:`FinalDeliveries` needs of a report."""

    exit_timeout: float  #: seconds the interpreter waits for it at exit

    @property
    def delivered(self) -> bool: ...

    def settle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds; True if delivered, else give it up."""


class FinalDeliveries:
    """The final reports being delivered in the background, waited for at exit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: List[Delivery] = []
        self._registered = False

    def add(self, delivery: Delivery) -> None:
        """Wait for ``delivery`` at exit (and in :meth:`wait`)."""
        with self._lock:
            if not self._registered:
                atexit.register(self._at_exit)
                self._registered = True
            self._waiting.append(delivery)

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Wait for every final report added so far — and for those added while it waits
        (a report whose delivery ends hands the board's last edit on) — and give up those
        not delivered in time.

        Args:
            timeout: Seconds to wait at most, from the call; None: each report's
                ``exit_timeout``.

        Returns:
            bool: True if every one reached Slack.
        """
        start = time.monotonic()
        delivered = True
        while True:
            with self._lock:
                waiting, self._waiting = self._waiting, []
            if not waiting:
                return delivered
            for delivery in waiting:
                limit = delivery.exit_timeout if timeout is None else timeout
                delivered &= delivery.settle(max(0.0, start + limit - time.monotonic()))

    def _at_exit(self) -> None:
        with self._lock:
            pending = [d for d in self._waiting if not d.delivered]
        if pending:
            longest = max(d.exit_timeout for d in pending)
            sys.stderr.write(f"chainer_slack_report: waiting up to {longest:g} s for Slack to "
                             f"take the final report of {len(pending)} run(s) "
                             f"(Ctrl-C skips this)\n")
            sys.stderr.flush()
        try:
            self.wait()
        except KeyboardInterrupt:
            self.wait(timeout=0)


#: The final reports of this process still on their way.
FINAL_DELIVERIES = FinalDeliveries()


def wait_for_final_reports(timeout: Optional[float] = None) -> bool:
    """Wait for final reports still being delivered in the background.

    A final report that Slack did not take within ``flush_timeout`` (e.g. a
    long ``Retry-After``) is delivered in the background.  At exit the
    interpreter calls this with each report's ``exit_timeout``; call it
    yourself to wait earlier (e.g. at the end of a notebook cell).  Reports
    not delivered in time are given up: their final text goes to stderr.

    Args:
        timeout (float or None): Seconds to wait at most; None: each report's
            ``exit_timeout``.

    Returns:
        bool: True if every final report reached Slack.
    """
    return FINAL_DELIVERIES.wait(timeout)
