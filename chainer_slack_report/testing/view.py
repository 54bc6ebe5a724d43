"""The emulator's channel view, kept importable here: it lives in
:mod:`chainer_slack_report.testing.emulator.view` (the page and its data) and
:mod:`chainer_slack_report.testing.emulator.draw` (message content in HTML)."""

from .emulator.draw import mrkdwn_to_html
from .emulator.view import PAGE, view_state

__all__ = ["mrkdwn_to_html", "view_state", "PAGE"]
