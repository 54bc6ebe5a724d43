"""One run's report, whatever framework runs it: the one door of every flavour.

The Chainer extension, the pytorch-pfn-extras extension and the command-line
tool are thin glue around :class:`RunReport`: they :meth:`~RunReport.start`
it, hand it rows (:meth:`~RunReport.add`) and status changes
(:meth:`~RunReport.running`), and :meth:`~RunReport.end` it with an
:class:`~chainer_slack_report.outcome.Outcome`; they print locally when
:attr:`~RunReport.mode` says so.  It holds the message text
(:class:`~chainer_slack_report.rendering.message.ReportMessage`), in the
blocks layout its blocks
(:class:`~chainer_slack_report.rendering.blocks.BlocksMessage`) and, while
Slack takes the report, the live Slack message
(:class:`~chainer_slack_report.transport.live_message.LiveMessage`).
No Chainer here.
"""

from __future__ import annotations

import enum
import os
import re
import socket
import sys
import uuid
from typing import Callable, Iterable, List, Mapping, NamedTuple, Optional, Sequence

from .assembly import Assembly, ReportDescription
from .board.keeper import BoardKeeper
from .board.member import BOARD_RUN, join_board
from .guard.base import Guard
from .guard.stall import Stall, StallWatch, resumed_reply, stall_reply
from .guard.start import WATCHDOG_ENV, start_guard
from .job.ranks import Process, launcher_process
from .job.termination import TerminationHandler
from .options import ReportOptions
from .outcome import Outcome, Status
from .rendering.message import BUILTIN_PLACEHOLDERS, table_bytes
from .rendering.mrkdwn import escape
from .rendering.progress import Progress
from .rendering.template import Template
from .transport.client import report_client
from .transport.deliveries import FINAL_DELIVERIES, wait_for_final_reports
from .transport.live_message import LiveMessage
from .unreported import UnreportedKeys
from .warning import user_site, warn

__all__ = ["RunReport", "Mode", "MessageRef", "wait_for_final_reports", "MESSAGE_KEYS",
           "CurrentStdout", "resume_note", "run_info", "WATCHDOG_ENV"]

_TOKEN_PREFIXES = ("xoxb-", "xoxp-", "xoxa-", "xoxe.", "xoxe-", "xoxs-", "xapp-")


class Mode(enum.Enum):
    """Where a report goes."""

    SLACK = "slack"  #: the live Slack message shows it
    LOCAL = "local"  #: no token or channel: printed locally, as PrintReport does
    FELL_BACK = "fell back"  #: Slack refused for good mid-run: printed locally from then on
    SILENT = "silent rank"  #: not rank 0 of a job: reports nothing unless it fails


class _Phase(enum.Enum):
    NEW = "new"  # built, not started
    LIVE = "live"  # started: rows and status changes go to the message
    ENDING = "ending"  # ended; the final text is still being delivered in the background
    ENDED = "ended"  # ended; the final text was delivered, or given up


class MessageRef(NamedTuple):
    """Where a run's message is: what a snapshot stores to continue it."""

    channel_id: str  #: the channel ID ``chat.postMessage`` returned
    ts: str  #: the message's ``ts``


#: The names a run's :class:`MessageRef` is saved under in a snapshot / state dict.
MESSAGE_KEYS = ("slack_channel_id", "slack_ts")


class CurrentStdout:
    """``sys.stdout`` as it is at each write (pytest's capture, ``redirect_stdout``):
    the default ``out`` of the flavours' local printing."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def resume_note(where: str) -> str:
    """The thread reply of a resumed run, e.g. ``where="iteration 8, epoch 2"``."""
    info = run_info()
    return f"Resumed from {where} on {info['hostname']}:{info['pwdshort']}$ {info['command']}"


class RunReport:
    """One run's report: the checked options, the message text, the live message.

    Args:
        access_token (str or None): The bot token; None reads ``SLACK_BOT_TOKEN``.
            Used when ``options.client`` has no token of its own.
        channel_id (str or None): Channel ID (``C…``) or name; None reads
            ``SLACK_CHANNEL_ID``.
        entries (list of str): Observation keys shown as table columns.
        options (ReportOptions or None): Everything else (None: the defaults).
        process (Process or None): The rank and size of the job (None: from
            the launcher's environment, see :mod:`chainer_slack_report.job.ranks`).
        command (list of str or None): The command shown as ``{cmd} {args}``
            (None: ``sys.argv``).
        show_header (bool): Show the table's header row.

    Raises:
        TypeError: An argument of the wrong type.
        ValueError: An argument of the right type but an unusable value.

    Never raises once built: faults at run time give one
    :class:`~chainer_slack_report.SlackReportWarning` each.
    """

    def __init__(self, access_token: Optional[str], channel_id: Optional[str],
                 entries: Optional[Sequence[str]], options: Optional[ReportOptions] = None, *,
                 process: Optional[Process] = None, command: Optional[Sequence[str]] = None,
                 show_header: bool = True) -> None:
        options = options if options is not None else ReportOptions()
        if not isinstance(options, ReportOptions):
            raise TypeError(f"options must be a ReportOptions, got {type(options).__name__}")
        entries = _check_entries(entries)
        if channel_id is not None and not isinstance(channel_id, str):
            raise TypeError(f"channel_id must be a str (a channel ID such as C0123456789, "
                            f"or a name) or None, got {type(channel_id).__name__}")
        if channel_id is not None and not channel_id.strip():
            raise ValueError(f"channel_id must be a non-empty str (a channel ID such as "
                             f"C0123456789, or a name), got {channel_id!r}")
        if access_token is not None and not isinstance(access_token, str):
            raise TypeError(f"access_token must be a str or None, got "
                            f"{type(access_token).__name__}")
        header_bytes = table_bytes(entries)
        if header_bytes * 2 > options.max_bytes:
            raise ValueError(f"max_bytes={options.max_bytes} cannot hold the table header and "
                             f"a row ({header_bytes} bytes for the header of {len(entries)} "
                             f"entries); raise max_bytes or show fewer entries")
        template = Template(options.template)

        self.entries = entries
        #: The checked options.
        self.options = options
        #: This process's rank and its job's size (rank 0 reports; with a board,
        #: every process whose rank only the launcher's environment tells is a run).
        self.process = process if process is not None else _launcher_rank(options.board)
        #: The channel ID or name given (or ``$SLACK_CHANNEL_ID``).
        self.channel = (channel_id or os.environ.get("SLACK_CHANNEL_ID") or "").strip()
        facts = run_info(self.process.size, command)
        if options.board is not None:  # the run's id on its board (its watchdog's too)
            facts[BOARD_RUN] = uuid.uuid4().hex
        # What the report shows, described once: the watchdog builds the same from it.
        self._description, self._untravelled = ReportDescription.of(
            channel=self.channel, entries=entries, options=options, run_info=facts,
            show_header=show_header)
        self._assembly = Assembly(self._description, options)
        self._message = self._assembly.message
        self._token = access_token or os.environ.get("SLACK_BOT_TOKEN") or None
        self._live: Optional[LiveMessage] = None
        self._job_message: Optional[MessageRef] = None
        self._phase = _Phase.NEW
        self._signals = TerminationHandler(self._on_signal)
        #: Who announces the run if this process cannot (:mod:`~chainer_slack_report.guard`).
        self._guard = Guard()
        self._stall: Optional[StallWatch] = None  # finds a hung run (stall_after)
        self._unstalled = Status.TRAINING  # the status a stall replaced
        self._snapshot_waited = False
        #: The user's line (this constructor's caller) that the warnings of the
        #: threads talking to Slack point at.
        self._site = user_site()
        self._unreported = UnreportedKeys({
            "entries": entries, "sparklines": options.sparklines,
            "chart": [key for group in options.chart for key in group]})
        self._board: Optional[BoardKeeper] = None  # this run's part in options.board
        self._argv = list(command) if command else list(sys.argv)

        unknown = sorted(template.names - BUILTIN_PLACEHOLDERS - set(entries))
        if unknown:
            warn(f"template placeholders {', '.join('{' + n + '}' for n in unknown)} are "
                 f"neither built in ({', '.join(sorted(BUILTIN_PLACEHOLDERS))}) nor in "
                 f"entries; they are kept as written unless an observation of that name "
                 f"is reported")
        token = self._token or getattr(options.client, "token", None)
        if token and not token.startswith(_TOKEN_PREFIXES):
            warn("access_token does not look like a Slack token (a bot token starts "
                 "with xoxb-)")
        #: What the report lacks to go to Slack, e.g. ``["bot token (SLACK_BOT_TOKEN)"]``.
        self.missing: List[str] = [name for name, value in (
            ("bot token (SLACK_BOT_TOKEN)", token),
            ("channel (SLACK_CHANNEL_ID)", self.channel)) if not value]
        if self.process.rank > 0:
            self._mode = Mode.SILENT
        elif not self.missing:
            self._mode = Mode.SLACK
        else:
            warn(f"SlackReport has no {' and '.join(self.missing)}: the report is printed "
                 f"locally instead")
            self._mode = Mode.LOCAL

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.mode.value} channel={self.channel!r}>"

    # -- what the flavours read ----------------------------------------------------
    @property
    def mode(self) -> Mode:
        """Where the report goes now (Slack refusing for good makes SLACK read FELL_BACK)."""
        if self._mode is Mode.SLACK and self._live is not None and self._live.stopped:
            return Mode.FELL_BACK
        return self._mode

    @property
    def live(self) -> Optional[LiveMessage]:
        """The live Slack message; None before :meth:`start` and without Slack."""
        return self._live

    @property
    def status(self) -> Status:
        """The run's status now."""
        return self._message.status

    @property
    def ended(self) -> bool:
        """True once :meth:`end` was called (or a signal ended the run)."""
        return self._phase in (_Phase.ENDING, _Phase.ENDED)

    @property
    def delivered(self) -> bool:
        """True once Slack has the final text (and the thread reply, if any)."""
        return self._live is not None and self._live.delivered

    @property
    def exit_timeout(self) -> float:
        """Seconds the interpreter waits at exit for a final text still on its way."""
        return self.options.exit_timeout

    @property
    def message_ref(self) -> Optional[MessageRef]:
        """The live message's channel ID and ``ts`` once posted, else None."""
        live = self._live
        if live is None or not live.ts or not live.channel_id:
            return None
        return MessageRef(live.channel_id, live.ts)

    # -- the run's calls (training thread; none blocks on Slack but the ends) ---------
    def start(self, clock: Callable[[], float], *, resume: Optional[MessageRef] = None,
              resume_note: Optional[str] = None, watch_signals: bool = True,
              progress: Optional[Progress] = None, status: Status = Status.STARTED) -> None:
        """Start reporting: the worker posts the message (once).

        Args:
            clock: ``clock() -> float``, seconds since the run started (for
                ``{elapsed}``); called on the worker thread.
            resume: The message of the run this one resumes: it is edited
                instead of posting a new one (if it can no longer be edited, a
                new message says it continues an earlier one).
            resume_note: Posted in the resumed message's thread (plain text).
            watch_signals: On SIGTERM/SIGHUP deliver ``[Terminated]`` before
                the process ends (main thread only).
            progress: The run's progress, sampled by the caller
                (``{progress}``, ``{eta}``).
            status: The first status (``[Started]``; a command: ``[Running]``).
        """
        if self._phase is not _Phase.NEW:
            return
        self._phase = _Phase.LIVE
        self._message.clock = clock
        self._message.progress = progress
        self._message.show(Status.TRAINING if resume is not None else status)
        if self._mode is not Mode.SLACK:
            return
        # In a job of several processes the clock alone never edits the message:
        # rank 0 must not overwrite the [Failed] of another rank while it waits.
        refresh = self.options.refresh_interval if self.process.size == 1 else None
        self._live = self._live_message(resume, refresh)
        if self.options.board is not None:
            self._board = join_board(self._message, self.options, self._live, self.channel,
                                     self._argv, self._description.run_info[BOARD_RUN])
        if resume is not None and resume_note:
            note = escape(resume_note)
            self._live.reply(lambda: note)
        if watch_signals:
            self._signals.install()
        self._guard = start_guard(self._description, self._assembly, self._live, site=self._site,
                                  untravelled=self._untravelled,
                                  elapsed=lambda: self._message.elapsed)
        self._guard.status(self._message.status, self._message.elapsed)
        if resume is not None:
            self._guard.posted(*resume)
        if self.options.stall_after is not None:  # a hung run: [Stalled] and one reply
            self._stall = StallWatch(self.options.stall_after, on_stall=self._stalled)
        self._live.start()

    def add(self, observations: Iterable[Mapping[str, object]]) -> None:
        """New log rows (O(1) each; no I/O).  Nothing is kept in local mode."""
        rows = list(observations)
        if self._mode is not Mode.SILENT:
            self._unreported.see(rows)  # a typo in entries: one warning, early
        if self._mode is Mode.LOCAL or self.ended:
            return
        if rows:
            self._guard.rows(rows)  # first: the watchdog never lags the message
            self._assembly.push(rows)
            if self._stall is not None:
                self._resumed(self._stall.row())
            self.refresh()

    def running(self, status: Status = Status.TRAINING) -> None:
        """The run is running (``[Training]``); a change is sent, a repeat is not."""
        if self._message.status is Status.STALLED and not status.final:
            return  # only rows end a stall
        if self._phase is _Phase.LIVE and self._message.show(status):
            self._guard.status(status, self._message.elapsed)
            self.refresh()

    def refresh(self) -> None:
        """Something the message shows has changed (O(1), no I/O)."""
        if self._live is not None:
            self._live.touch()

    def join_job(self, ref: Optional[MessageRef]) -> None:
        """Where rank 0 posted the job's message (another rank's failure shows in it)."""
        self._job_message = ref

    def wait_posted(self, timeout: Optional[float]) -> Optional[MessageRef]:
        """Wait up to ``timeout`` seconds (None: as long as it takes) for the message to
        exist; its place, or None."""
        if self._live is None or not self._live.wait_posted(timeout):
            return None
        return self.message_ref

    def snapshot_ref(self) -> Optional[MessageRef]:
        """The message a snapshot (or state dict) stores.

        If Slack has not answered the first post yet, waits for it — at most
        ``flush_timeout`` seconds, once a run — so that a run resumed from a
        snapshot taken that early continues the same message instead of
        posting a second one.  None without a message.
        """
        ref = self.message_ref
        if ref is None and self._phase is _Phase.LIVE and not self._snapshot_waited:
            self._snapshot_waited = True  # Slack down: later snapshots do not wait again
            ref = self.wait_posted(self.options.flush_timeout)
        return ref

    def end(self, outcome: Outcome, *, files: Sequence[str] = (),
            background: bool = True) -> bool:
        """Deliver how the run ended; wait at most ``flush_timeout`` seconds.  Once.

        Args:
            outcome: How the run ended.  In a job of several processes a
                failure names this rank.
            files: Paths (e.g. plots) to upload into the message's thread
                after the final text (best effort, scope ``files:write``).
            background: If Slack has not taken the final text within
                ``flush_timeout`` (rate limits, a slow Slack), keep delivering
                it in the background; the interpreter waits for it at exit
                for at most ``exit_timeout`` seconds (see
                :func:`~chainer_slack_report.wait_for_final_reports`).  False,
                or ``exit_timeout=0``: give up at once.

        Returns:
            bool: True when Slack shows the final text.  When Slack refused
            the report, or it is given up, one warning is given and the final
            text is written to stderr.  Never raises.
        """
        if self.ended:
            return self.delivered
        self._signals.restore()
        if self._stall is not None:
            self._stall.stop()
        first_phase, self._phase = self._phase, _Phase.ENDING
        rank, size = self.process
        if size > 1 and outcome.status is Status.FAILED:
            outcome = Outcome(outcome.status, f"Rank {rank} of {size} failed:\n{outcome.detail}")
        if first_phase is _Phase.NEW:
            self._message.clock = lambda: 0.0
        elapsed = self._message.elapsed
        self._message.end(outcome, elapsed)  # the clock stops here
        # delivered by the watchdog if this process dies now
        self._guard.ended(outcome.status, outcome.detail, elapsed)
        if self._mode is Mode.SILENT:
            return self._report_rank_failure(outcome)
        live = self._live
        if live is None:  # local, or never started
            self._phase = _Phase.ENDED
            return False
        if self._board is not None:
            self._board.end()
        on_board = self._board is not None and outcome.status is Status.COMPLETED
        live.close(self._message.reply_text if self._message.mentions and not on_board
                   else None, files)  # on a board a completion is told once, for all runs
        if live.wait(self.options.flush_timeout) or self._phase is _Phase.ENDED:
            self._ended()  # (a signal during the wait may have given it up)
            return self.delivered
        if size > 1 and outcome.status is Status.FAILED:
            background = False  # chainermn.global_except_hook aborts: no exit handlers run
        if live.stopped or not background or self.options.exit_timeout <= 0:
            self.give_up()
            return False
        warn(f"SlackReport: Slack has not taken the final report within flush_timeout="
             f"{self.options.flush_timeout:g} s; it is delivered in the background, and at "
             f"exit the interpreter waits up to exit_timeout={self.options.exit_timeout:g} s "
             f"for it")
        FINAL_DELIVERIES.add(self)
        return False

    def settle(self, timeout: Optional[float] = None) -> bool:
        """Wait up to ``timeout`` seconds (None: ``exit_timeout``) for a final text still
        on its way; give it up if Slack has not taken it by then.  True if delivered."""
        if self._phase is not _Phase.ENDING:
            return self.delivered
        limit = self.options.exit_timeout if timeout is None else timeout
        if self._live.wait(limit):
            self._ended()
            return True
        self.give_up()
        return False

    def give_up(self) -> None:
        """Stop delivering the final text: warn once and write it to stderr."""
        live = self._live
        if self._phase is not _Phase.ENDING or live is None:
            return
        self._ended()
        live.abandon()
        reason = ("Slack refused it earlier (see the warning above)" if live.stopped else
                  "Slack did not take it in time")
        warn(f"SlackReport: the final report is written to stderr: {reason}")
        text = live.final_text or self._message.render(live.max_bytes)
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    # -- helpers ---------------------------------------------------------------------
    def _ended(self) -> None:
        """The final text is delivered or given up: nothing is left to guard."""
        self._phase = _Phase.ENDED
        if self._board is not None:  # its final row, and the board if this run leads
            if not self._board.wait(self.options.flush_timeout):
                self._board.finish_at_exit(self.options.exit_timeout)
        guard, self._guard = self._guard, Guard()
        guard.done(wait=self.options.http_timeout + 1.0)  # after its first try to delete
                                                          # the lost-host notice

    def _stalled(self, stall: Stall) -> None:
        """(stall thread) No new row for ``stall_after``: ``[Stalled]`` and one reply."""
        live = self._live
        if self._phase is not _Phase.LIVE or live is None:
            return
        self._unstalled = self._message.status  # [Training], or a command's [Running]
        self._message.show(Status.STALLED)
        message = self._message
        live.reply(lambda: stall_reply(stall, mentions=message.mentions.render(),
                                       summary=message.latest_summary()))

    def _resumed(self, stall: Optional[Stall]) -> None:
        """Rows came again after ``stall`` (if any): ``[Training]``, and the thread says so."""
        if stall is None or self._live is None or self._message.status is not Status.STALLED:
            return
        self._message.show(self._unstalled)
        text = resumed_reply(stall, self._stall.last_row, self._unstalled)
        self._live.reply(lambda: text)

    def _report_rank_failure(self, outcome: Outcome) -> bool:
        """A rank other than 0 failed: show it in the job's message (or a new one)."""
        if outcome.status is not Status.FAILED or self.missing:
            self._phase = _Phase.ENDED
            return False
        self._live = self._live_message(self._job_message, refresh=None)
        self._live.start()
        self._live.close(self._message.reply_text if self._message.mentions else None)
        if self._live.wait(self.options.flush_timeout):  # the job may be aborted right after
            self._phase = _Phase.ENDED
            return True
        self.give_up()
        return False

    def _live_message(self, ref: Optional[MessageRef], refresh: Optional[float]) -> LiveMessage:
        """A live message (a new one, or ``ref`` continued) with its shared budget."""
        options = self.options
        client = report_client(options.client, self._token, options.http_timeout)
        assembly = self._assembly
        return assembly.live_message(client, ref=ref, refresh=refresh,
                                     budget=assembly.budget(client),
                                     on_posted=self._posted,
                                     after_render=lambda: self._guard.rendered(),
                                     site=self._site,
                                     thread_ts=(self._board_thread if options.board
                                                and options.board_thread else None))

    def _posted(self, channel_id: str, ts: str) -> None:
        """(worker thread) The run's message is posted: its guard and its board know."""
        self._guard.posted(channel_id, ts)
        if self._board is not None:
            self._board.own_posted()

    def _board_thread(self) -> Optional[str]:
        """(worker thread) The board message's ts to post the run's message under."""
        return self._board.thread_ts() if self._board is not None else ""

    def _on_signal(self, signum: int) -> None:
        """SIGTERM/SIGHUP: ``[Terminated]`` within ``flush_timeout``, before the process ends."""
        if self._phase is _Phase.LIVE:
            self.end(Outcome.terminated(signum), background=False)
        elif self._phase is _Phase.ENDING:  # the signal came while end() was waiting
            self.settle(self.options.flush_timeout)


_SILENT_RANK_WARNED = []


def _launcher_rank(board: Optional[str]) -> Process:
    """The process's rank as the launcher's environment tells it: with a board every
    process is a run of its own; without, a silent rank says so (once)."""
    process = launcher_process()
    if board is not None:
        return Process(0, 1)
    if process.rank > 0 and not _SILENT_RANK_WARNED:
        _SILENT_RANK_WARNED.append(True)
        warn(f"SlackReport: the launcher's environment makes this process rank "
             f"{process.rank} of {process.size} of one job, so it reports nothing unless it "
             f"fails (rank 0 reports the job). If the processes are separate runs (a sweep), "
             f"give board='NAME' (--board NAME): each process is then a run of its own, all "
             f"shown in one board message")
    return process


def run_info(processes: int = 1, command: Optional[Sequence[str]] = None) -> dict:
    """Values of ``{hostname}``, ``{pwd}``, ``{pwdshort}``, ``{cmd}``, ``{args}``,
    ``{command}``, ``{ranks}`` (plain text) for a job of ``processes`` processes running
    ``command`` (default ``sys.argv``)."""
    pwd = os.getcwd()
    home = os.path.expanduser("~")
    pwdshort = "~" + pwd[len(home):] if home not in ("", "/") and (
        pwd == home or pwd.startswith(home + os.sep)) else pwd
    argv = list(command) if command else (sys.argv or [""])
    args = " ".join(_quote(a) for a in argv[1:])
    return {"hostname": socket.gethostname(), "pwd": pwd, "pwdshort": pwdshort,
            "cmd": argv[0], "args": args, "command": f"{argv[0]} {args}".rstrip(),
            "ranks": f" · {processes} processes" if processes > 1 else ""}


def _quote(arg: str) -> str:
    return arg if re.fullmatch(r"[\w@%+=:,./-]*", arg) and arg else repr(arg)


def _check_entries(entries) -> list:
    if isinstance(entries, str) or not isinstance(entries, (list, tuple)):
        raise TypeError(f"entries must be a list of str (observation keys such as "
                        f"'main/loss'), got {type(entries).__name__}")
    if not entries:
        raise ValueError("entries is empty; give the observation keys to show, e.g. "
                         "['epoch', 'main/loss']")
    for entry in entries:
        if not isinstance(entry, str) or not entry:
            raise TypeError(f"entries must be non-empty str, got {entry!r} in {entries!r}")
    return list(entries)
