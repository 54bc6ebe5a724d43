"""chainer_slack_report: watch a training run in one live Slack message.

>>> from chainer_slack_report import SlackReport
>>> trainer.extend(SlackReport(token, channel_id, entries), trigger=(1, "epoch"))  # doctest: +SKIP

``Run`` (any training loop) and ``SlackReport`` (the Chainer extension) are
imported on first use, so that the
framework-free parts (``chainer_slack_report.testing``, the rendering and the
transport) load without Chainer.
"""

from __future__ import annotations

import sys

from .options import ReportOptions
from .outcome import Outcome, Status
from .rendering.message import DEFAULT_TEMPLATE
from .transport.deliveries import wait_for_final_reports
from .warning import SlackReportWarning

__all__ = ["Run", "ReportOptions", "Status", "Outcome", "DEFAULT_TEMPLATE", "SlackReportWarning",
           "wait_for_final_reports", "__version__"]
if sys.version_info < (3, 12):  # Chainer 7.8.1 imports only there
    __all__.insert(0, "SlackReport")
__version__ = "1.0.0"


def __getattr__(name: str):
    if name == "Run":  # imported on first use, as SlackReport is
        from .flavours.run import Run

        return Run
    if name == "SlackReport":
        try:
            from .flavours.chainer import SlackReport
        except (ImportError, AttributeError) as exc:  # NumPy 2 under Chainer: AttributeError
            if sys.version_info >= (3, 12):
                raise ImportError(
                    f"chainer_slack_report.SlackReport is the Chainer extension, and Chainer "
                    f"7.8.1 (its last release) needs Python <= 3.11; this is Python "
                    f"{sys.version_info.major}.{sys.version_info.minor}. With PyTorch use "
                    f"chainer_slack_report.ppe.SlackReport (pytorch-pfn-extras); for any "
                    f"command or LogReport file, the chainer-slack-report command line "
                    f"tool.") from exc
            raise
        return SlackReport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
