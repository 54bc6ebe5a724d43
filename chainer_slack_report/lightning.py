"""``SlackReport`` for PyTorch Lightning (the public import path of
:mod:`chainer_slack_report.flavours.lightning`).

>>> from chainer_slack_report.lightning import SlackReport
>>> trainer = Trainer(callbacks=[SlackReport(token, channel_id, entries)])  # doctest: +SKIP
"""

from .flavours.lightning import SlackReport

__all__ = ["SlackReport"]
