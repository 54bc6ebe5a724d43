"""The report's options, shared by every flavour: :class:`ReportOptions`.

The Chainer and pytorch-pfn-extras extensions take these options as keyword
arguments (or one ``options=ReportOptions(...)``), the command-line tool builds
them from its flags, and :class:`~chainer_slack_report.run_report.RunReport`
reads them.  Adding an option means adding one field here, with one line of
:data:`OPTIONS_DOC`: the flavours' signatures (:func:`flavour_signature`) and
docstrings are made from them.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from typing import Any, Mapping, Optional, Sequence, Tuple, Union

from .guard.stall import AUTO, check_stall_after
from .rendering.charts import chart_groups
from .rendering.mentions import Mentions, MentionsArg
from .rendering.message import DEFAULT_TEMPLATE
from .rendering.normalizers import Normalizer, RowPolicy, make_policy
from .rendering.template import Template
from .transport.budget import Limit, store_url
from .transport.lost_notice import MAX_LOST_AFTER, MIN_LOST_AFTER

__all__ = ["ReportOptions", "OPTIONS_DOC", "FIRST_ARGS_DOC", "flavour_signature",
           "MIN_MAX_BYTES", "LAYOUTS"]

#: The message layouts (``layout=``): mrkdwn text, or Block Kit blocks.
LAYOUTS = ("text", "blocks")
#: The smallest ``max_bytes`` (UTF-8 bytes) that holds a status line, a header and a row.
MIN_MAX_BYTES = 200

#: The ``Args:`` entries of the flavours' first three arguments.
FIRST_ARGS_DOC = """\
        access_token (str or None): The bot token (``xoxb-…``, scope
            ``chat:write``; ``users:read`` to resolve user names).  None reads
            ``SLACK_BOT_TOKEN``.  Used when ``client`` has no token of its own.
        channel_id (str or None): Channel ID (``C…``) or name.  None reads
            ``SLACK_CHANNEL_ID``.
        entries (list of str): Observation keys to show as table columns."""

#: The ``Args:`` entries of every option, as the flavours' docstrings show them.
OPTIONS_DOC = """\
        template (str): Message layout, a :meth:`str.format_map` string.
            Placeholders: ``{status} {hostname} {pwd} {pwdshort} {cmd} {args}
            {command} {ranks} {elapsed} {progress} {eta} {progress_eta} {content}
            {sparklines} {finish_mentions}`` and the latest reported value of
            any observation key (``{main/loss:.4f}``; an entry not reported
            yet shows ``–``).  Any other placeholder is kept as written (one
            warning names it).
        finish_mentions (str, list of str or None): Who to notify at the end:
            member IDs (``U…``/``W…``, ``@U…``, ``<@U…>``), ``here``,
            ``channel``, ``everyone`` (with or without ``@``), user-group IDs
            (``S…``, ``<!subteam^S…>``) or user names (``@alice``, looked up
            with ``users.list``, scope ``users:read``).  A str holds one or
            more items separated by commas; a blank also separates items when
            the next one starts with ``@`` or ``<`` or is an ID, so
            ``"@Bob Smith"`` is the one name "Bob Smith" and ``"@alice @bob"``
            two names.  They are notified by a reply in the message's thread
            (Slack notifies nobody about an edit).
        len_normalizer (str or callable): Which table rows stay when the
            message would exceed ``max_bytes``: ``"thin_out"`` (evenly spaced
            rows, always the first and the newest), ``"FIFO"`` (drop the
            oldest), ``"LIFO"`` (keep the oldest, stop adding), any case; or
            ``fn(rows: list[str], budget: int) -> list[str]`` given every row
            (escaped, oldest first) and the UTF-8 bytes available to them
            (each row counts one byte more for its newline).  A last table
            line says how many rows are not shown.
        client (slack_sdk.WebClient or None): A client to use (a proxy, a
            custom ``base_url``, retry handlers); if it has no token,
            ``access_token`` is used with it.  The report calls Slack through
            a copy without slack_sdk's ``RateLimitErrorRetryHandler`` (it
            would hide 429s from the shared rate budget).  By default one is
            built with ``timeout=http_timeout`` and ``$SLACK_API_URL`` (if
            set) as its ``base_url``.
        max_bytes (int): Limit of the whole posted text in UTF-8 bytes
            (at least 200); default 4000 (``chat.update`` documents
            ``msg_too_long`` at 4,000 characters).
        min_interval (float): Seconds between two Slack requests of this run
            in steady state; default 1.2 (``chat.update`` is rate-limit Tier 3,
            ~50 a minute per app).
        flush_timeout (float): Seconds the end of the run waits for the final
            text to reach Slack (default 10).
        http_timeout (float): Seconds one HTTP request may take (default
            client only; default 10).
        refresh_interval (float): Seconds after which the message is edited
            for the ``{elapsed}`` clock alone; new rows and status changes are
            sent without waiting for it.  Default 30.
        exit_timeout (float): If Slack has not taken the final text within
            ``flush_timeout``, it is delivered in the background and the
            interpreter waits for it at exit for at most this many seconds
            (default 120; 0: write it to stderr at once instead).
        update_limit (tuple or None): ``(calls, seconds)``: the ``chat.update``
            calls that all runs using this token on this host (on every host,
            with ``store``) may make together per window; default ``(50, 60.0)``, Slack's Tier 3
            limit, which Slack counts per app per workspace.  The runs share
            it fairly through a small state file (directory:
            ``$CHAINER_SLACK_REPORT_STATE_DIR``, else
            ``$XDG_CACHE_HOME/chainer_slack_report`` or
            ``~/.cache/chainer_slack_report``); a fifth of it is kept for final
            updates.  None: no shared budget, only ``min_interval`` paces.
        sparklines (list of str or None): Observation keys whose curve over the
            whole run is shown, one line each (``main/loss ▇▆▅▄▃▂▂▁▁ 0.0312``),
            after the table or where the template has ``{sparklines}``;
            updated with each row at no extra API cost.
        plots (bool or list of str): True: upload the images the framework's
            PlotReport extensions wrote (``loss.png``, …) into the message's
            thread at the end of the run (also after a failure), with
            slack_sdk's ``files_upload_v2`` (scope ``files:write``).  A list:
            those file paths.  A missing scope or a failed upload gives one
            warning and never harms the report.
        watchdog (bool): Start a small watchdog process that edits the message
            to ``[Killed]`` or ``[Lost]`` (with the newest rows, the cause if
            known, host and PID) and notifies ``finish_mentions`` if the
            training process dies without a final report: SIGKILL (the OOM
            killer), a segmentation fault, ``os._exit``; it also keeps the
            ``lost_after`` notice.  Default True (``$CHAINER_SLACK_REPORT_WATCHDOG=0``
            turns both off for every run, e.g. in a test suite).  False: no
            watchdog; the training process keeps the notice itself.
        lost_after (float or None): Seconds: while the run lives, a thread
            reply is kept scheduled (``chat.scheduleMessage``) this far ahead
            and moved forward every ``lost_after / 2`` seconds; if nothing of
            the run is left to move it — the host is gone — Slack posts it,
            notifying ``finish_mentions``.  Default 900; at least 60, at most
            120 days (Slack's limit); None: no such notice.
        stall_after (float, str or None): Seconds without a new row after
            which a live run counts as hung (a deadlocked collective, a stuck
            data loader, a full disk): the status line says ``[Stalled]`` and
            one thread reply notifies ``finish_mentions`` with how long, the
            usual gap between rows, the last row and whether the process uses
            CPU (from ``/proc``); when rows come again the status is
            ``[Training]`` again and the thread says so.  Default ``"auto"``:
            4 times the longest gap between rows seen so far (the first from
            the start), at least 600 (10 minutes), from the first row on;
            None: off.
        layout (str): ``"text"`` (default): the message is mrkdwn text, the
            table a code block.  ``"blocks"``: Block Kit blocks — the status
            line; the table as a ``data_table`` users can sort and page (up to
            100 rows, newest first, picked by ``len_normalizer``); one native
            line chart per ``chart`` group; the error after a failure.  The
            text layout's message stays the ``text`` (notifications, search).
            If Slack refuses the blocks (``invalid_blocks``), one warning names
            Slack's errors and the run goes on in the text layout.
        chart (list or None): With ``layout="blocks"``: observation keys drawn
            as one line chart, a series each (``["main/loss",
            "validation/main/loss"]``), or a list of such lists, one chart
            each; at most 2 charts of 6 keys (Slack's data visualization
            limits).  The whole run in 20 points, x labels from ``epoch`` (or
            ``iteration``), the last point the newest value; NaN/inf skipped.
        store (str or None): A Redis server (or Valkey) that the runs of this
            token on every host share the budget of ``update_limit`` in:
            ``redis://[:password@]host:port/db``, ``rediss://…`` (TLS) or
            ``unix:///path/to/socket``; needs redis-py (the ``redis`` extra).
            None (default): ``$CHAINER_SLACK_REPORT_STORE`` if set, else each
            host's state file.  While the server does not answer, one warning
            (host and port, never the password) and the host's state file.
        board (str or None): A sweep's board: every run of this token and
            channel with the same board name shows as one row (name, status,
            progress and ETA, the newest value of each entry, elapsed time) of
            ONE board message, kept by whichever run holds a lease in the
            shared state (the state directory, or ``store``); each run's own
            message is a reply in the board's thread.  With a board every
            process is a run of its own, even under a launcher's rank
            variables.  None (default): no board.
        run_name (str or None): The run's name on the board, a template with
            the placeholders of ``template`` (``"lr={lr}"``, ``"{args}"``).
            None (default): the command-line arguments that differ between
            the board's runs, else host and PID.
        board_thread (bool): With ``board``: post the run's own message in the
            board's thread (default True); False keeps it top-level."""


@dataclasses.dataclass(frozen=True)
class ReportOptions:
    """How a run's report looks and behaves (every argument keyword-only).

    Args:
{options}

    Raises:
        TypeError: An option of the wrong type, or an unknown option.
        ValueError: An option of the right type but an unusable value (an
            unknown ``len_normalizer``, a budget too small, broken braces, a
            ``store`` — or ``$CHAINER_SLACK_REPORT_STORE`` — that is no Redis URL…).
        ImportError: A ``store`` is named but redis-py is not installed.

    A ``len_normalizer`` given as a :class:`~.rendering.normalizers.RowPolicy`
    instance holds the rows of one run: such options serve one report only.
    """

    template: str = DEFAULT_TEMPLATE
    finish_mentions: MentionsArg = None
    len_normalizer: Union[str, Normalizer, RowPolicy] = "thin_out"
    client: Any = None
    max_bytes: int = 4000
    min_interval: float = 1.2
    flush_timeout: float = 10.0
    http_timeout: float = 10.0
    refresh_interval: float = 30.0
    exit_timeout: float = 120.0
    update_limit: Optional[Tuple[int, float]] = (50, 60.0)
    sparklines: Optional[Sequence[str]] = None
    plots: Union[bool, Sequence[str]] = False
    watchdog: bool = True
    lost_after: Optional[float] = 900.0
    stall_after: Union[float, str, None] = AUTO
    layout: str = "text"
    chart: Optional[Sequence[Union[str, Sequence[str]]]] = None
    store: Optional[str] = dataclasses.field(default=None, repr=False)  # may hold a password
    board: Optional[str] = None
    run_name: Optional[str] = None
    board_thread: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.template, str):
            raise TypeError(f"template must be a str, got {type(self.template).__name__}")
        Template(self.template)  # raises ValueError on broken braces
        Mentions(self.finish_mentions)
        _check_number("max_bytes", self.max_bytes, unit="UTF-8 bytes", integer=True)
        if self.max_bytes < MIN_MAX_BYTES:
            raise ValueError(f"max_bytes must be at least {MIN_MAX_BYTES} (UTF-8 bytes) to "
                             f"hold a header and a row, got {self.max_bytes}")
        make_policy(self.len_normalizer, self.max_bytes)  # raises on an unknown name
        for name, positive in (("min_interval", False), ("flush_timeout", False),
                               ("http_timeout", True), ("refresh_interval", True),
                               ("exit_timeout", False)):
            _check_number(name, getattr(self, name), unit="seconds", positive=positive)
            object.__setattr__(self, name, float(getattr(self, name)))
        client = self.client
        if client is not None and not callable(getattr(client, "chat_postMessage", None)):
            raise TypeError(f"client must be a slack_sdk.WebClient, got "
                            f"{type(client).__name__}")
        object.__setattr__(self, "update_limit", _check_limit(self.update_limit))
        store_url(self.store)  # raises on a malformed URL (also in the variable)
        object.__setattr__(self, "sparklines", _check_keys("sparklines", self.sparklines))
        object.__setattr__(self, "plots", _check_plots(self.plots))
        if not isinstance(self.watchdog, bool):
            raise TypeError(f"watchdog must be True or False, got {self.watchdog!r}")
        if self.lost_after is not None:
            _check_number("lost_after", self.lost_after, unit="seconds", positive=True)
            if not MIN_LOST_AFTER <= self.lost_after <= MAX_LOST_AFTER:
                raise ValueError(f"lost_after must be between {MIN_LOST_AFTER:g} and "
                                 f"{MAX_LOST_AFTER:g} seconds (120 days, chat.scheduleMessage's "
                                 f"limit), or None, got {self.lost_after!r}")
            object.__setattr__(self, "lost_after", float(self.lost_after))
        object.__setattr__(self, "stall_after", check_stall_after(self.stall_after))
        if not isinstance(self.layout, str) or self.layout not in LAYOUTS:
            kind = ValueError if isinstance(self.layout, str) else TypeError
            raise kind(f"layout must be one of {', '.join(map(repr, LAYOUTS))}, got "
                       f"{self.layout!r}")
        object.__setattr__(self, "chart", chart_groups(self.chart))
        _check_board(self.board, self.run_name, self.board_thread)
        if self.chart and self.layout != "blocks":
            raise ValueError(f"chart={self.chart!r} draws native charts, which only the blocks "
                             f"layout has: add layout='blocks'")

    @classmethod
    def of(cls, owner: str, options: Optional[ReportOptions],
           kwargs: Mapping[str, Any]) -> ReportOptions:
        """``options`` (default: the defaults) with ``kwargs`` put over it.

        Args:
            owner: Who takes the options, for the error message (``"SlackReport"``).

        Raises:
            TypeError: An argument that is no option (the message lists them all),
                or ``options`` that is no ReportOptions.
        """
        if options is not None and not isinstance(options, ReportOptions):
            raise TypeError(f"options must be a ReportOptions, got {type(options).__name__}")
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(kwargs) - set(names))
        if unknown:
            raise TypeError(f"{owner} got unexpected keyword argument"
                            f"{'s' if len(unknown) > 1 else ''} "
                            f"{', '.join(map(repr, unknown))}; its options are: "
                            f"{', '.join(names)}")
        return dataclasses.replace(options, **kwargs) if options else cls(**kwargs)

    def policy(self) -> RowPolicy:
        """A new row policy of ``len_normalizer`` (the instance itself if one was given)."""
        return make_policy(self.len_normalizer, self.max_bytes)


ReportOptions.__doc__ = ReportOptions.__doc__.format(options=OPTIONS_DOC)


def flavour_signature(*extra: inspect.Parameter) -> inspect.Signature:
    """The signature of a flavour's ``__init__``: ``access_token``, ``channel_id``,
    ``entries``, then the keyword-only ``extra`` (the flavour's own arguments),
    every option of :class:`ReportOptions` and ``options``."""
    positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
    keyword = inspect.Parameter.KEYWORD_ONLY
    params = [inspect.Parameter("self", positional),
              inspect.Parameter("access_token", positional, default=None,
                                annotation="Optional[str]"),
              inspect.Parameter("channel_id", positional, default=None,
                                annotation="Optional[str]"),
              inspect.Parameter("entries", positional, default=None,
                                annotation="Optional[Sequence[str]]"),
              *extra]
    params += [inspect.Parameter(f.name, keyword, default=f.default, annotation=f.type)
               for f in dataclasses.fields(ReportOptions)]
    params.append(inspect.Parameter("options", keyword, default=None,
                                    annotation="Optional[ReportOptions]"))
    return inspect.Signature(params)


def _check_limit(update_limit) -> Optional[Limit]:
    if update_limit is None or isinstance(update_limit, Limit):
        return update_limit
    if (isinstance(update_limit, (str, bytes)) or not isinstance(update_limit, Sequence)
            or len(update_limit) != 2):
        raise TypeError(f"update_limit must be (calls, seconds), e.g. (50, 60.0) for "
                        f"Slack's Tier 3, or None, got {update_limit!r}")
    try:
        return Limit(*update_limit)
    except ValueError as exc:
        raise ValueError(f"update_limit {tuple(update_limit)!r}: {exc}") from None


def _check_board(board, run_name, board_thread) -> None:
    if board is not None and not isinstance(board, str):
        raise TypeError(f"board must be a str (the board's name, e.g. 'lr-sweep') or None, "
                        f"got {type(board).__name__}")
    if board is not None and not board.strip():
        raise ValueError(f"board must be a non-empty name, e.g. 'lr-sweep', got {board!r}")
    if run_name is not None:
        if not isinstance(run_name, str):
            raise TypeError(f"run_name must be a str (a template such as 'lr={{lr}}') or "
                            f"None, got {type(run_name).__name__}")
        if not run_name.strip():
            raise ValueError(f"run_name must name the run, e.g. 'lr={{lr}}', got {run_name!r}")
        Template(run_name)  # raises ValueError on broken braces
        if board is None:
            raise ValueError("run_name names a run on a board: add board='NAME'")
    if not isinstance(board_thread, bool):
        raise TypeError(f"board_thread must be True or False, got {board_thread!r}")


def _check_keys(name: str, keys) -> Tuple[str, ...]:
    """None or a list of non-empty str (observation keys), as a tuple."""
    if keys is None:
        return ()
    if isinstance(keys, str) or not isinstance(keys, (list, tuple)):
        raise TypeError(f"{name} must be a list of str (observation keys such as "
                        f"'main/loss') or None, got {type(keys).__name__}")
    for key in keys:
        if not isinstance(key, str) or not key:
            raise TypeError(f"{name} must hold non-empty str, got {key!r} in {keys!r}")
    return tuple(keys)


def _check_plots(plots) -> Union[bool, Tuple[str, ...]]:
    if isinstance(plots, bool):
        return plots
    if (isinstance(plots, str) or not isinstance(plots, (list, tuple))
            or not all(isinstance(p, str) and p for p in plots)):
        raise TypeError(f"plots must be True/False or a list of file paths, got {plots!r}")
    return tuple(plots)


def _check_number(name: str, value, *, unit: str, integer: bool = False,
                  positive: bool = False) -> None:
    expected = "an int" if integer else "a number"
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise TypeError(f"{name} must be {expected} ({unit}), got "
                        f"{type(value).__name__} {value!r}")
    if math.isnan(value) or value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be {'> 0' if positive else '>= 0'} ({unit}), "
                         f"got {value!r}")
