"""When the next request of one live message may start.

One :class:`Pacing` object per live message holds the retry state that
Slack's answers change, apart from the code that sends: the steady interval
between requests, a ``Retry-After`` in force, and the exponential backoff
after failures.  It is pure arithmetic over a monotonic clock (seconds), so
it is tested without threads or HTTP.

The steady interval adapts AIMD-style, in terms of the request rate
``1 / interval``: a 429 halves the rate (multiplicative decrease); every
successful request adds a tenth of the highest allowed rate back (additive
increase), up to ``1 / floor``.  Runs on hosts that share nothing thus settle
on what Slack accepts from all of them together.
"""

from __future__ import annotations

import time
from typing import Callable

from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.jitter import RandomJitter

__all__ = ["Pacing"]

_FINAL_BACKOFF_CAP = 1.0  # seconds: a final delivery re-checks a failing Slack this often
_MIN_RATE_LIMITED_INTERVAL = 1.0  # seconds: after a 429, never faster than this


class Pacing:
    """Timing of one live message's requests.

    Args:
        min_interval (float): Seconds between two requests in steady state
            when Slack raises no objection (the *floor*; see :attr:`floor`).
        max_interval (float): Cap in seconds of the interval widened by 429s.
        max_backoff (float): Cap in seconds of a backoff wait after a failure.
        clock (callable): Monotonic time in seconds (tests inject one).

    Backoff waits come from slack_sdk's ``BackoffRetryIntervalCalculator``
    (0.5 s × 2^(failures - 1), with ``RandomJitter``).
    """

    def __init__(self, *, min_interval: float, max_interval: float = 60.0,
                 max_backoff: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.min_interval = float(min_interval)  #: the floor can never go below this
        self.max_interval = float(max_interval)
        self.max_backoff = float(max_backoff)
        self.failures = 0  #: failed requests in a row
        self.rate_limited = 0  #: 429 answers so far
        self._clock = clock
        self._floor = float(min_interval)
        self._interval = self._floor
        self._next = 0.0  # earliest start of the next steady-state request
        self._limited_until = 0.0  # end of the Retry-After in force
        self._backoff_until = 0.0  # end of the backoff after a transient failure
        self._held_until = 0.0  # end of a wait for a shared rate budget
        self._update_held_until = 0.0  # end of such a wait that binds intermediate texts only
        self._failed_at = 0.0  # time of the last transient failure
        self._backoff = BackoffRetryIntervalCalculator(backoff_factor=0.5, jitter=RandomJitter())

    @property
    def floor(self) -> float:
        """The shortest steady interval in seconds: ``min_interval``, or more while
        running (a fair share of a rate budget shared with other runs)."""
        return self._floor

    @floor.setter
    def floor(self, seconds: float) -> None:
        self._floor = max(self.min_interval, float(seconds))
        self._interval = max(self._interval, self._floor)

    @property
    def interval(self) -> float:
        """The steady interval in seconds now: the floor, or wider after 429s."""
        return self._interval

    def ready_at(self, *, final: bool = False) -> float:
        """Clock time at which the next request may start.

        A final delivery skips the steady interval and re-checks a failing
        Slack at least every second, but always honours ``Retry-After``
        (sending earlier only earns another 429).
        """
        if not final:
            return max(self._next, self._limited_until, self._held_until,
                       self._update_held_until)
        return max(self._limited_until, self._held_until,
                   min(self._backoff_until, self._failed_at + _FINAL_BACKOFF_CAP))

    def on_success(self) -> None:
        """A request went through: reset the backoff, recover the rate a step."""
        now = self._clock()
        self.failures = 0
        self._backoff_until = 0.0
        if self._interval > self._floor:
            top = 1.0 / max(self._floor, 1e-3)
            rate = min(top, 1.0 / self._interval + top / 10)
            self._interval = max(self._floor, 1.0 / rate)
        self._next = now + self._interval

    def on_rate_limited(self, retry_after: float) -> None:
        """HTTP 429: wait ``retry_after`` seconds, then send at half the rate."""
        now = self._clock()
        self.failures += 1
        self.rate_limited += 1
        widened = max(2 * self._interval, _MIN_RATE_LIMITED_INTERVAL)
        self._interval = min(self.max_interval, max(self._floor, widened))
        self._limited_until = now + max(0.0, retry_after)
        self._next = max(self._limited_until, now + self._interval)

    def on_failure(self) -> float:
        """No answer, or a transient error: back off exponentially.

        Returns:
            float: The backoff wait chosen, in seconds.
        """
        now = self._clock()
        self.failures += 1
        self._failed_at = now
        delay = min(self.max_backoff, self._backoff.calculate_sleep_duration(self.failures - 1))
        self._backoff_until = self._next = now + delay
        return delay

    def hold(self, seconds: float, *, final: bool = True) -> None:
        """No request for ``seconds`` (a rate budget shared with other runs is spent).

        ``final=False``: a wait the budget gave an intermediate text; a final text
        (its own, better place in the budget's queue) is not held by it.
        """
        until = self._clock() + max(0.0, seconds)
        if final:
            self._held_until = max(self._held_until, until)
        else:
            self._update_held_until = max(self._update_held_until, until)

    def retry_now(self) -> None:
        """Send again as soon as allowed (after a re-post or a shortened text)."""
        self._next = min(self._next, self._clock())
