"""The one interface :class:`~chainer_slack_report.run_report.RunReport` guards its run through.

A guard is told what the report shows and when it ends; whoever implements it
announces the run if the training process cannot: the watchdog process
(:class:`~chainer_slack_report.guard.watchdog.Watchdog`: the final edit and the
lost-host notice) or the in-process keeper
(:class:`~chainer_slack_report.guard.keeper.KeeperGuard`: the notice alone).
:class:`Guard` itself guards nothing (a local report, another rank, or
``$CHAINER_SLACK_REPORT_WATCHDOG=0``).  No method blocks on Slack or raises.
"""

from __future__ import annotations

from typing import List, Mapping, Optional

__all__ = ["Guard"]


class Guard:
    """What guards a run (this base: nothing)."""

    def rows(self, rows: List[Mapping[str, object]]) -> None:
        """(training thread) New table rows (observations); O(1)."""

    def rendered(self) -> None:
        """(the report's worker) The message was rendered: what it shows is news."""

    def status(self, status: str, elapsed: float) -> None:
        """The run's status changed (``elapsed``: its seconds so far)."""

    def posted(self, channel_id: str, ts: str) -> None:
        """The message exists (or continues in a new one) at ``channel_id``, ``ts``."""

    def ended(self, status: str, detail: Optional[str], elapsed: float) -> None:
        """The run ended so; its final text is on its way."""

    def done(self) -> None:
        """The final text is in Slack, or given up: nothing is left to guard."""
