"""How a run joins a sweep's board: its row made from its message, its keeper started.

:func:`join_board` is the one call :class:`~..run_report.RunReport` makes: it opens
the board's store, starts a :class:`~.keeper.BoardKeeper` whose rows come from the
run's :class:`~..rendering.message.ReportMessage` (:func:`run_row`), and returns it.
"""

from __future__ import annotations

from typing import Optional, Sequence

from ..rendering.board import MAX_BOARD_ENTRIES, BoardRow
from ..rendering.charts import ChartCurves
from ..rendering.mentions import Mentions
from ..rendering.message import ReportMessage
from ..rendering.template import Template
from ..transport.client import api_url
from ..warning import warn
from .keeper import BoardKeeper, BoardLook
from .store import open_board_store

__all__ = ["BOARD_RUN", "board_spec", "join_board", "keeper_of", "run_row"]

#: The key of the run's facts (``run_info``) that holds its id on its board.
BOARD_RUN = "board_run"


def run_row(message: ReportMessage, name: Optional[Template] = None,
            chart: Optional[ChartCurves] = None) -> BoardRow:
    """The run's board row now: its status, elapsed time, newest values, progress and
    ETA (none once it ended), its name (``name`` filled from the message's values; ""
    for the board's default name) and the curve of the board's ``chart`` key (a
    :class:`~..rendering.charts.ChartCurves` of that one key, tapping the message's
    rows).  Called on a worker thread."""
    progress = message.progress
    live = progress is not None and not message.is_final
    values = message.latest_values()  # takes the newest rows in (and through the taps)
    plain = "" if name is None else _unescape(message.fill(name)).strip()
    return BoardRow(name=plain, status=message.status, elapsed=message.elapsed,
                    values=values, progress=progress.text() if live else None,
                    eta=progress.eta() if live else None, curves=_curves(chart))


def _curves(chart: Optional[ChartCurves]) -> dict:
    points = chart.points() if chart is not None else None
    if points is None or not points.series:
        return {}
    key, values = points.series[0]
    return {key: [(float(label), value) for label, value in zip(points.labels, values)]}


def board_spec(options, run_id: str, argv: Sequence[str] = ()) -> dict:
    """What makes a run's keeper (:func:`keeper_of`), JSON-friendly: the board options of
    ``options`` (a :class:`~..options.ReportOptions`), the run's id on the board and its
    command line."""
    return {"board": options.board, "run_id": run_id, "argv": list(argv),
            "run_name": options.run_name, "layout": options.layout,
            "chart": options.chart[0][0] if options.chart else None,
            "max_bytes": options.max_bytes, "finish_mentions": options.finish_mentions,
            "store": options.store, "http_timeout": options.http_timeout,
            "exit_timeout": options.exit_timeout}


def join_board(message: ReportMessage, options, live, channel: str, argv: Sequence[str],
               run_id: str) -> Optional[BoardKeeper]:
    """Start this run's keeper of board ``options.board``; None (with one warning) if
    the board's store cannot be opened.

    Args:
        message (ReportMessage): The run's message (its rows).
        options (ReportOptions): ``board``, ``run_name``, ``layout``, ``chart``,
            ``max_bytes``, ``finish_mentions``, ``store``, ``http_timeout``,
            ``exit_timeout``.
        live (LiveMessage): The run's live message (its client and budget).
        channel (str): The channel ID or name.
        argv (list of str): The run's command line.
        run_id (str): The run's id on the board (its run facts' :data:`BOARD_RUN`, which
            its watchdog reads too).
    """
    keeper = keeper_of(board_spec(options, run_id, argv), message, live.client, channel,
                       live.budget)
    if keeper is not None:
        if live.ts is not None:  # a message continued (a resumed run): posted already
            keeper.own_posted(write=False)  # its first row says so (no store I/O here)
        keeper.start()
    return keeper


def keeper_of(spec: dict, message: ReportMessage, client, channel: str,
              budget) -> Optional[BoardKeeper]:
    """A (not started) keeper of the board that ``spec`` describes — what
    :attr:`BoardKeeper.spec` holds, JSON-friendly, so that the run's watchdog makes the
    same keeper; None (with one warning) if the board's store cannot be opened."""
    token = getattr(client, "token", None) or ""
    try:
        store = open_board_store(api_url(client), token, channel, spec["board"],
                                 store=spec.get("store"))
    except Exception as exc:  # noqa: BLE001 - the run goes on without its board
        warn(f"SlackReport could not open the board {spec['board']!r} "
             f"({type(exc).__name__}: {exc}); the run reports in its own message only")
        return None
    name = Template(spec["run_name"]) if spec.get("run_name") is not None else None
    chart = ChartCurves((spec["chart"],)) if spec.get("chart") else None
    if chart is not None:
        message.taps.append(chart.add)
    look = BoardLook(spec["board"], tuple(message.entries[:MAX_BOARD_ENTRIES]),
                     layout=spec.get("layout") or "text", chart=spec.get("chart"),
                     max_bytes=int(spec.get("max_bytes") or 4000))
    return BoardKeeper(
        look, store, client, channel, lambda: run_row(message, name, chart),
        run_id=spec["run_id"], argv=spec.get("argv") or (), budget=budget,
        mentions=Mentions(spec.get("finish_mentions")),
        http_timeout=float(spec.get("http_timeout") or 10.0),
        finish_timeout=float(spec.get("exit_timeout") or 120.0), spec=spec)


def _unescape(text: str) -> str:
    """mrkdwn's ``&amp;``, ``&lt;``, ``&gt;`` back to plain text (the board escapes it)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
