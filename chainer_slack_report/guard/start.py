"""Which guard a run gets: :func:`start_guard`."""

from __future__ import annotations

import dataclasses
import os
from typing import Callable, List

from ..assembly import Assembly, ClientSettings, ReportDescription
from ..warning import warn
from .base import Guard
from .keeper import KeeperGuard
from .watchdog import start_watchdog

__all__ = ["start_guard", "WATCHDOG_ENV"]

#: ``0`` turns the watchdog (and the lost-host notice it keeps) off for every run of the
#: process, e.g. in a test suite; ``watchdog=False`` instead keeps the notice in-process.
WATCHDOG_ENV = "CHAINER_SLACK_REPORT_WATCHDOG"


def start_guard(description: ReportDescription, assembly: Assembly, live, *,
                untravelled: List[str], elapsed: Callable[[], float]) -> Guard:
    """The guard of a reporting run whose live message is ``live``.

    Args:
        description: The report, without its client settings (added here
            from ``live.client``).
        assembly: The run's assembly (the rows a callable ``len_normalizer``
            last picked come from it).
        live (LiveMessage): The run's live message (its client and budget).
        untravelled: What of the options cannot travel to a watchdog process.
        elapsed: ``elapsed() -> float``, the run's seconds so far.

    Returns:
        Guard: The watchdog process (``watchdog=True``), the in-process keeper
        of the lost-host notice (``watchdog=False`` with ``lost_after``), or
        none (``$CHAINER_SLACK_REPORT_WATCHDOG=0`` with ``watchdog=True``; a
        watchdog that could not start, with one warning).
    """
    options = assembly.options
    if not options.watchdog:
        if options.lost_after is None:
            return Guard()
        return KeeperGuard(live.client, budget=live.budget, lost_after=options.lost_after,
                           text=assembly.message.notice_text,
                           join_timeout=options.http_timeout)
    if os.environ.get(WATCHDOG_ENV, "1") == "0":
        return Guard()
    client = live.client
    settings, lost = ClientSettings.of(client)
    description = dataclasses.replace(description, client=settings)
    lost = untravelled + lost
    if lost:
        warn(f"SlackReport's watchdog cannot be given {'; '.join(lost)}: if the run dies "
             f"without a final report, the watchdog's final edit goes without them")
    try:
        return start_watchdog(description, getattr(client, "token", None), elapsed=elapsed,
                              shown=assembly.shown_rows if description.rows_given else None)
    except Exception as exc:  # noqa: BLE001 - the run goes on without one
        warn(f"SlackReport could not start its watchdog ({type(exc).__name__}: {exc}); "
             f"a death without a final report (SIGKILL, a segmentation fault) will not "
             f"show in Slack")
        return Guard()
