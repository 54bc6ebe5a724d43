"""One run's report, whatever framework runs it: the core of every flavour.

:class:`RunReport` checks the arguments, holds the message text
(:class:`~chainer_slack_report.rendering.message.ReportMessage`) and, while Slack takes
the report, the live Slack message
(:class:`~chainer_slack_report.transport.live_message.LiveMessage`).  Its :attr:`mode`
says where the report goes.  The Chainer extension, the pytorch-pfn-extras
extension and the command-line tool are thin glue around it: they hand over
rows and status changes, and print locally when :attr:`RunReport.mode` says so.
No Chainer here.
"""

from __future__ import annotations

import atexit
import copy
import enum
import os
import re
import signal
import socket
import sys
import threading
import time
import uuid
from typing import Callable, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Union

from .job.ranks import Process, launcher_process
from .job.termination import TerminationHandler
from .rendering.mentions import Mentions, MentionsArg
from .rendering.message import (
    BUILTIN_PLACEHOLDERS,
    COMPLETED,
    DEFAULT_TEMPLATE,
    FAILED,
    FINAL_STATUSES,
    TERMINATED,
    TRAINING,
    ReportMessage,
    format_error,
    table_bytes,
)
from .rendering.mrkdwn import escape
from .rendering.normalizers import Normalizer, make_policy
from .rendering.progress import Progress
from .rendering.template import Template
from .transport.budget import Limit, RunBudget, SharedBudget
from .transport.live_message import LiveMessage
from .transport.pacing import Pacing
from .warning import warn

__all__ = ["RunReport", "Mode", "MessageRef", "wait_for_final_reports", "MESSAGE_KEYS",
           "CurrentStdout", "resume_note"]

_TOKEN_PREFIXES = ("xoxb-", "xoxp-", "xoxa-", "xoxe.", "xoxe-", "xoxs-", "xapp-")
_MIN_MAX_BYTES = 200


class Mode(enum.Enum):
    """Where a report goes."""

    SLACK = "slack"  #: the live Slack message shows it
    LOCAL = "local"  #: no token or channel: printed locally, as PrintReport does
    FELL_BACK = "fell back"  #: Slack refused for good mid-run: printed locally from then on
    SILENT = "silent rank"  #: not rank 0 of a job: reports nothing unless it fails


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
    """One run's report: checked arguments, the message text, the live message.

    Args are those of :class:`chainer_slack_report.SlackReport` (see there),
    all keyword-only except the first three, and:

    Args:
        process (Process or None): The rank and size of the job (None: from
            the launcher's environment, see :mod:`chainer_slack_report.job.ranks`).
        command (list of str or None): The command shown as ``{cmd} {args}``
            (None: ``sys.argv``).
        show_header (bool): Show the table's header row.

    Raises:
        TypeError: An argument of the wrong type.
        ValueError: An argument of the right type but an unusable value.
    """

    def __init__(self, access_token: Optional[str], channel_id: Optional[str],
                 entries: Optional[Sequence[str]], *, template: str = DEFAULT_TEMPLATE,
                 finish_mentions: MentionsArg = None,
                 len_normalizer: Union[str, Normalizer] = "thin_out", client=None,
                 max_bytes: int = 4000, min_interval: float = 1.2,
                 flush_timeout: float = 10.0, http_timeout: float = 10.0,
                 refresh_interval: float = 30.0, exit_timeout: float = 120.0,
                 update_limit: Optional[Sequence[float]] = (50, 60.0),
                 process: Optional[Process] = None, command: Optional[Sequence[str]] = None,
                 show_header: bool = True, sparklines: Optional[Sequence[str]] = None) -> None:
        entries = _check_entries(entries)
        sparklines = _check_keys("sparklines", sparklines)
        _check_number("max_bytes", max_bytes, unit="UTF-8 bytes", integer=True)
        _check_number("min_interval", min_interval, unit="seconds")
        _check_number("flush_timeout", flush_timeout, unit="seconds")
        _check_number("http_timeout", http_timeout, unit="seconds", positive=True)
        _check_number("refresh_interval", refresh_interval, unit="seconds", positive=True)
        _check_number("exit_timeout", exit_timeout, unit="seconds")
        limit = _check_limit(update_limit)
        template_ = Template(template)
        if max_bytes < _MIN_MAX_BYTES:
            raise ValueError(f"max_bytes must be at least {_MIN_MAX_BYTES} (UTF-8 bytes) to "
                             f"hold a header and a row, got {max_bytes}")
        if client is not None and not callable(getattr(client, "chat_postMessage", None)):
            raise TypeError(f"client must be a slack_sdk.WebClient, got "
                            f"{type(client).__name__}")
        if channel_id is not None and not isinstance(channel_id, str):
            raise TypeError(f"channel_id must be a str (a channel ID such as C0123456789, "
                            f"or a name) or None, got {type(channel_id).__name__}")
        if channel_id is not None and not channel_id.strip():
            raise ValueError(f"channel_id must be a non-empty str (a channel ID such as "
                             f"C0123456789, or a name), got {channel_id!r}")
        if access_token is not None and not isinstance(access_token, str):
            raise TypeError(f"access_token must be a str or None, got "
                            f"{type(access_token).__name__}")
        mentions = Mentions(finish_mentions)
        policy = make_policy(len_normalizer, max_bytes)
        header_bytes = table_bytes(entries)
        if header_bytes * 2 > max_bytes:
            raise ValueError(f"max_bytes={max_bytes} cannot hold the table header and a row "
                             f"({header_bytes} bytes for the header of {len(entries)} entries); "
                             f"raise max_bytes or show fewer entries")

        self.entries = entries
        self.max_bytes = max_bytes
        self.min_interval = float(min_interval)
        self.flush_timeout = float(flush_timeout)
        self.refresh_interval = float(refresh_interval)
        self.exit_timeout = float(exit_timeout)
        self.update_limit: Optional[Limit] = limit
        #: This process's rank and its job's size (rank 0 reports).
        self.process = process if process is not None else launcher_process()
        #: The job's message, shared by rank 0 (see :meth:`wait_posted`).
        self.job_message: Optional[MessageRef] = None
        self.message = ReportMessage(template_, entries, policy,
                                     run_info(self.process.size, command), mentions,
                                     show_header=show_header, sparklines=sparklines)
        self.channel = (channel_id or os.environ.get("SLACK_CHANNEL_ID") or "").strip()
        self.live: Optional[LiveMessage] = None
        self._client = client
        self._token = access_token or os.environ.get("SLACK_BOT_TOKEN") or None
        self._http_timeout = http_timeout
        self._signals = TerminationHandler(self._on_signal)

        unknown = sorted(template_.names - BUILTIN_PLACEHOLDERS - set(entries))
        if unknown:
            warn(f"template placeholders {', '.join('{' + n + '}' for n in unknown)} are "
                 f"neither built in ({', '.join(sorted(BUILTIN_PLACEHOLDERS))}) nor in "
                 f"entries; they are kept as written unless an observation of that name "
                 f"is reported")
        token = self._token or getattr(client, "token", None)
        if token and not token.startswith(_TOKEN_PREFIXES):
            warn("access_token does not look like a Slack token (a bot token starts "
                 "with xoxb-)")
        self._can_post = bool(token and self.channel)
        if self.process.rank > 0:
            self._mode = Mode.SILENT
        elif self._can_post:
            self._mode = Mode.SLACK
        else:
            missing = " and ".join(n for n, v in (("bot token (SLACK_BOT_TOKEN)", token),
                                                  ("channel (SLACK_CHANNEL_ID)", self.channel))
                                   if not v)
            warn(f"SlackReport has no {missing}: the report is printed locally instead")
            self._mode = Mode.LOCAL

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.mode.value} channel={self.channel!r}>"

    # -- the training thread's calls -----------------------------------------------
    def start(self, clock: Callable[[], float], *, resume: Optional[MessageRef] = None,
              resume_note: Optional[str] = None, watch_signals: bool = True,
              progress: Optional[Progress] = None) -> None:
        """Start reporting: the worker posts the ``[Started]`` message.

        Args:
            clock: ``clock() -> float``, seconds since the run started (for
                ``{elapsed}``); called on the worker thread.
            resume: The message of the run this one resumes: it is edited
                instead of posting a new one (if it can no longer be edited, a
                new message says it continues an earlier one).
            resume_note: Posted in the resumed message's thread (plain text).
            watch_signals: On SIGTERM/SIGHUP deliver ``[Terminated]`` before
                the process ends (main thread only; see :meth:`finish`).
            progress: The run's progress, sampled by the caller
                (``{progress}``, ``{eta}``).
        """
        self.message.clock = clock
        self.message.progress = progress
        if self._mode is not Mode.SLACK or self.live is not None:
            return
        # In a job of several processes the clock alone never edits the message:
        # rank 0 must not overwrite the [Failed] of another rank while it waits.
        refresh = self.refresh_interval if self.process.size == 1 else None
        self.live = self._live_message(resume, refresh)
        if resume is not None:
            self.message.set(status=TRAINING)
            if resume_note:
                note = escape(resume_note)
                self.live.reply(lambda: note)
        if watch_signals:
            self._signals.install()
        self.live.start()

    def _live_message(self, ref: Optional[MessageRef], refresh: Optional[float]) -> LiveMessage:
        """A live message (a new one, or ``ref`` continued) with its shared budget."""
        mentions = self.message.mentions
        client = self._make_client()
        budget = None
        if self.update_limit is not None:
            shared = SharedBudget(getattr(client, "token", None) or "",
                                  getattr(client, "base_url", None) or _SLACK_API_URL)
            budget = RunBudget(shared, self.update_limit, uuid.uuid4().hex)
            budget.join()
        return LiveMessage(
            client, self.channel, self.message.render,
            pacing=Pacing(min_interval=self.min_interval), max_bytes=self.max_bytes,
            prepare=[mentions.resolve] if mentions.names else [], refresh_after=refresh,
            name=f"SlackReport-{self.channel}", budget=budget,
            channel_id=ref.channel_id if ref else None, ts=ref.ts if ref else None)

    def wait_posted(self, timeout: float) -> Optional[MessageRef]:
        """Wait up to ``timeout`` seconds for the message to exist; its place, or None.

        Rank 0 shares it with the other ranks (:attr:`job_message`), so that a
        failure on any rank shows in the job's one message.
        """
        if self.live is None or not self.live.wait_posted(timeout):
            return None
        return self.message_ref

    @property
    def message_ref(self) -> Optional[MessageRef]:
        """The live message's channel ID and ``ts`` once posted, else None."""
        live = self.live
        if live is None or not live.ts or not live.channel_id:
            return None
        return MessageRef(live.channel_id, live.ts)

    def add(self, observations: Iterable[Mapping[str, object]]) -> None:
        """New log rows (O(1) each; no I/O).  Nothing is kept in local mode."""
        if self._mode is Mode.LOCAL:
            return
        rows = list(observations)
        if rows:
            self.message.push(rows)
            self._touch()

    def set_status(self, status: str) -> None:
        """A new status such as ``[Training]``; a change is sent, a repeat is not."""
        if self._mode is not Mode.LOCAL and self.message.set(status=status):
            self._touch()

    def training(self) -> None:
        """The trainer is running: ``[Training]`` unless the run has already ended."""
        if not self.message.is_final:
            self.set_status(TRAINING)

    def fail(self, exc: BaseException, tb=None) -> None:
        """Record a crash; :meth:`finish` delivers ``[Failed]`` with its traceback tail."""
        error = format_error(exc, tb)
        rank, size = self.process
        if size > 1:
            error = f"Rank {rank} of {size} failed:\n{error}"
        self.message.set(status=FAILED, error=error)

    def finish(self, status: str = COMPLETED, *, background: bool = True,
               files: Sequence[str] = ()) -> bool:
        """Deliver the final status; wait at most ``flush_timeout`` seconds.

        Args:
            status: The outcome, unless :meth:`fail` already recorded ``[Failed]``.
            background: If Slack has not taken the final text within
                ``flush_timeout`` (rate limits, a slow Slack), keep delivering
                it in the background; the interpreter waits for it at exit
                for at most ``exit_timeout`` seconds (see
                :func:`wait_for_final_reports`).  False, or ``exit_timeout=0``:
                give up at once.
            files: Paths (e.g. plots) to upload into the message's thread
                after the final text (best effort, scope ``files:write``).

        Returns:
            bool: True when Slack shows the final text.  When Slack refused
            the report, or it is given up, one warning is given and the final
            text is written to stderr.  Never raises.
        """
        self._signals.restore()
        if self._mode is Mode.SILENT:
            return self._report_rank_failure()
        live = self.live
        if live is None or live.closed:
            return bool(live and live.delivered)
        if self.message.status not in FINAL_STATUSES:
            self.message.set(status=status)
        self.message.set(elapsed=self.message.elapsed)  # the clock stops here
        reply = self.message.reply_text if self.message.mentions else None
        live.close(reply, files)
        if live.wait(self.flush_timeout):
            self._leave_budget()
            return True
        if self.process.size > 1 and self.message.status == FAILED:
            background = False  # chainermn.global_except_hook aborts: no exit handlers run
        if live.stopped or not background or self.exit_timeout <= 0:
            self._give_up()
            return False
        warn(f"SlackReport: Slack has not taken the final report within flush_timeout="
             f"{self.flush_timeout:g} s; it is delivered in the background, and at exit "
             f"the interpreter waits up to exit_timeout={self.exit_timeout:g} s for it")
        _defer(self)
        return False

    def _report_rank_failure(self) -> bool:
        """A rank other than 0 failed: show it in the job's message (or a new one)."""
        if self.message.status != FAILED or not self._can_post or self.live is not None:
            return False
        self.message.set(elapsed=self.message.elapsed)
        self.live = self._live_message(self.job_message, refresh=None)
        self.live.start()
        self.live.close(self.message.reply_text if self.message.mentions else None)
        if self.live.wait(self.flush_timeout):  # the job may be aborted right after this
            self._leave_budget()
            return True
        self._give_up()
        return False

    def _leave_budget(self) -> None:
        """This run makes no more calls: its share of the budget goes to the others."""
        if self.live is not None and self.live.budget is not None:
            self.live.budget.leave()

    def _give_up(self) -> None:
        """Stop delivering; warn once and write the final text to stderr."""
        live = self.live
        live.abandon()
        self._leave_budget()
        reason = ("Slack refused it earlier (see the warning above)" if live.stopped else
                  "Slack did not take it in time")
        warn(f"SlackReport: the final report is written to stderr: {reason}")
        text = live.final_text or self.message.render(live.max_bytes)
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def _on_signal(self, signum: int) -> None:
        """SIGTERM/SIGHUP: ``[Terminated]`` within ``flush_timeout``, before the process ends."""
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        live = self.live
        if live is None:
            return
        if not live.closed:
            self.message.set(status=TERMINATED, error=f"Terminated by {name} ({signum})")
            self.finish(TERMINATED, background=False)
        elif not live.ended and not live.wait(self.flush_timeout):
            self._give_up()  # the signal came while finish() was waiting

    @property
    def mode(self) -> Mode:
        """Where the report goes now (Slack refusing for good turns SLACK into FELL_BACK)."""
        if self._mode is Mode.SLACK and self.live is not None and self.live.stopped:
            self._mode = Mode.FELL_BACK
        return self._mode

    # -- helpers ---------------------------------------------------------------------
    def _touch(self) -> None:
        if self.live is not None:
            self.live.touch()

    def _make_client(self):
        client = self._client
        if client is None:
            from slack_sdk import WebClient

            return WebClient(token=self._token, timeout=self._http_timeout,
                             base_url=os.environ.get(API_URL_ENV) or _SLACK_API_URL)
        if not getattr(client, "token", None) and self._token:
            client = copy.copy(client)  # the user's client stays as it was
            client.token = self._token
        return _without_rate_limit_retries(client)


def _without_rate_limit_retries(client):
    """``client``, or a copy of it without slack_sdk's ``RateLimitErrorRetryHandler``.

    That handler sleeps for ``Retry-After`` inside the call and resends the
    request: on the worker it would hide Slack's 429 from the rate budget that
    every run of the token shares, and resend a stale text.  The report
    handles 429s itself (see :mod:`~chainer_slack_report.transport.pacing`); the
    user's client object stays as it was.
    """
    from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

    handlers = list(getattr(client, "retry_handlers", None) or [])
    kept = [h for h in handlers if not isinstance(h, RateLimitErrorRetryHandler)]
    if len(kept) == len(handlers):
        return client
    client = copy.copy(client)
    client.retry_handlers = kept
    return client


# -- final reports still on their way at exit ----------------------------------------------
_deferred: List[RunReport] = []
_deferred_lock = threading.Lock()


def _defer(report: RunReport) -> None:
    with _deferred_lock:
        if not _deferred:
            atexit.register(_wait_at_exit)
        _deferred.append(report)


def wait_for_final_reports(timeout: Optional[float] = None) -> bool:
    """Wait for final reports still being delivered in the background.

    A final report that Slack did not take within ``flush_timeout`` (e.g. a
    long ``Retry-After``) is delivered in the background.  At exit the
    interpreter calls this with each report's ``exit_timeout``; call it
    yourself to wait earlier (e.g. at the end of a notebook cell).  Reports
    not delivered in time are given up: their final text goes to stderr.

    Args:
        timeout: Seconds to wait at most; None: each report's ``exit_timeout``.

    Returns:
        bool: True if every final report reached Slack.
    """
    with _deferred_lock:
        reports = list(_deferred)
        _deferred.clear()
    start = time.monotonic()
    all_delivered = True
    for report in reports:
        limit = report.exit_timeout if timeout is None else timeout
        remaining = max(0.0, start + limit - time.monotonic())
        if report.live.wait(remaining):
            report._leave_budget()
        else:
            report._give_up()
            all_delivered = False
    return all_delivered


def _wait_at_exit() -> None:
    with _deferred_lock:
        waiting = [r for r in _deferred if not r.live.ended]
    if waiting:
        longest = max(r.exit_timeout for r in waiting)
        sys.stderr.write(f"chainer_slack_report: waiting up to {longest:g} s for Slack to "
                         f"take the final report of {len(waiting)} run(s) "
                         f"(Ctrl-C skips this)\n")
        sys.stderr.flush()
    try:
        wait_for_final_reports()
    except KeyboardInterrupt:
        wait_for_final_reports(timeout=0)


_SLACK_API_URL = "https://slack.com/api/"
#: Points every default client at another Web API base URL (e.g. an emulator's).
API_URL_ENV = "SLACK_API_URL"


def _check_limit(update_limit) -> Optional[Limit]:
    if update_limit is None:
        return None
    if (isinstance(update_limit, (str, bytes)) or not isinstance(update_limit, Sequence)
            or len(update_limit) != 2):
        raise TypeError(f"update_limit must be (calls, seconds), e.g. (50, 60.0) for "
                        f"Slack's Tier 3, or None, got {update_limit!r}")
    try:
        return Limit(*update_limit)
    except ValueError as exc:
        raise ValueError(f"update_limit {tuple(update_limit)!r}: {exc}") from None


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


def _check_keys(name: str, keys) -> list:
    """None or a list of non-empty str (observation keys)."""
    if keys is None:
        return []
    if isinstance(keys, str) or not isinstance(keys, (list, tuple)):
        raise TypeError(f"{name} must be a list of str (observation keys such as "
                        f"'main/loss') or None, got {type(keys).__name__}")
    for key in keys:
        if not isinstance(key, str) or not key:
            raise TypeError(f"{name} must hold non-empty str, got {key!r} in {keys!r}")
    return list(keys)


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


def _check_number(name: str, value, *, unit: str, integer: bool = False,
                  positive: bool = False) -> None:
    expected = "an int" if integer else "a number"
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise TypeError(f"{name} must be {expected} ({unit}), got "
                        f"{type(value).__name__} {value!r}")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be {'> 0' if positive else '>= 0'} ({unit}), "
                         f"got {value!r}")
