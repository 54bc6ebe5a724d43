"""``SlackReport``: Chainer's PrintReport, shown in one live Slack message."""

from __future__ import annotations

import os
import sys
from typing import List, Optional, Sequence, Union

import numpy as np
from chainer import serializer as serializer_module
from chainer.training.extensions import LogReport, PlotReport, PrintReport

from ..job.ranks import Process
from ..rendering.mentions import MentionsArg
from ..rendering.message import COMPLETED, DEFAULT_TEMPLATE, INTERRUPTED
from ..rendering.normalizers import Normalizer
from ..rendering.progress import Progress
from ..run_report import MESSAGE_KEYS, CurrentStdout, MessageRef, Mode, RunReport, resume_note

__all__ = ["SlackReport"]


class SlackReport(PrintReport):
    """Trainer extension that shows PrintReport's table in one live Slack message.

    The message is posted with ``chat.postMessage`` when the trainer starts and
    then edited with ``chat.update``.  A background worker does all the Slack
    calls: :meth:`__call__` only hands over the new LogReport rows.  At the
    end the status becomes ``[Completed]``, ``[Failed]`` (with the exception and
    the end of its traceback) or ``[Interrupted]`` (Ctrl-C), and a reply in the
    message's thread notifies ``finish_mentions`` (edits notify nobody).

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
            reported yet shows ``–``).  Any other placeholder is kept as
            written (one warning names it).
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
        log_report (str or LogReport): As in PrintReport.
        out: As in PrintReport, a stream with ``write`` (and ``flush``):
            where the table is printed while the report is local (no token or
            channel, or after Slack refused it); flushed after each row.  None
            (default): whatever ``sys.stdout`` is when a row is printed.
            Nothing is written to it while Slack shows the report.
        client (slack_sdk.WebClient or None): A client to use (custom
            ``base_url``, proxy, retry handlers).  By default one is built with
            ``timeout=http_timeout``.
        max_bytes (int): Limit of the whole posted text in UTF-8 bytes;
            default 4000 (``chat.update`` documents ``msg_too_long`` at 4,000
            characters).
        min_interval (float): Seconds between two Slack requests in steady
            state; default 1.2 (``chat.update`` is rate-limit Tier 3, ~50/min
            per app).
        flush_timeout (float): Seconds :meth:`finalize` waits for the final
            text to reach Slack; otherwise it is written to stderr.
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
        sparklines (list of str or None): Observation keys whose curve over the
            whole run is shown, one line each (``main/loss ▇▆▅▄▃▂▂▁▁ 0.0312``),
            after the table or where the template has ``{sparklines}``;
            updated with each row at no extra API cost.
        plots (bool or list of str): True: upload the images the trainer's
            PlotReport extensions wrote (``loss.png``, …) into the message's
            thread at the end of the run (also after a failure), with
            slack_sdk's ``files_upload_v2`` (scope ``files:write``).  A list:
            those file paths.  A missing scope or a failed upload gives one
            warning and never harms the report.
        comm (chainermn.CommunicatorBase or None): In a ChainerMN job, add
            the extension (and a LogReport) on every rank with the job's
            communicator: rank 0 posts the job's one message and shares where
            it is at :meth:`initialize`, so that a failure on any rank shows
            in it as ``[Failed]`` with the rank, exception and traceback tail.
            Without ``comm`` the rank comes from the launcher's environment
            (``OMPI_COMM_WORLD_RANK``, ``PMI_RANK``, ``SLURM_PROCID``,
            ``RANK``): rank 0 reports, the other ranks report only their own
            failure, in a message of their own.

    The message's channel ID and ``ts`` are saved in snapshots
    (:meth:`serialize`): a run resumed from one edits the same message and
    says so in its thread.  On SIGTERM or SIGHUP (preemption, ``kill``) the
    message becomes ``[Terminated]`` before the process ends with that signal.

    Raises:
        TypeError: An argument of the wrong type.
        ValueError: An argument of the right type but an unusable value (an
            unknown ``len_normalizer``, a budget too small, broken braces…).

    Without a token or a channel, one warning is given and the report is
    printed to ``out`` exactly as PrintReport prints it.
    """

    def __init__(self, access_token: Optional[str] = None, channel_id: Optional[str] = None,
                 entries: Optional[Sequence[str]] = None, template: str = DEFAULT_TEMPLATE,
                 finish_mentions: MentionsArg = None,
                 len_normalizer: Union[str, Normalizer] = "thin_out",
                 log_report: Union[str, LogReport] = "LogReport", out=None,
                 client=None, max_bytes: int = 4000, min_interval: float = 1.2,
                 flush_timeout: float = 10.0, http_timeout: float = 10.0,
                 refresh_interval: float = 30.0, exit_timeout: float = 120.0,
                 update_limit: Optional[Sequence[float]] = (50, 60.0),
                 sparklines: Optional[Sequence[str]] = None,
                 plots: Union[bool, Sequence[str]] = False, comm=None) -> None:
        if comm is not None and not (isinstance(getattr(comm, "rank", None), int)
                                     and isinstance(getattr(comm, "size", None), int)):
            raise TypeError(f"comm must be a ChainerMN communicator (with int rank and "
                            f"size), got {type(comm).__name__}")
        if not isinstance(plots, bool) and (
                isinstance(plots, str) or not isinstance(plots, (list, tuple))
                or not all(isinstance(p, str) and p for p in plots)):
            raise TypeError(f"plots must be True/False or a list of file paths, got {plots!r}")
        self._comm = comm
        self._plots = plots
        self._progress: Optional[Progress] = None
        self.report = RunReport(
            access_token, channel_id, entries, template=template,
            finish_mentions=finish_mentions, len_normalizer=len_normalizer, client=client,
            max_bytes=max_bytes, min_interval=min_interval, flush_timeout=flush_timeout,
            http_timeout=http_timeout, refresh_interval=refresh_interval,
            exit_timeout=exit_timeout, update_limit=update_limit, sparklines=sparklines,
            process=Process(comm.rank, comm.size) if comm is not None else None)
        super().__init__(list(entries), log_report=log_report,
                         out=CurrentStdout() if out is None else out)
        self._rows_taken = 0  # LogReport rows handed to the report so far
        self._trainer = None
        self._resume: Optional[MessageRef] = None  # from a snapshot

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.report.mode.value} channel={self.report.channel!r}>"

    @property
    def available(self) -> bool:
        """True while the report goes to Slack (the 0.3 package's attribute)."""
        return self.report.mode is Mode.SLACK

    @property
    def live(self):
        """The live Slack message
        (:class:`~chainer_slack_report.transport.live_message.LiveMessage`),
        None before :meth:`initialize` and without Slack."""
        return self.report.live

    # -- Chainer extension protocol -------------------------------------------------
    def initialize(self, trainer) -> None:
        """Start the worker, which posts the ``[Started]`` message."""
        self._trainer = trainer
        note = _resume_note(trainer) if self._resume else None
        self._progress = _progress(trainer)
        self.report.start(clock=lambda: _elapsed(trainer), resume=self._resume,
                          resume_note=note, progress=self._progress)
        comm = self._comm
        if comm is not None and comm.size > 1:  # every rank: a collective call
            ref = self.report.wait_posted(self.report.flush_timeout) if comm.rank == 0 else None
            self.report.job_message = comm.bcast_obj(ref, root=0)

    def __call__(self, trainer) -> None:
        """Hand the new LogReport rows to the report (no network I/O here)."""
        self._trainer = trainer
        mode = self.report.mode
        if mode is Mode.SLACK:
            self._take_rows(trainer, update=True)
            if self._progress is not None:
                self._progress.sample(trainer.updater.iteration, trainer.updater.epoch_detail)
            self.report.training()
        elif mode is not Mode.SILENT:  # local, or Slack refused: PrintReport's own path
            super().__call__(trainer)
            self._take_rows(trainer)

    def on_error(self, trainer, exc, tb) -> None:
        """Record the exception and every row logged; :meth:`finalize` sends ``[Failed]``."""
        try:
            self._take_rows(trainer)
            self.report.fail(exc, tb)
        except Exception:  # noqa: BLE001 - an extension's on_error must not raise
            pass

    def finalize(self, trainer=None) -> None:
        """Deliver the final status; wait at most ``flush_timeout`` seconds.

        Takes every row LogReport has first.  Accepts the trainer
        (pytorch-pfn-extras passes its manager) but does not need it.  If
        Slack does not have the final text in time, a warning is given and
        the text is written to stderr.  Never raises.
        """
        if self.report.mode is Mode.LOCAL:
            return
        try:
            if self._trainer is not None:
                self._take_rows(self._trainer)
            in_flight = sys.exc_info()[0]
            interrupted = in_flight is not None and issubclass(in_flight, KeyboardInterrupt)
            self.report.finish(INTERRUPTED if interrupted else COMPLETED,
                               files=self._plot_files())
            if self.report.mode is Mode.FELL_BACK and self._trainer is not None:
                super().__call__(self._trainer)  # rows PrintReport has not printed yet
        except Exception as exc:  # noqa: BLE001 - finalize must never raise
            from ..warning import warn

            warn(f"SlackReport could not finalize: {type(exc).__name__}: {exc}")

    def serialize(self, serializer) -> None:
        """Save or load the message's channel ID and ``ts`` (and an owned LogReport).

        Snapshots without these keys (PrintReport's, the 0.3 package's) load
        as before; 0.3 and PrintReport load this package's snapshots too (the
        extra keys are not read).
        """
        super().serialize(serializer)
        if isinstance(serializer, serializer_module.Serializer):
            ref = self.report.message_ref
            for key, value in zip(MESSAGE_KEYS, ref or ("", "")):
                serializer(key, np.frombuffer(value.encode("utf-8"), dtype=np.uint8))
            return
        try:
            values = [serializer(key, None) for key in MESSAGE_KEYS]
        except KeyError:  # a snapshot of PrintReport, of 0.3, or of an earlier 1.0 run
            return
        if all(v is not None and len(v) for v in values):
            channel_id, ts = (bytes(np.asarray(v, dtype=np.uint8)).decode("utf-8")
                              for v in values)
            self._resume = MessageRef(channel_id, ts)

    # -- helpers ----------------------------------------------------------------------
    def _plot_files(self) -> List[str]:
        """The files ``plots`` asks for: PlotReport's images, or the paths given."""
        if self._plots is False:
            return []
        if self._plots is not True:
            return list(self._plots)
        trainer = self._trainer
        entries = getattr(trainer, "_extensions", {}).values()  # Chainer 7's registry
        return [os.path.join(trainer.out, entry.extension._file_name) for entry in entries
                if isinstance(entry.extension, PlotReport)]

    def _take_rows(self, trainer, update: bool = False) -> None:
        """Hand LogReport's rows not handed over yet to the report.

        Args:
            update: Run an owned LogReport first (PrintReport does so in its
                own ``__call__``; only the Slack path needs it here).
        """
        log_report = self._log_report
        if isinstance(log_report, str):
            try:
                log_report = trainer.get_extension(log_report)
            except ValueError:
                if self.report.mode is Mode.SILENT:
                    return  # a rank without a LogReport: its failure shows without rows
                raise
        elif update:
            log_report(trainer)
        log = log_report.log
        if len(log) > self._rows_taken:
            self.report.add(log[self._rows_taken:])
            self._rows_taken = len(log)




def _progress(trainer) -> Optional[Progress]:
    """The run's progress, if its stop trigger knows the training length."""
    try:
        length, unit = trainer.stop_trigger.get_training_length()
        updater = trainer.updater
        return Progress(length, unit, position=(
            updater.epoch_detail if unit == "epoch" else updater.iteration))
    except Exception:  # noqa: BLE001 - a stop trigger without a length: no progress shown
        return None


def _resume_note(trainer) -> str:
    """The thread reply of a resumed run: from which iteration, where."""
    try:
        where = f"iteration {trainer.updater.iteration}, epoch {trainer.updater.epoch}"
    except Exception:  # noqa: BLE001 - a trainer without a standard updater
        where = "a snapshot"
    return resume_note(where)


def _elapsed(trainer) -> float:
    """``trainer.elapsed_time`` (seconds, snapshot time included), 0 before ``run``."""
    try:
        return float(trainer.elapsed_time)
    except Exception:  # noqa: BLE001 - not started yet, or not a chainer Trainer
        return 0.0
