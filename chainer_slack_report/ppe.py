"""``SlackReport`` for pytorch-pfn-extras (the public import path of
:mod:`chainer_slack_report.flavours.ppe`).

>>> from chainer_slack_report.ppe import SlackReport
>>> manager.extend(SlackReport(token, channel_id, entries), trigger=(1, "epoch"))  # doctest: +SKIP
"""

from .flavours.ppe import SlackReport

__all__ = ["SlackReport"]
