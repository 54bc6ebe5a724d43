"""Rate limits as Slack enforces them: a sliding window of accepted calls per method.

:class:`RateLimits` holds one limit per method, counted per app (one token) or
per channel, and decides at a request's arrival whether it is admitted or gets
HTTP 429 ``ratelimited`` with ``Retry-After`` (:func:`retry_after_header`).
:data:`SLACK_LIMITS` lists the numbers of Slack's "Rate limits" page.
"""

from __future__ import annotations

import collections
import hashlib
import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Deque, Dict, Mapping, Optional, Sequence, Tuple

__all__ = ["SLACK_LIMITS", "NO_LIMITS", "Limit", "RateLimits", "retry_after_header", "SCOPES"]

# Slack's "Rate limits" page (docs.slack.dev/apis/web-api/rate-limits): each
# method has a tier, counted per method, per app, per workspace, with these
# floors per minute; each method page names its tier.
_TIER_2, _TIER_3, _TIER_4 = (20, 60.0), (50, 60.0), (100, 60.0)

#: The rate limits a :class:`SlackEmulator` enforces by default, as Slack does:
#: method → (calls, per seconds), counted per app (one token) except
#: ``chat.postMessage``, counted per channel.
#:
#: * ``chat.postMessage``: 5 per 5 s per channel.  Slack's "Rate limits" page
#:   and the method page ("Special rate limits apply") allow about one message
#:   per second per channel with short bursts; a 5 s window keeps that average
#:   and lets a burst of 5 through.
#: * Tier 3, 50 per 60 s (the documented floor of "50+ per minute"):
#:   ``chat.update``, ``chat.delete``, ``chat.scheduleMessage``,
#:   ``chat.deleteScheduledMessage``, ``chat.scheduledMessages.list``,
#:   ``conversations.history``, ``conversations.replies``,
#:   ``conversations.info``, ``bots.info``, ``reactions.add``,
#:   ``reactions.get``, ``files.delete``.
#: * Tier 2, 20 per 60 s: ``conversations.list``, ``users.list``,
#:   ``reactions.remove``.
#: * Tier 4, 100 per 60 s: ``files.getUploadURLExternal``,
#:   ``files.completeUploadExternal``, ``api.test``.
#:
#: ``auth.test`` and ``chat.getPermalink`` ("Special"; the latter "allows
#: hundreds of requests per minute") are not limited.  Slack's 2025 limits for new
#: commercially distributed non-Marketplace apps (``conversations.history``
#: and ``.replies`` at 1 per minute) do not apply to an internal app.
SLACK_LIMITS: Mapping[str, Tuple[int, float]] = MappingProxyType({
    "chat.postMessage": (5, 5.0),
    **{method: _TIER_3 for method in (
        "chat.update", "chat.delete", "chat.scheduleMessage", "chat.deleteScheduledMessage",
        "chat.scheduledMessages.list", "conversations.history", "conversations.replies",
        "conversations.info", "bots.info", "reactions.add", "reactions.get",
        "files.delete")},
    **{method: _TIER_2 for method in ("conversations.list", "users.list", "reactions.remove")},
    **{method: _TIER_4 for method in ("files.getUploadURLExternal",
                                      "files.completeUploadExternal", "api.test")},
})

#: Not Slack's: no rate limit at all, for ``SlackEmulator(limits=NO_LIMITS)``
#: in tests that drive a client faster than Slack would let it (an opt-out:
#: code that passes only with it can get HTTP 429 from Slack).
NO_LIMITS: Mapping[str, Tuple[int, float]] = MappingProxyType({})

#: What a limit can be counted per: ``"app"`` (one token) or ``"channel"``.
SCOPES = ("app", "channel")

#: The scope a limit gets when none is given: Slack counts ``chat.postMessage``
#: per channel, everything else per app.
_DEFAULT_SCOPE = {"chat.postMessage": "channel"}


@dataclass(frozen=True)
class Limit:
    """At most ``calls`` accepted calls in any ``per`` seconds, counted per ``scope``."""

    calls: int
    per: float
    scope: str


class RateLimits:
    """The limits being enforced and the windows of the calls each accepted.

    Not thread-safe on its own: the emulator calls it under its lock.
    """

    def __init__(self) -> None:
        self._limits: Dict[str, Limit] = {}
        #: (method, scope key) → the clock times of the calls the limit accepted
        self._windows: Dict[Tuple[str, str], Deque[float]] = {}

    def set(self, method: str, *, calls: int, per: float, scope: Optional[str] = None) -> None:
        """Enforce ``calls`` per ``per`` seconds on ``method`` (see ``SlackEmulator.set_limit``).

        Raises:
            ValueError: ``calls`` is not an int >= 1, ``per`` is not > 0, or
                ``scope`` is not one of :data:`SCOPES` (or None).
        """
        scope = scope or _DEFAULT_SCOPE.get(method, "app")
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}, not {scope!r}")
        if int(calls) != calls or calls < 1 or not per > 0:
            raise ValueError(f"need calls >= 1 (int) and per > 0 seconds, not {calls}/{per}")
        self._limits[method] = Limit(int(calls), float(per), scope)

    def set_all(self, limits: Mapping[str, Sequence]) -> None:
        """:meth:`set` each ``method → (calls, per)`` or ``(calls, per, scope)``."""
        for method, spec in limits.items():
            calls, per, *scope = spec
            self.set(method, calls=calls, per=per, scope=scope[0] if scope else None)

    def clear(self, method: Optional[str] = None) -> None:
        """Stop enforcing ``method``'s limit (None: every limit) and forget its windows."""
        for name in [method] if method is not None else list(self._limits):
            self._limits.pop(name, None)
            for key in [k for k in self._windows if k[0] == name]:
                del self._windows[key]

    def get(self, method: str) -> Optional[Limit]:
        """The limit enforced on ``method``, or None."""
        return self._limits.get(method)

    def as_json(self) -> Dict[str, dict]:
        """method → ``calls``, ``per``, ``scope`` of every limit enforced."""
        return {name: {"calls": lim.calls, "per": lim.per, "scope": lim.scope}
                for name, lim in self._limits.items()}

    def admit(self, method: str, now: float, key: Callable[[str], str]) -> Optional[float]:
        """None if the call is within its limit (and count it), else seconds to wait.

        Args:
            method (str): The API method called.
            now (float): The emulator clock's time of the call's arrival (seconds).
            key (callable): ``key(scope)`` → what the call counts against:
                the token for ``"app"``, the channel ID for ``"channel"``.
        """
        limit = self._limits.get(method)
        if limit is None:
            return None
        counted = key(limit.scope)
        if limit.scope == "app":  # a digest, so that no structure here holds the token
            counted = hashlib.sha256(counted.encode()).hexdigest()[:16]
        window = self._windows.setdefault((method, f"{limit.scope}:{counted}"),
                                          collections.deque())
        while window and round(now - window[0], 6) >= limit.per:  # float noise, as below
            window.popleft()
        if len(window) < limit.calls:
            window.append(now)
            return None
        return window[-limit.calls] + limit.per - now


def retry_after_header(wait: float, resolution: float) -> str:
    """``Retry-After`` for a wait of ``wait`` seconds: rounded up to a multiple of ``resolution``.

    At least one step is sent.  ``resolution`` 1.0 gives whole seconds, at
    least ``1``, as Slack sends them.

    Args:
        wait (float): Seconds until the call would be admitted.
        resolution (float): Seconds (> 0) the value is a multiple of.
    """
    wait = round(wait, 6)  # the clock's Unix seconds carry float noise below a microsecond
    steps = max(1, math.ceil(wait / resolution))
    if steps > 1 and (steps - 1) * resolution >= wait:  # float noise in the division
        steps -= 1
    value = steps * resolution
    if value == int(value):
        return str(int(value))
    return repr(round(value, 9))
