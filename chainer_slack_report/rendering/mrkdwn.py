"""Slack mrkdwn escaping and the byte arithmetic of message text.

Pure functions, no Chainer and no network.  Slack's "Formatting message text"
guide asks senders to escape exactly three characters in text that comes from
data: ``&`` as ``&amp;``, ``<`` as ``&lt;`` and ``>`` as ``&gt;``.  Once they are
escaped, no value can form a ``<!channel>`` ping, a ``<@U123>`` mention or a
``<https://…|link>``.
"""

from __future__ import annotations

import re

__all__ = ["Mrkdwn", "escape", "redact_tokens", "utf8_len", "truncate_utf8",
           "TRUNCATION_MARKER"]

#: Appended when a text had to be cut to fit its byte budget.
TRUNCATION_MARKER = "\n… [cut: the message did not fit Slack's length limit]"

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
# A zero-width space between backticks keeps a value from closing the
# ``` code block (or the `inline code` span) it is shown in.
_FENCE = "```"
_BROKEN_FENCE = "`\u200b`\u200b`"
# Slack token shapes (bot xoxb-, user xoxp-, app-level xapp-, refresh xoxe-, …).
_TOKEN = re.compile(r"\b(xox[abpesr]|xapp)[-.][A-Za-z0-9][A-Za-z0-9.\-]*")


class Mrkdwn(str):
    """A ``str`` that is already valid Slack mrkdwn and must not be escaped again.

    The renderer escapes every substituted value unless it is a ``Mrkdwn``:
    the table (escaped row by row), mentions built from validated IDs.
    """

    __slots__ = ()


def escape(text: object) -> Mrkdwn:
    """Return ``str(text)`` escaped for Slack mrkdwn.

    ``&``, ``<`` and ``>`` become ``&amp;``, ``&lt;`` and ``&gt;`` (the three
    characters Slack's formatting guide names), a run of three backticks
    gets zero-width spaces so that it cannot break a code block, and anything
    shaped like a Slack token is redacted (:func:`redact_tokens`).  A value
    that is already :class:`Mrkdwn` is returned unchanged.
    """
    if isinstance(text, Mrkdwn):
        return text
    escaped = redact_tokens(str(text)).translate(_ESCAPES)
    if _FENCE in escaped:
        escaped = escaped.replace(_FENCE, _BROKEN_FENCE)
    return Mrkdwn(escaped)


def redact_tokens(text: str) -> str:
    """Replace Slack tokens (``xoxb-…``, ``xoxp-…``, ``xapp-…``) by ``xoxb-[redacted]``.

    Data such as ``sys.argv`` or an exception message may carry a token; it
    must never be posted.
    """
    if "xox" not in text and "xapp" not in text:
        return text
    return _TOKEN.sub(lambda m: m.group(1) + "-[redacted]", text)


def utf8_len(text: str) -> int:
    """Length of ``text`` in UTF-8 bytes (the unit of Slack's 4000 limit here)."""
    return len(text.encode("utf-8"))


def truncate_utf8(text: str, max_bytes: int, marker: str = TRUNCATION_MARKER) -> str:
    """Cut ``text`` to at most ``max_bytes`` UTF-8 bytes, ending in ``marker``.

    Text that already fits is returned unchanged.  The cut never splits a
    multi-byte character.  If even the marker does not fit, the marker itself
    is cut.

    Raises:
        ValueError: ``max_bytes`` is negative.
    """
    if max_bytes < 0:
        raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    room = max_bytes - utf8_len(marker)
    if room < 0:
        return marker.encode("utf-8")[:max_bytes].decode("utf-8", "ignore")
    return data[:room].decode("utf-8", "ignore") + marker
