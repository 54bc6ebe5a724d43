"""``SlackReport`` for pytorch-pfn-extras: ppe's PrintReport, shown in one live Slack message.

>>> from chainer_slack_report.ppe import SlackReport
>>> manager.extend(SlackReport(token, channel_id, entries), trigger=(1, "epoch"))  # doctest: +SKIP

The PyTorch flavour of :class:`chainer_slack_report.SlackReport`: the same
message, statuses, template, normalizers, mentions and rate limits (all of it
in :class:`~chainer_slack_report.run_report.RunReport`), glued to
``pytorch_pfn_extras.training.ExtensionsManager`` instead of a Chainer trainer.
No Chainer here.
"""

from __future__ import annotations

import atexit
import sys
from typing import Any, Dict, Optional, Sequence, Union

try:
    from pytorch_pfn_extras.training import extension as _ppe_extension
    from pytorch_pfn_extras.training.extensions import LogReport, PrintReport
except ImportError as _exc:  # pragma: no cover - tested in a subprocess
    raise ImportError(
        f"chainer_slack_report.ppe needs pytorch-pfn-extras (and PyTorch): "
        f"pip install pytorch-pfn-extras  ({type(_exc).__name__}: {_exc})") from _exc

from ..job.ranks import Process
from ..rendering.mentions import MentionsArg
from ..rendering.message import COMPLETED, DEFAULT_TEMPLATE, FAILED, INTERRUPTED
from ..rendering.normalizers import Normalizer
from ..run_report import (
    MESSAGE_KEYS,
    CurrentStdout,
    MessageRef,
    Mode,
    RunReport,
    resume_note,
    wait_for_final_reports,
)
from ..warning import warn

__all__ = ["SlackReport"]


class SlackReport(PrintReport):
    """pytorch-pfn-extras extension that shows PrintReport's table in one live Slack message.

    ``manager.extend(SlackReport(token, channel_id, entries), trigger=(1, "epoch"))``
    on a ``pytorch_pfn_extras.training.ExtensionsManager`` that also has a
    ``LogReport``.  The message is posted with ``chat.postMessage`` when the
    manager starts its extensions and then edited with ``chat.update``.  A
    background worker does all the Slack calls: :meth:`__call__` only hands
    over the new LogReport rows.  At the end the status becomes
    ``[Completed]``, ``[Failed]`` (with the exception and the end of its
    traceback) or ``[Interrupted]`` (Ctrl-C), and a reply in the message's
    thread notifies ``finish_mentions`` (edits notify nobody).

    How the end is found: the manager calls :meth:`finalize` when its stop
    trigger fires (``[Completed]``).  An exception inside
    ``manager.run_iteration()`` reaches :meth:`on_error`, which delivers
    ``[Failed]`` itself, since the manager does not finalize its extensions
    after an error.  A run that ends otherwise (Ctrl-C, which ppe does not
    pass to ``on_error``; an exception outside ``run_iteration``; a loop left
    before the stop trigger) is delivered when the interpreter exits:
    ``[Interrupted]``, ``[Failed]`` with that exception, or ``[Completed]``.
    Calling ``manager.finalize()`` yourself (e.g. in a ``finally``) ends it
    at once instead.

    Args:
        access_token (str or None): The bot token (``xoxb-…``, scope
            ``chat:write``; ``users:read`` to resolve user names).  None reads
            ``SLACK_BOT_TOKEN``.  Used when ``client`` has no token of its own.
        channel_id (str or None): Channel ID (``C…``) or name.  None reads
            ``SLACK_CHANNEL_ID``.
        entries (list of str): Observation keys to show as table columns.
        template (str): Message layout, a :meth:`str.format_map` string.
            Placeholders: ``{status} {hostname} {pwd} {pwdshort} {cmd} {args}
            {command} {ranks} {elapsed} {progress} {eta} {progress_eta} {content}
            {sparklines} {finish_mentions}`` and the latest reported
            value of any observation key (``{main/loss:.4f}``; an entry not
            reported yet shows ``–``).  ``{elapsed}`` is the manager's
            ``elapsed_time`` (0 before the first ``run_iteration``; like
            LogReport's ``elapsed_time``, it starts again in a resumed
            process).  Any other placeholder is kept as written (one warning
            names it).
        finish_mentions (str, list of str or None): Who to notify at the end:
            member IDs (``U…``/``W…``, ``@U…``, ``<@U…>``), ``here``,
            ``channel``, ``everyone`` (with or without ``@``), user-group IDs
            (``S…``, ``<!subteam^S…>``) or user names (``@alice``, looked up
            with ``users.list``).  A str holds one or more items separated by
            commas; a blank also separates items when the next one starts
            with ``@`` or ``<`` or is an ID, so ``"@Bob Smith"`` is the one
            name "Bob Smith" and ``"@alice @bob"`` two names.
        len_normalizer (str or callable): Which table rows stay when the
            message would exceed ``max_bytes``: ``"thin_out"`` (evenly spaced
            rows and always the newest), ``"FIFO"`` (drop the oldest),
            ``"LIFO"`` (keep the oldest, stop adding), any case; or
            ``fn(rows: list[str], budget: int) -> list[str]`` given every row
            (escaped, oldest first) and the UTF-8 bytes available to them
            (each row counts one byte more for its newline).  A last table
            line says how many rows are not shown.
        log_report (str or LogReport): As in PrintReport: the name of the
            manager's LogReport, or a LogReport of this extension's own.
        out: As in PrintReport, a stream with ``write`` (and ``flush``):
            where the table is printed while the report is local (no token or
            channel, or after Slack refused it).  None (default): whatever
            ``sys.stdout`` is when a row is printed.  Nothing is written to
            it while Slack shows the report.
        client (slack_sdk.WebClient or None): A client to use (custom
            ``base_url``, proxy, retry handlers).  By default one is built with
            ``timeout=http_timeout``.
        max_bytes (int): Limit of the whole posted text in UTF-8 bytes;
            default 4000 (``chat.update`` documents ``msg_too_long`` at 4,000
            characters).
        min_interval (float): Seconds between two Slack requests in steady
            state; default 1.2 (``chat.update`` is rate-limit Tier 3, ~50/min
            per app).
        flush_timeout (float): Seconds :meth:`finalize` (and :meth:`on_error`)
            waits for the final text to reach Slack; otherwise it is written
            to stderr.
        http_timeout (float): Seconds one HTTP request may take (default
            client only).
        refresh_interval (float): Seconds after which the message is edited
            for the ``{elapsed}`` clock alone; new rows and status changes are
            sent without waiting for it.  Default 30.
        exit_timeout (float): If Slack has not taken the final text within
            ``flush_timeout``, it is delivered in the background and the
            interpreter waits for it at exit for at most this many seconds
            (default 120; 0: write it to stderr at once instead).
        update_limit (tuple or None): ``(calls, seconds)``: the ``chat.update``
            calls that all runs using this token on this host may make
            together per window; default ``(50, 60.0)``, Slack's Tier 3
            limit, which Slack counts per app per workspace.  The runs share
            it fairly through a small state file (directory:
            ``$CHAINER_SLACK_REPORT_STATE_DIR``, else
            ``$XDG_CACHE_HOME/chainer_slack_report`` or
            ``~/.cache/chainer_slack_report``); a fifth of it is kept for final
            updates.  None: no shared budget, only ``min_interval`` paces.

    Distributed training: add the extension (and a LogReport) on every
    process.  With ``torch.distributed`` initialized when the extension is
    built, its rank and world size decide; otherwise the launcher's
    environment (``RANK``/``WORLD_SIZE`` of ``torchrun``,
    ``OMPI_COMM_WORLD_RANK``, ``PMI_RANK``, ``SLURM_PROCID``).  Rank 0
    reports; the other ranks report only their own failure, in a message of
    their own that names the rank.

    The message's channel ID and ``ts`` are in :meth:`state_dict` (so in
    ppe's snapshots): a run resumed from one (``manager.load_state_dict`` or
    ``snapshot(autoload=True)``) edits the same message and says so in its
    thread.  The extension's priority is just below ``PRIORITY_SNAPSHOT``,
    so that an autoloading snapshot is read before the message is posted, and
    each call sees the rows every LogReport wrote in that iteration.  On
    SIGTERM or SIGHUP (preemption, ``kill``) the message becomes
    ``[Terminated]`` before the process ends with that signal.

    Raises:
        TypeError: An argument of the wrong type.
        ValueError: An argument of the right type but an unusable value (an
            unknown ``len_normalizer``, a budget too small, broken braces…).

    Without a token or a channel, one warning is given and the report is
    printed to ``out`` exactly as ppe's PrintReport prints it.
    """

    priority = _ppe_extension.PRIORITY_SNAPSHOT - 1

    def __init__(self, access_token: Optional[str] = None, channel_id: Optional[str] = None,
                 entries: Optional[Sequence[str]] = None, template: str = DEFAULT_TEMPLATE,
                 finish_mentions: MentionsArg = None,
                 len_normalizer: Union[str, Normalizer] = "thin_out",
                 log_report: Union[str, LogReport] = "LogReport", out=None,
                 client=None, max_bytes: int = 4000, min_interval: float = 1.2,
                 flush_timeout: float = 10.0, http_timeout: float = 10.0,
                 refresh_interval: float = 30.0, exit_timeout: float = 120.0,
                 update_limit: Optional[Sequence[float]] = (50, 60.0)) -> None:
        if not isinstance(log_report, (str, LogReport)):
            raise TypeError(f"log_report must be the name of a LogReport (str) or a "
                            f"pytorch_pfn_extras LogReport, got {type(log_report).__name__}")
        self.report = RunReport(
            access_token, channel_id, entries, template=template,
            finish_mentions=finish_mentions, len_normalizer=len_normalizer, client=client,
            max_bytes=max_bytes, min_interval=min_interval, flush_timeout=flush_timeout,
            http_timeout=http_timeout, refresh_interval=refresh_interval,
            exit_timeout=exit_timeout, update_limit=update_limit,
            process=_torch_process())
        super().__init__(list(entries), log_report=log_report,
                         out=CurrentStdout() if out is None else out)
        self._manager = None
        self._rows = None  # our looker on LogReport's rows (as PrintReport has its own)
        self._resume: Optional[MessageRef] = None  # from a state dict
        self._state_loaded = False
        self._pending: Optional[int] = None  # start waits for the state dict (iteration)
        self._started = False
        self._ended = False
        self._exiting = False
        self._old_exc = None  # an uncaught exception from before this run

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.report.mode.value} channel={self.report.channel!r}>"

    @property
    def available(self) -> bool:
        """True while the report goes to Slack."""
        return self.report.mode is Mode.SLACK

    @property
    def live(self):
        """The live Slack message
        (:class:`~chainer_slack_report.transport.live_message.LiveMessage`),
        None before the run starts and without Slack."""
        return self.report.live

    # -- pytorch-pfn-extras extension protocol --------------------------------------------
    def initialize(self, manager) -> None:
        """Start the worker, which posts the ``[Started]`` message.

        If the manager is being restored (``manager.load_state_dict`` starts
        the extensions before it hands them their state), the post waits for
        this extension's state, so that a resumed run edits its message.
        """
        self._manager = manager
        log_report = self._find_log_report(manager)
        if log_report is not None:
            # Rows already there (restored by an autoloading snapshot) belong to the table.
            initial = list(log_report.log)
            if self.report.mode is not Mode.SILENT:
                super().initialize(manager)  # PrintReport's own looker (local printing)
            self._rows = log_report._log_buffer.emit_new_looker()
            self.report.add(initial)
        iteration = _iteration(manager)
        if not self._state_loaded and iteration > 0:
            self._pending = iteration  # manager.load_state_dict is under way
        else:
            self._start()

    def __call__(self, manager) -> None:
        """Hand the new LogReport rows to the report (no network I/O here)."""
        self._manager = manager
        if self._pending is not None and _iteration(manager) != self._pending:
            self._start()  # the state dict never came: training runs
        mode = self.report.mode
        if mode is Mode.SLACK:
            self._take_rows(manager, update=True)
            self.report.training()
        elif mode is Mode.SILENT:
            self._take_rows(manager, update=True)
        else:  # local, or Slack refused: PrintReport's own path
            super().__call__(manager)
            self._take_rows(manager)

    def on_error(self, manager, exc, tb) -> None:
        """Deliver ``[Failed]`` with the exception and every row logged.

        The manager calls this for an exception inside ``run_iteration`` and
        then re-raises it without finalizing its extensions, so the final
        status is delivered here (waiting at most ``flush_timeout`` seconds).
        Never raises.
        """
        self._manager = manager
        self._end(FAILED, exc, tb)

    def finalize(self, manager=None) -> None:
        """Deliver the final status; wait at most ``flush_timeout`` seconds.

        Takes every row LogReport has first.  ``[Completed]``, or
        ``[Interrupted]`` when called while a KeyboardInterrupt is handled
        (``manager.finalize()`` in a ``finally``), or ``[Failed]`` while
        another exception is.  If Slack does not have the final text in time,
        a warning is given and the text is written to stderr.  Never raises.
        """
        if manager is not None:
            self._manager = manager
        self._end_by(sys.exc_info()[1])

    def state_dict(self) -> Dict[str, Any]:
        """PrintReport's state (an owned LogReport's) and the message's channel ID and ``ts``."""
        state = super().state_dict()
        ref = self.report.message_ref or self._resume
        if ref is not None:
            state.update(zip(MESSAGE_KEYS, ref))
        return state

    def load_state_dict(self, to_load: Dict[str, Any]) -> None:
        """Continue the message of the run whose state this is.

        State dicts without the message's keys (ppe's PrintReport's, or one
        taken before the message was posted) load as before: a new message is
        posted.  PrintReport loads this extension's state dicts too (the
        extra keys are not read).
        """
        if "_log_report" in to_load:
            super().load_state_dict(to_load)
        values = [to_load.get(key) for key in MESSAGE_KEYS]
        ref = (MessageRef(*values)
               if all(isinstance(v, str) and v.strip() for v in values) else None)
        self._state_loaded = True
        if self._started:
            if ref is not None and ref != self.report.message_ref:
                warn(f"SlackReport: the state dict's message (ts {ref.ts}) came after this "
                     f"run had started a message of its own, which it keeps; keep "
                     f"SlackReport's default priority so that a snapshot with autoload=True "
                     f"is loaded first")
            return
        self._resume = ref
        if self._pending is not None:
            self._start()

    # -- helpers ----------------------------------------------------------------------
    def _start(self) -> None:
        """Post (or continue) the message, once."""
        self._pending = None
        if self._started:
            return
        self._started = True
        manager = self._manager
        note = _resume_note(manager) if self._resume else None
        self.report.start(clock=lambda: _elapsed(manager), resume=self._resume,
                          resume_note=note)
        if self.report.mode is not Mode.LOCAL:
            self._old_exc = _uncaught_exception()
            atexit.register(self._at_exit)

    def _end(self, status: str, exc: Optional[BaseException] = None, tb=None) -> None:
        """Deliver the final status once: ``status``, or ``[Failed]`` with ``exc``."""
        if self._ended:
            return
        self._ended = True
        if not self._exiting:  # unregistering from within an exit handler is not safe
            atexit.unregister(self._at_exit)
        if self.report.mode is Mode.LOCAL:
            return
        try:
            if self._manager is not None:
                self._start()
                self._take_rows(self._manager)
            if exc is not None and self.report.message.status != FAILED:
                self.report.fail(exc, tb)
            self.report.finish(status)
            if self.report.mode is Mode.FELL_BACK and self._manager is not None:
                super().__call__(self._manager)  # rows PrintReport has not printed yet
        except Exception as error:  # noqa: BLE001 - on_error and finalize must never raise
            warn(f"SlackReport could not finalize: {type(error).__name__}: {error}")

    def _end_by(self, exc: Optional[BaseException]) -> None:
        """End the run as ``exc`` says: Ctrl-C, an exception, or none (completed)."""
        if isinstance(exc, KeyboardInterrupt):
            self._end(INTERRUPTED)
        elif isinstance(exc, Exception):
            self._end(COMPLETED, exc, exc.__traceback__)
        else:
            self._end(COMPLETED)

    def _at_exit(self) -> None:
        """The interpreter exits and the run has not ended: deliver how it ended."""
        self._exiting = True
        exc = _uncaught_exception()
        self._end_by(None if exc is self._old_exc else exc)
        # At exit the handler that waits for late final reports may not run any more.
        wait_for_final_reports()

    def _find_log_report(self, manager) -> Optional[LogReport]:
        """The LogReport to read (None on a silent rank that has none)."""
        try:
            return self._log_report_object(manager)
        except ValueError:
            if self.report.mode is Mode.SILENT:
                return None  # a rank without a LogReport: its failure shows without rows
            raise

    def _log_report_object(self, manager) -> LogReport:
        """The LogReport instance, without running an owned one (PrintReport's checks)."""
        log_report = self._log_report
        if isinstance(log_report, str):
            found = manager.get_extension(log_report)
            if not isinstance(found, LogReport):
                raise TypeError(f"log_report {log_report!r} must name a LogReport, "
                                f"got {type(found).__name__}")
            return found
        return log_report

    def _take_rows(self, manager, update: bool = False) -> None:
        """Hand LogReport's rows not handed over yet to the report.

        Args:
            update: Run an owned LogReport first (PrintReport does so in its
                own ``__call__``; only the Slack path needs it here).
        """
        if update and isinstance(self._log_report, LogReport):
            self._log_report(manager)
        looker = self._rows
        if looker is None:
            return
        rows = looker.get()
        if rows:
            self.report.add(list(rows))
            looker.clear()




def _torch_process() -> Optional[Process]:
    """Rank and world size of an initialized ``torch.distributed``; else None."""
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover - torch without distributed support
        return None
    if dist.is_available() and dist.is_initialized():
        return Process(dist.get_rank(), dist.get_world_size())
    return None


def _iteration(manager) -> int:
    try:
        return int(manager.iteration)
    except Exception:  # noqa: BLE001 - a manager without an iteration count
        return 0


def _uncaught_exception() -> Optional[BaseException]:
    """The exception that ended the main program (Python sets it before exit handlers run)."""
    return getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)


def _resume_note(manager) -> str:
    """The thread reply of a resumed run: from which iteration, where."""
    try:
        where = f"iteration {manager.iteration}, epoch {manager.epoch}"
    except Exception:  # noqa: BLE001 - no manager, or one without these counts
        where = "a snapshot"
    return resume_note(where)


def _elapsed(manager) -> float:
    """``manager.elapsed_time`` (seconds since the first ``run_iteration``), 0 before it."""
    try:
        return float(manager.elapsed_time)
    except Exception:  # noqa: BLE001 - not started yet (ppe raises RuntimeError)
        return 0.0
