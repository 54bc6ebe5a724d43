"""chainer_slack_report: watch a Chainer training run in one live Slack message.

>>> from chainer_slack_report import SlackReport
>>> trainer.extend(SlackReport(token, channel_id, entries), trigger=(1, "epoch"))  # doctest: +SKIP
"""

from .extension import SlackReport
from .warning import SlackReportWarning

__all__ = ["SlackReport", "SlackReportWarning", "__version__"]
__version__ = "0.1.0"
