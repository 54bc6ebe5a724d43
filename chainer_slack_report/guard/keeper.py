"""The in-process guard: keeps the lost-host notice moving when no watchdog process does.

Used when ``watchdog=False``: the training process keeps its own
:class:`~chainer_slack_report.transport.lost_notice.LostNotice` from a daemon
thread (a death of the whole process then leaves the notice to be posted by
Slack, which is what it is for).
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import Callable, Optional

from ..transport.lost_notice import LostNotice
from ..transport.notice_deletion import finish_deletion
from .base import Guard

__all__ = ["NoticeKeeper", "KeeperGuard"]

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


class KeeperGuard(Guard):
    """The in-process guard (``watchdog=False``): a :class:`NoticeKeeper` for each message
    the run posts (a continuation gets its own notice), stopped at :meth:`done`.

    Args:
        client (slack_sdk.WebClient): Used from the keeper's thread.
        budget (RunBudget or None): The shared rate budget.
        lost_after (float): Seconds (see :class:`~.lost_notice.LostNotice`).
        text (callable): ``text(now) -> str``, the notice's mrkdwn.
        join_timeout (float): Seconds :meth:`done` waits for a call in flight.
        exit_timeout (float): Seconds the interpreter waits at exit for a notice whose
            first delete failed (it is retried in the background meanwhile).
        site (UserSite or None): The user's line the notices' warnings point at.
    """

    def __init__(self, client, *, budget, lost_after: float, text: Callable[[float], str],
                 join_timeout: float, exit_timeout: float, site=None) -> None:
        # notice(channel_id, ts) -> LostNotice: a notice for each message the run posts
        self._notice = functools.partial(LostNotice, client, lost_after=lost_after, text=text,
                                         budget=budget, site=site)
        self._join_timeout = join_timeout
        self._exit_timeout = exit_timeout
        self._keeper: Optional[NoticeKeeper] = None
        self._ending = False  # no new notice once the run ended
        self._lock = threading.Lock()

    def posted(self, channel_id: str, ts: str) -> None:
        with self._lock:
            if self._ending:
                return
            old = self._keeper
            self._keeper = NoticeKeeper(self._notice(channel_id, ts),
                                        join_timeout=self._join_timeout)
        if old is not None:
            self._stop(old)

    def ended(self, status: str, detail: Optional[str], elapsed: float) -> None:
        with self._lock:
            self._ending = True

    def done(self, wait: float = 0.0) -> bool:
        with self._lock:
            self._ending = True
            keeper, self._keeper = self._keeper, None
        if keeper is not None:
            self._stop(keeper)
        return keeper is not None

    def _stop(self, keeper: NoticeKeeper) -> None:
        """Delete the keeper's notice: the first try now; if it fails, go on trying in
        the background (waited for at exit)."""
        keeper.stop()
        if not keeper.notice.settled:
            finish_deletion(keeper.notice, exit_timeout=self._exit_timeout)
