"""Deleting a lost-host notice after the run ended, in the training process.

Without a watchdog process the training process deletes its notice itself
(:class:`~chainer_slack_report.guard.keeper.KeeperGuard`).  When
that first ``chat.deleteScheduledMessage`` fails (a 503, a dropped
connection, a 429), :func:`finish_deletion` goes on retrying it in a daemon
thread (:meth:`~chainer_slack_report.transport.lost_notice.LostNotice.finish`),
and the interpreter waits for it at exit like a final report still on its way
(:data:`~chainer_slack_report.transport.deliveries.FINAL_DELIVERIES`, at most
``exit_timeout`` seconds); if it is cut short, the notice's thread gets the
reply saying the run was not lost.
"""

from __future__ import annotations

import threading

from .deliveries import FINAL_DELIVERIES

__all__ = ["NoticeDeletion", "finish_deletion"]

_LAST_CALL = 60.0  # seconds: at most one HTTP call in flight, then the correction reply


class NoticeDeletion:
    """Retries deleting one notice in a daemon thread until it is settled.

    Args:
        notice (LostNotice): Cancelled already; used from this thread only.
        exit_timeout (float): Seconds the interpreter waits for it at exit.
    """

    def __init__(self, notice, *, exit_timeout: float) -> None:
        self.notice = notice
        self.exit_timeout = exit_timeout
        self._stop = threading.Event()
        self._deleted = False
        self._thread = threading.Thread(target=self._run, name="SlackReport-notice-delete",
                                        daemon=True)
        self._thread.start()

    @property
    def delivered(self) -> bool:
        """True once the notice is deleted (or corrected)."""
        return not self._thread.is_alive()

    def settle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds; then give the delete up (the correction reply
        is posted).  True if it was deleted in time."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join(_LAST_CALL)
        return self._deleted

    def _run(self) -> None:
        self._deleted = self.notice.finish(float("inf"), sleep=self._stop.wait)


def finish_deletion(notice, *, exit_timeout: float) -> None:
    """Go on deleting ``notice`` (whose first delete failed) in the background."""
    FINAL_DELIVERIES.add(NoticeDeletion(notice, exit_timeout=exit_timeout))
