"""Rate limits as values: :class:`Limit`, and the two Slack limits the reports draw on."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Limit", "CHAT_UPDATE", "CHAT_POST_MESSAGE"]


@dataclass(frozen=True)
class Limit:
    """A rate limit: at most ``calls`` calls in any window of ``per`` seconds.

    Args:
        calls (int): Calls allowed per window, at least 1.
        per (float): The window in seconds, finite and above 0 (an int is
            taken as a float).

    Raises:
        ValueError: ``calls`` is not an int of at least 1 (a bool is not), or
            ``per`` is not a positive finite number.
    """

    calls: int
    per: float

    def __post_init__(self) -> None:
        if isinstance(self.calls, bool) or not isinstance(self.calls, int) or self.calls < 1:
            raise ValueError(f"Limit.calls must be an int >= 1, not {self.calls!r}")
        per = self.per
        if isinstance(per, bool) or not isinstance(per, (int, float)) or not (
                math.isfinite(per) and per > 0):
            raise ValueError(f"Limit.per must be a positive number of seconds, not {per!r}")
        object.__setattr__(self, "per", float(per))

    @classmethod
    def parse(cls, text: str) -> Limit:
        """The limit written ``CALLS/SECONDS``, as the command line takes it: ``"50/60"``.

        ``CALLS`` is a whole number of at least 1, ``SECONDS`` a positive
        number (``"5/2.5"``); spaces around either are ignored.

        Args:
            text (str): The limit as written.

        Returns:
            Limit: ``Limit.parse("50/60") == Limit(50, 60.0)``.

        Raises:
            ValueError: ``text`` is not of that form; the message quotes it and
                shows the form (argparse hides a ``ValueError``'s message from a
                ``type=`` function: wrap it in ``argparse.ArgumentTypeError``).
        """
        try:
            calls, per = text.split("/")
            return cls(int(calls), float(per))
        except (AttributeError, ValueError):  # not a str, not two numbers, out of range
            raise ValueError(f"a rate limit is written CALLS/SECONDS: a whole number of calls "
                             f">= 1 per a positive number of seconds, like 50/60; not "
                             f"{text!r}") from None


#: ``chat.update``: Tier 3, "50+ per minute", per app per workspace (Slack's
#: ``chat.update`` reference page and "Rate limits" page; Slack's Java SDK
#: ``MethodsRateLimitTier.Tier3`` assumes the same 50 a minute).
CHAT_UPDATE = Limit(50, 60.0)
#: ``chat.postMessage``: "generally allows posting one message per second per
#: channel", short bursts allowed (Slack's "Rate limits" page and the
#: ``chat.postMessage`` reference page) — one bucket per channel; one a
#: second on average, bursts of at most five.
CHAT_POST_MESSAGE = Limit(5, 5.0)
#: ``chat.deleteScheduledMessage``: Tier 3, per app per workspace (its reference
#: page), a bucket of its own: Slack counts each method apart.
CHAT_DELETE_SCHEDULED = Limit(50, 60.0)
