"""The in-process guard: keeps the lost-host notice moving when no watchdog process does.

Used when ``watchdog=False``: the training process keeps its own
:class:`~chainer_slack_report.transport.lost_notice.LostNotice` from a daemon
thread (a death of the whole process then leaves the notice to be posted by
Slack, which is what it is for).
"""

from __future__ import annotations

import logging
import threading

from ..transport.lost_notice import LostNotice

__all__ = ["NoticeKeeper"]

logger = logging.getLogger(__name__)


class NoticeKeeper:
    """Keeps a :class:`LostNotice` moving from a daemon thread of the training process
    (when no watchdog process does it), until :meth:`stop`.

    Args:
        notice (LostNotice): Used from the keeper's thread only, until :meth:`stop`.
        join_timeout (float): Seconds :meth:`stop` waits for a call in flight.
    """

    def __init__(self, notice: LostNotice, *, join_timeout: float = 10.0) -> None:
        self.notice = notice
        self._join_timeout = join_timeout
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="SlackReport-lost-notice",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.notice.keep()):
                pass
        except Exception:  # noqa: BLE001 - the last line of defence; logged, never raised
            logger.exception("the lost-host notice keeper stopped")

    def stop(self) -> None:
        """The run reported its end: stop moving the notice and delete it."""
        self._stop.set()
        self._thread.join(self._join_timeout)
        self.notice.cancel()
