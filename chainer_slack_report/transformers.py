"""``SlackReport`` for Hugging Face transformers (the public import path of
:mod:`chainer_slack_report.flavours.transformers`).

>>> from chainer_slack_report.transformers import SlackReport
>>> trainer = Trainer(model, args, callbacks=[SlackReport(token, channel_id, entries)])
... # doctest: +SKIP
"""

from .flavours.transformers import SlackReport

__all__ = ["SlackReport"]
