"""The "lost host" notice: a thread reply Slack posts by itself unless the run moves it.

While a run lives, :class:`LostNotice` keeps one thread reply scheduled with
``chat.scheduleMessage`` about ``lost_after`` seconds ahead, and moves it
forward (a new one, then ``chat.deleteScheduledMessage`` of the old) before it
fires — whether or not new rows came, so a long epoch is not a lost run.  At
every end the run reports itself, :meth:`LostNotice.cancel` deletes it; a delete
that fails (a 503, a dropped connection, a 429) is retried with backoff, first
in the rate budget (:meth:`LostNotice.retry_delete`), until it succeeds, until
Slack says the notice is gone, or until its ``post_at`` has passed.  A notice
that could not be deleted gets a thread reply saying the run reported its end
(:meth:`LostNotice.give_up`), so the mention that may follow is not believed.  If
nothing of the run is left to move it (the host lost power, the network split,
the run and its watchdog were killed together), Slack posts it, and the reply
notifies ``finish_mentions``.

Many runs in one channel: each notice is moved ``lost_after / 2`` before its
``post_at`` to ``lost_after`` ahead, so it keeps its place in a cycle of
``lost_after / 2`` seconds; the first notice of a message takes a place of its
own (``post_at`` between ``lost_after / 2`` and ``lost_after`` ahead, from a
hash of the message's ``ts``), so runs started together spread over the cycle
instead of all asking for one 5-minute window.  With the default 900 s the
pending notices of a channel post within the next 450 s, of which one window
holds about two thirds (32 runs measured: at most 28 in one window); with
``lost_after`` of 600 s or less every pending notice counts in one window and 30
is the most.
Scheduling a notice goes last in the channel's ``chat.postMessage`` budget
(:attr:`~.budget.Rank.NOTICE`), after every run's first post.

Slack's rules (the ``chat.scheduleMessage`` and ``chat.deleteScheduledMessage``
method pages): ``post_at`` is a Unix time in the future (``time_in_past``), at
most 120 days ahead (``time_too_far``); at most 30 messages may be scheduled to
post within one 5-minute window of a channel (``restricted_too_many``: this
notice then goes 5 minutes later, until a window has room; the old notice of a
move stays pending meanwhile, and counts, until its delete); ``chat.scheduleMessage`` follows
``chat.postMessage``'s rate limits, ``chat.deleteScheduledMessage`` is Tier 3;
both need the ``chat:write`` scope.  A scheduled message that was sent or
deleted answers ``invalid_scheduled_message_id`` to a delete.
"""

from __future__ import annotations

import logging
import time
import zlib
from typing import Callable, Dict, List, Optional

from ..warning import UserSite, warn
from .slack_errors import Action, classify_exception

__all__ = ["LostNotice", "MIN_LOST_AFTER", "MAX_LOST_AFTER", "most_in_a_window"]

logger = logging.getLogger(__name__)

#: Seconds: the shortest ``lost_after`` (a notice is moved every ``lost_after / 2``).
MIN_LOST_AFTER = 60.0
#: Seconds: ``chat.scheduleMessage`` takes ``post_at`` at most 120 days ahead.
MAX_LOST_AFTER = 120 * 86400.0
_WINDOW = 300.0  # seconds: Slack's window of at most 30 scheduled messages per channel
_WINDOW_TRIES = 6  # later windows tried after restricted_too_many
_RETRY = 30.0  # seconds before a failed schedule is tried again
_DELETE_BACKOFF = (1.0, 30.0)  # seconds: first and longest wait between two delete tries


def most_in_a_window(post_ats: List[int], window: float = _WINDOW) -> int:
    """The most of ``post_ats`` (Unix times, seconds) within one ``window`` seconds: the
    count Slack holds to 30 per channel (``restricted_too_many``), for any window start."""
    times = sorted(post_ats)
    most, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= window:
            first += 1
        most = max(most, last - first + 1)
    return most


class LostNotice:
    """One run's scheduled "lost" thread reply.

    The first notice posts between ``lost_after / 2`` and ``lost_after`` after it is
    scheduled, each moved one ``lost_after`` after its move; a move is due
    ``lost_after / 2`` before the pending one posts.  A notice that meets a full
    window (``restricted_too_many``) asks for the next one (up to 6, then one
    warning), also when the rate budget holds the next try; it then posts up to
    5 minutes later per full window.

    Args:
        client (slack_sdk.WebClient): Used from one thread only.
        channel_id (str): The channel ID of the run's message.
        thread_ts (str): The run's message's ``ts``: the notice is a reply to it.
        lost_after (float): Seconds of silence after which Slack posts it.
        text (callable): ``text(now) -> str``: the notice's mrkdwn, built when
            it is (re)scheduled; ``now`` is the Unix time of the scheduling.
        budget (RunBudget or None): The shared rate budget to ask first.
        clock (callable): Unix time in seconds (tests inject one).
        site (UserSite or None): The user's line its warnings point at
            (:func:`~chainer_slack_report.warning.user_site`).
    """

    def __init__(self, client, channel_id: str, thread_ts: str, *, lost_after: float,
                 text: Callable[[float], str], budget=None, site: Optional[UserSite] = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._site = site
        self.channel_id = channel_id
        self.thread_ts = thread_ts
        self.lost_after = float(lost_after)
        self._text = text
        self._budget = budget
        self._clock = clock
        self.scheduled_id: Optional[str] = None  #: the pending notice's scheduled_message_id
        self.post_at: Optional[int] = None  #: when Slack would post it (Unix time)
        self.moves = 0  #: notices scheduled so far
        self._next_try = 0.0
        self._full = 0  # full 5-minute windows met by the schedule being tried
        # The message's place in the channel's cycle of moves, in [0.1, 1): see the class.
        self._phase = 0.1 + 0.9 * (zlib.crc32(f"{channel_id}/{thread_ts}".encode()) / 2 ** 32)
        self._stopped: Optional[str] = None  # an error that no later call can fix
        self._cancelled = False  # the run reported its end
        #: True once a notice that should have been deleted was given up (and corrected).
        self.given_up = False
        # Notices to delete whose delete failed (scheduled_message_id -> post_at): retried.
        self._stale: Dict[str, int] = {}
        self._delete_at = 0.0  # when to try deleting them again
        self._delete_wait = _DELETE_BACKOFF[0]
        self._delete_error = ""  # why the last delete failed

    def keep(self) -> float:
        """Schedule the notice, or move it if half of ``lost_after`` has passed since.

        Returns:
            float: Seconds until it needs this call again.  Never raises.
        """
        now = self._clock()
        if self._stopped:
            return self.lost_after
        due = self._due()
        if now < due:
            retry = self.retry_delete()
            return due - now if retry is None else min(retry, due - now)
        old, old_post_at = self.scheduled_id, self.post_at
        if not self._schedule(now):
            return max(0.001, self._due() - now)
        if old is not None:
            self._moved(old, old_post_at)
        retry = self.retry_delete()
        wait = max(0.001, self._due() - now)
        return wait if retry is None else min(retry, wait)

    def _due(self) -> float:
        """When the next schedule is due: a retry's time, or (a notice pending) half of
        ``lost_after`` before its ``post_at``, so that a notice moved to a later window
        keeps its place in the channel's cycle."""
        if self.scheduled_id is None:
            return self._next_try
        return max((self.post_at or 0) - self.lost_after / 2, self._next_try)

    def cancel(self) -> bool:
        """Delete the pending notice (the run reported its end itself): the first try.

        Returns:
            bool: True if none is left pending.  False: a delete failed and is
            retried by :meth:`retry_delete` (or :meth:`finish`).  Never raises.
        """
        self._stopped = self._stopped or "cancelled"
        self._cancelled = True
        if self.scheduled_id is not None:
            self._stale[self.scheduled_id] = self.post_at or 0
            self.scheduled_id = None
            self._delete_at = 0.0  # the first try is now
        return self.retry_delete() is None and not self.given_up

    @property
    def settled(self) -> bool:
        """True when no notice that should be deleted can still be posted by mistake."""
        return not self._stale

    def retry_delete(self) -> Optional[float]:
        """Try again to delete the notices whose delete failed (a moved one, or the one
        :meth:`cancel` deleted), if it is time.

        Waits double after each failure (1 s up to 30 s; at least a 429's
        ``Retry-After``); the delete goes first in the rate budget.  A notice
        whose ``post_at`` passed before it could be deleted, or that Slack
        refuses for good to delete, gets the correction of :meth:`give_up`.

        Returns:
            float or None: Seconds until the next try; None once settled.  Never raises.
        """
        now = self._clock()
        fired = [sid for sid, post_at in self._stale.items() if post_at and now > post_at]
        if fired:
            self.give_up(f"{self._delete_error or 'no answer'} until it was posted", fired)
        if not self._stale:
            return None
        if now < self._delete_at:
            return self._delete_at - now
        for scheduled_id in list(self._stale):
            verdict = self._delete(scheduled_id)
            if verdict is None:
                del self._stale[scheduled_id]
                continue
            self._delete_error = verdict.error
            if verdict.action is Action.STOP:
                self.give_up(verdict.error, [scheduled_id])
                continue
            wait = self._delete_wait
            if verdict.action is Action.RATE_LIMITED:
                wait = max(wait, verdict.retry_after or 0.0)
            self._delete_wait = min(_DELETE_BACKOFF[1], self._delete_wait * 2)
            self._delete_at = now + wait
            logger.info("chat.deleteScheduledMessage failed (%s); trying again in %.1f s",
                        verdict.error, wait)
            return wait
        self._delete_wait = _DELETE_BACKOFF[0]
        return None

    def give_up(self, reason: str, scheduled_ids: Optional[List[str]] = None) -> None:
        """Stop deleting notices (default: all) that could not be deleted, and post a
        thread reply at once saying the run was not lost, so the mention that Slack
        may post is not believed.  One warning.  Never raises."""
        ids = list(self._stale) if scheduled_ids is None else scheduled_ids
        posts = [self._stale.pop(sid, 0) for sid in ids]
        if not ids:
            return
        self.given_up = True
        warn(f"SlackReport could not delete the scheduled 'lost' notice ({reason}); a "
             f"thread reply says the run was not lost", site=self._site)
        if not self._may("chat.postMessage", priority=True):
            logger.info("posting the correction over the spent rate budget")
        at = int(min(p for p in posts if p) if any(posts) else self._clock())
        fallback = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(at))
        ended = "reported its end" if self._cancelled else "is alive"
        text = (f":white_check_mark: This run {ended}: a \"No news\" reply posted here "
                f"at <!date^{at}^{{date_short_pretty}} {{time}}|{fallback}> is a notice "
                f"Slack could not be made to delete ({reason}); the run was not lost.")
        try:
            self._client.chat_postMessage(channel=self.channel_id, thread_ts=self.thread_ts,
                                          text=text)
        except Exception as exc:  # noqa: BLE001 - SlackApiError, or no answer
            logger.info("the correction reply failed too (%s)",
                        classify_exception(exc).error)

    def finish(self, deadline: float, sleep: Callable[[float], object] = time.sleep) -> bool:
        """Retry deleting until settled or until ``deadline`` (then :meth:`give_up`).

        Args:
            deadline: Time of the notice's clock (Unix seconds) to stop at.
            sleep: ``sleep(seconds)``; a true return value stops early (as
                ``threading.Event.wait`` does once the event is set).

        Returns:
            bool: True if it was settled before the deadline.
        """
        while True:
            wait = self.retry_delete()
            if wait is None:
                return True
            if self._clock() + wait > deadline or sleep(wait):
                self.give_up(f"{self._delete_error}; no time left to try again")
                return False

    # -- Slack calls -------------------------------------------------------------------
    def _post_at(self, now: float) -> int:
        """The ``post_at`` to ask for now, before any full window: ``lost_after`` ahead
        for a move; for the first notice, between ``lost_after / 2`` and ``lost_after``
        ahead, at the message's own place in a ``lost_after / 2`` cycle (see the class)."""
        if self.moves:
            return int(now + self.lost_after) + 1
        return int(now + self.lost_after / 2 * (1.0 + self._phase)) + 1

    def _schedule(self, now: float) -> bool:
        post_at = self._post_at(now) + int(_WINDOW) * self._full
        text = self._text(now)
        while self._full < _WINDOW_TRIES:
            wait = self._ask("chat.scheduleMessage")
            if wait > 0:  # the next try asks for the same window (or a later one)
                self._next_try = now + wait
                return False
            try:
                response = self._client.chat_scheduleMessage(
                    channel=self.channel_id, thread_ts=self.thread_ts, post_at=post_at,
                    text=text)
            except Exception as exc:  # noqa: BLE001 - SlackApiError, or no answer
                verdict = classify_exception(exc)
                if verdict.error == "restricted_too_many":  # that window is full
                    logger.info("30 messages are scheduled within 5 minutes of %d in "
                                "channel %s; the notice goes 5 minutes later", post_at,
                                self.channel_id)
                    self._full += 1
                    post_at += int(_WINDOW)
                    continue
                self._failed("chat.scheduleMessage", verdict, now)
                return False
            self.scheduled_id = response.get("scheduled_message_id")
            self.post_at = int(response.get("post_at") or post_at)
            self._full = 0
            self.moves += 1
            return True
        self._full = 0
        self._failed_text(f"channel {self.channel_id} has 30 messages scheduled in each of "
                          f"the next {_WINDOW_TRIES} five-minute windows", now)
        return False

    def _delete(self, scheduled_id: str):
        """One ``chat.deleteScheduledMessage``, first in the budget: None if the notice is
        gone (deleted now, or posted/deleted before), else the failure's verdict."""
        if not self._may("chat.deleteScheduledMessage", priority=True):
            # A notice left pending would post a false "lost" reply: delete it anyway.
            logger.info("deleting scheduled notice %s over the spent rate budget",
                        scheduled_id)
        try:
            self._client.chat_deleteScheduledMessage(channel=self.channel_id,
                                                     scheduled_message_id=scheduled_id)
        except Exception as exc:  # noqa: BLE001 - SlackApiError, or no answer
            verdict = classify_exception(exc)
            if verdict.error == "invalid_scheduled_message_id":  # already posted or deleted
                return None
            if verdict.action is Action.RATE_LIMITED and self._budget is not None:
                self._budget.rate_limited("chat.deleteScheduledMessage", self.channel_id,
                                          verdict.retry_after or 0.0)
            return verdict
        return None

    def _moved(self, old: str, post_at: Optional[int]) -> None:
        """Delete the notice a move replaced; a failed delete is retried with
        :meth:`retry_delete` before that notice's ``post_at``."""
        self._stale[old] = post_at or 0
        self._delete_at = 0.0
        self.retry_delete()

    def _may(self, method: str, priority: bool = False) -> bool:
        """Ask the shared budget for one call of ``method`` (True: go)."""
        return self._ask(method, priority) <= 0

    def _ask(self, method: str, priority: bool = False) -> float:
        """Ask the shared budget for one call of ``method``: 0.0 (go), or seconds to wait."""
        if self._budget is None:
            return 0.0
        return self._budget.wait(method, self.channel_id, priority=priority)

    def _failed(self, method: str, verdict, now: float) -> None:
        if verdict.action is Action.STOP:
            self._stopped = verdict.error
            warn(f"SlackReport cannot schedule the 'lost' notice in channel "
                 f"{self.channel_id} ({method}: {verdict.error}): {verdict.hint}. The run is "
                 f"reported as before, but a lost host will not be announced.",
                 site=self._site)
            return
        if verdict.action is Action.RATE_LIMITED and self._budget is not None:
            self._budget.rate_limited(method, self.channel_id, verdict.retry_after or 0.0)
        delay = (verdict.retry_after if verdict.action is Action.RATE_LIMITED
                 else min(_RETRY, self.lost_after / 4))  # a failed move: before it posts
        self._next_try = now + (delay or _RETRY)
        logger.info("%s failed (%s); trying again in %.0f s", method, verdict.error, delay)

    def _failed_text(self, reason: str, now: float) -> None:
        warn(f"SlackReport cannot schedule the 'lost' notice: {reason}; trying again later",
             site=self._site)
        self._next_try = now + _RETRY

