"""chainer_slack_report: watch a training run in one live Slack message.

>>> from chainer_slack_report import SlackReport
>>> trainer.extend(SlackReport(token, channel_id, entries), trigger=(1, "epoch"))  # doctest: +SKIP

``SlackReport`` (the Chainer extension) is imported on first use, so that the
framework-free parts (``chainer_slack_report.testing``, the rendering and the
transport) load without Chainer.
"""

from __future__ import annotations

from .run_report import wait_for_final_reports
from .warning import SlackReportWarning

__all__ = ["SlackReport", "SlackReportWarning", "wait_for_final_reports", "__version__"]
__version__ = "1.0.0"


def __getattr__(name: str):
    if name == "SlackReport":
        from .extension import SlackReport

        return SlackReport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
