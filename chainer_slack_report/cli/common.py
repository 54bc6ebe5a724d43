"""What every subcommand shares: the program's name, its own lines on stderr, and the
types of its option values."""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import Optional, Tuple

from ..transport.budget.limits import Limit
from ..transport.budget.store_url import STORE_ENV, StoreURL
from ..warning import SlackReportWarning

__all__ = ["PROG", "say", "show_warning", "positive_int", "positive_float", "non_negative",
           "update_limit", "store"]

#: The tool's name, as in usage messages and at the start of its own lines.
PROG = "chainer-slack-report"


def say(text: str) -> None:
    """Write a line of the tool's own to stderr, ``chainer-slack-report: text``.

    stderr, so that stdout stays the command's (``run``) or the findings' (``check``).
    """
    sys.stderr.write(f"{PROG}: {text}\n")
    sys.stderr.flush()


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A ``warnings.showwarning``: the library's warnings as the tool's own lines."""
    if issubclass(category, SlackReportWarning):
        say(f"warning: {message}")
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


# -- option value types (argparse ``type=``; a bad value is a usage error) ----------------
def positive_int(text: str) -> int:
    """A whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, not {text!r}")
    return value


def positive_float(text: str) -> float:
    """Seconds > 0, finite."""
    value = non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"expected seconds > 0, not {text!r}")
    return value


def non_negative(text: str) -> float:
    """Seconds >= 0, finite."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, not {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, not {text!r}")
    return value


def update_limit(text: str) -> Optional[Tuple[int, float]]:
    """``CALLS/SECONDS`` (e.g. ``50/60``) as ``(calls, seconds)``, or ``none``: None."""
    if text.lower() == "none":
        return None
    try:
        limit = Limit.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc}, or none") from None
    return limit.calls, limit.per


def store(text: str) -> str:
    """A Redis URL (``redis://host:port/db``, ``rediss://…``, ``unix://…``) without a
    password: a command line is visible to every user of the host (``ps``), so a URL
    with one belongs in ``$CHAINER_SLACK_REPORT_STORE``.  No message shows the password."""
    try:
        url = StoreURL(text, source="--store ")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if url.has_password:
        raise argparse.ArgumentTypeError(
            f"{url.shown}: a password on the command line is visible to every user of this "
            f"host; put the URL in ${STORE_ENV} instead")
    return url.url
