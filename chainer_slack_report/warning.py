"""``SlackReportWarning``: the one warning category this package gives."""

from __future__ import annotations

__all__ = ["SlackReportWarning"]


class SlackReportWarning(UserWarning):
    """Something went wrong reporting to Slack; training goes on regardless.

    Every warning of this package has this category, so that one filter
    (``warnings.filterwarnings("ignore", category=SlackReportWarning)``)
    silences, or ``"error"`` surfaces, all of them.
    """
