"""The "lost host" notice: a thread reply Slack posts by itself unless the run moves it.

While a run lives, :class:`LostNotice` keeps one thread reply scheduled with
``chat.scheduleMessage`` about ``lost_after`` seconds ahead, and moves it
forward (a new one, then ``chat.deleteScheduledMessage`` of the old) before it
fires — whether or not new rows came, so a long epoch is not a lost run.  At
every end the run reports itself, :meth:`LostNotice.cancel` deletes it.  If
nothing of the run is left to move it (the host lost power, the network split,
the run and its watchdog were killed together), Slack posts it, and the reply
notifies ``finish_mentions``.

Slack's rules (the ``chat.scheduleMessage`` and ``chat.deleteScheduledMessage``
method pages): ``post_at`` is a Unix time in the future (``time_in_past``), at
most 120 days ahead (``time_too_far``); at most 30 messages may be scheduled to
post within one 5-minute window of a channel (``restricted_too_many``: this
notice then moves to a later window); ``chat.scheduleMessage`` follows
``chat.postMessage``'s rate limits, ``chat.deleteScheduledMessage`` is Tier 3;
both need the ``chat:write`` scope.  A scheduled message that was sent or
deleted answers ``invalid_scheduled_message_id`` to a delete.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Optional

from ..warning import warn
from .slack_errors import Action, classify_exception

__all__ = ["LostNotice", "MIN_LOST_AFTER", "MAX_LOST_AFTER"]

logger = logging.getLogger(__name__)

#: Seconds: the shortest ``lost_after`` (a notice is moved every ``lost_after / 2``).
MIN_LOST_AFTER = 60.0
#: Seconds: ``chat.scheduleMessage`` takes ``post_at`` at most 120 days ahead.
MAX_LOST_AFTER = 120 * 86400.0
_WINDOW = 300.0  # seconds: Slack's window of at most 30 scheduled messages per channel
_WINDOW_TRIES = 6  # later windows tried after restricted_too_many
_RETRY = 30.0  # seconds before a failed schedule is tried again


class LostNotice:
    """One run's scheduled "lost" thread reply.

    Args:
        client (slack_sdk.WebClient): Used from one thread only.
        channel_id (str): The channel ID of the run's message.
        thread_ts (str): The run's message's ``ts``: the notice is a reply to it.
        lost_after (float): Seconds of silence after which Slack posts it.
        text (callable): ``text(now) -> str``: the notice's mrkdwn, built when
            it is (re)scheduled; ``now`` is the Unix time of the scheduling.
        budget (RunBudget or None): The shared rate budget to ask first.
        clock (callable): Unix time in seconds (tests inject one).
    """

    def __init__(self, client, channel_id: str, thread_ts: str, *, lost_after: float,
                 text: Callable[[float], str], budget=None,
                 clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self.channel_id = channel_id
        self.thread_ts = thread_ts
        self.lost_after = float(lost_after)
        self._text = text
        self._budget = budget
        self._clock = clock
        self.scheduled_id: Optional[str] = None  #: the pending notice's scheduled_message_id
        self.post_at: Optional[int] = None  #: when Slack would post it (Unix time)
        self.moves = 0  #: notices scheduled so far
        self._scheduled_at = 0.0
        self._next_try = 0.0
        self._stopped: Optional[str] = None  # an error that no later call can fix

    def keep(self) -> float:
        """Schedule the notice, or move it if half of ``lost_after`` has passed since.

        Returns:
            float: Seconds until it needs this call again.  Never raises.
        """
        now = self._clock()
        if self._stopped:
            return self.lost_after
        due = (self._next_try if self.scheduled_id is None
               else self._scheduled_at + self.lost_after / 2)
        if now < due:
            return due - now
        old = self.scheduled_id
        if not self._schedule(now):
            return max(0.001, self._next_try - now)
        if old is not None:
            self._delete(old)
        return self.lost_after / 2

    def cancel(self) -> bool:
        """Delete the pending notice (the run reported its end itself).  True if none is
        left pending.  Never raises."""
        old, self.scheduled_id = self.scheduled_id, None
        self._stopped = self._stopped or "cancelled"
        return old is None or self._delete(old)

    # -- Slack calls -------------------------------------------------------------------
    def _schedule(self, now: float) -> bool:
        post_at = int(now + self.lost_after) + 1
        text = self._text(now)
        for _ in range(_WINDOW_TRIES):
            if not self._may("chat.scheduleMessage"):
                self._next_try = now + 1.0
                return False
            try:
                response = self._client.chat_scheduleMessage(
                    channel=self.channel_id, thread_ts=self.thread_ts, post_at=post_at,
                    text=text)
            except Exception as exc:  # noqa: BLE001 - SlackApiError, or no answer
                verdict = classify_exception(exc)
                if verdict.error == "restricted_too_many":  # that window is full
                    post_at += int(_WINDOW)
                    continue
                self._failed("chat.scheduleMessage", verdict, now)
                return False
            self.scheduled_id = response.get("scheduled_message_id")
            self.post_at = int(response.get("post_at") or post_at)
            self._scheduled_at = now
            self.moves += 1
            return True
        self._failed_text(f"channel {self.channel_id} has 30 messages scheduled in each of "
                          f"the next {_WINDOW_TRIES} five-minute windows", now)
        return False

    def _delete(self, scheduled_id: str) -> bool:
        if not self._may("chat.deleteScheduledMessage", priority=True):
            # A notice left pending would post a false "lost" reply: delete it anyway.
            logger.info("deleting scheduled notice %s over the spent rate budget",
                        scheduled_id)
        try:
            self._client.chat_deleteScheduledMessage(channel=self.channel_id,
                                                     scheduled_message_id=scheduled_id)
        except Exception as exc:  # noqa: BLE001 - SlackApiError, or no answer
            error = classify_exception(exc).error
            if error == "invalid_scheduled_message_id":  # already posted or deleted
                return True
            warn(f"SlackReport could not delete the scheduled 'lost' notice ({error}); "
                 f"Slack will post it at {self.post_at}")
            return False
        return True

    def _may(self, method: str, priority: bool = False) -> bool:
        """Ask the shared budget for one call of ``method`` (True: go)."""
        if self._budget is None:
            return True
        return self._budget.wait(method, self.channel_id, priority=priority) <= 0

    def _failed(self, method: str, verdict, now: float) -> None:
        if verdict.action is Action.STOP:
            self._stopped = verdict.error
            warn(f"SlackReport cannot schedule the 'lost' notice ({method}: {verdict.error}): "
                 f"{verdict.hint}. The run is reported as before, but a lost host will not be "
                 f"announced.")
            return
        if verdict.action is Action.RATE_LIMITED and self._budget is not None:
            self._budget.rate_limited(method, self.channel_id, verdict.retry_after or 0.0)
        delay = verdict.retry_after if verdict.action is Action.RATE_LIMITED else _RETRY
        self._next_try = now + (delay or _RETRY)
        logger.info("%s failed (%s); trying again in %.0f s", method, verdict.error, delay)

    def _failed_text(self, reason: str, now: float) -> None:
        warn(f"SlackReport cannot schedule the 'lost' notice: {reason}; trying again later")
        self._next_try = now + _RETRY

