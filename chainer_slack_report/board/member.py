"""How a run joins a sweep's board: its row made from its message, its keeper started.

:func:`join_board` is the one call :class:`~..run_report.RunReport` makes: it opens
the board's store, starts a :class:`~.keeper.BoardKeeper` whose rows come from the
run's :class:`~..rendering.message.ReportMessage` (:func:`run_row`), and returns it.
"""

from __future__ import annotations

import uuid
from typing import Optional, Sequence

from ..rendering.board import MAX_BOARD_ENTRIES, BoardRow
from ..rendering.mentions import Mentions
from ..rendering.message import ReportMessage
from ..rendering.template import Template
from ..transport.client import api_url
from ..warning import warn
from .keeper import BoardKeeper
from .store import open_board_store

__all__ = ["join_board", "run_row"]


def run_row(message: ReportMessage, name: Optional[Template] = None) -> BoardRow:
    """The run's board row now: its status, elapsed time, newest values, progress and
    ETA (none once it ended), and its name (``name`` filled from the message's values;
    "" for the board's default name).  Called on a worker thread."""
    progress = message.progress
    live = progress is not None and not message.is_final
    plain = "" if name is None else _unescape(message.fill(name)).strip()
    return BoardRow(name=plain, status=message.status, elapsed=message.elapsed,
                    values=message.latest_values(),
                    progress=progress.text() if live else None,
                    eta=progress.eta() if live else None)


def join_board(message: ReportMessage, options, live, channel: str,
               argv: Sequence[str]) -> Optional[BoardKeeper]:
    """Start this run's keeper of board ``options.board``; None (with one warning) if
    the board's store cannot be opened.

    Args:
        message (ReportMessage): The run's message (its rows).
        options (ReportOptions): ``board``, ``run_name``, ``layout``, ``chart``,
            ``max_bytes``, ``finish_mentions``, ``store``, ``http_timeout``.
        live (LiveMessage): The run's live message (its client and budget).
        channel (str): The channel ID or name.
        argv (list of str): The run's command line.
    """
    client = live.client
    token = getattr(client, "token", None) or ""
    try:
        store = open_board_store(api_url(client), token, channel, options.board,
                                 store=options.store)
    except Exception as exc:  # noqa: BLE001 - the run goes on without its board
        warn(f"SlackReport could not open the board {options.board!r} ({type(exc).__name__}: "
             f"{exc}); the run reports in its own message only")
        return None
    name = Template(options.run_name) if options.run_name is not None else None
    chart = options.chart[0][0] if options.chart else None
    keeper = BoardKeeper(
        options.board, store, client, channel, lambda: run_row(message, name),
        entries=message.entries[:MAX_BOARD_ENTRIES], run_id=uuid.uuid4().hex, argv=argv,
        budget=live.budget, layout=options.layout, chart=chart, max_bytes=options.max_bytes,
        mentions=Mentions(options.finish_mentions), http_timeout=options.http_timeout)
    keeper.start()
    return keeper


def _unescape(text: str) -> str:
    """mrkdwn's ``&amp;``, ``&lt;``, ``&gt;`` back to plain text (the board escapes it)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
