"""``SlackReport``: Chainer's PrintReport, shown in one live Slack message."""

from __future__ import annotations

import sys
from typing import List, Optional

import numpy as np
from chainer import serializer as serializer_module
from chainer.training.extensions import PrintReport

from ..job.ranks import Process
from ..options import ReportOptions
from ..outcome import Outcome
from ..run_report import MESSAGE_KEYS, CurrentStdout, MessageRef, Mode
from . import chainer_compat
from .base import ReportExtension, elapsed_of, flavour, keyword, progress_of, resumed_from

__all__ = ["SlackReport"]


@flavour(keyword("log_report", "LogReport", "Union[str, LogReport]"),
         keyword("out", None, "Optional[TextIO]"),
         keyword("comm", None, "Optional[chainermn.CommunicatorBase]"))
class SlackReport(ReportExtension, PrintReport):
    """Trainer extension that shows PrintReport's table in one live Slack message.

    The message is posted with ``chat.postMessage`` when the trainer starts and
    then edited with ``chat.update``.  A background worker does all the Slack
    calls: :meth:`__call__` only hands over the new LogReport rows.  At the
    end the status becomes ``[Completed]``, ``[Failed]`` (with the exception and
    the end of its traceback), ``[Interrupted]`` (Ctrl-C) or ``[Terminated]``
    (SIGTERM/SIGHUP), and a reply in the message's thread notifies
    ``finish_mentions`` (edits notify nobody).

    Args:
        {first}
        log_report (str or LogReport): As in PrintReport.
        out: As in PrintReport, a stream with ``write`` (and ``flush``):
            where the table is printed while the report is local (no token or
            channel, or after Slack refused it); flushed after each row.  None
            (default): whatever ``sys.stdout`` is when a row is printed.
            Nothing is written to it while Slack shows the report.
        comm (chainermn.CommunicatorBase or None): In a ChainerMN job, add
            the extension (and a LogReport) on every rank with the job's
            communicator: rank 0 posts the job's one message and shares where
            it is at :meth:`initialize`, so that a failure on any rank shows
            in it as ``[Failed]`` with the rank, exception and traceback tail.
            Without ``comm`` the rank comes from the launcher's environment
            (``OMPI_COMM_WORLD_RANK``, ``PMI_RANK``, ``SLURM_PROCID``,
            ``RANK``): rank 0 reports, the other ranks report only their own
            failure, in a message of their own.
        {options}
        options (ReportOptions or None): The options above as one object
            (keyword arguments given too are put over it).

    The message's channel ID and ``ts`` are saved in snapshots
    (:meth:`serialize`): a run resumed from one edits the same message and
    says so in its thread.  On SIGTERM or SIGHUP (preemption, ``kill``) the
    message becomes ``[Terminated]`` before the process ends with that signal.

    Raises:
        TypeError: An argument of the wrong type, or an unknown one.
        ValueError: An argument of the right type but an unusable value (an
            unknown ``len_normalizer``, a budget too small, broken braces…).

    Without a token or a channel, one warning is given and the report is
    printed to ``out`` exactly as PrintReport prints it.
    """

    def __init__(self, access_token: Optional[str] = None, channel_id: Optional[str] = None,
                 entries=None, *, log_report="LogReport", out=None, comm=None,
                 options: Optional[ReportOptions] = None, **kwargs) -> None:
        if comm is not None and not (isinstance(getattr(comm, "rank", None), int)
                                     and isinstance(getattr(comm, "size", None), int)):
            raise TypeError(f"comm must be a ChainerMN communicator (with int rank and "
                            f"size), got {type(comm).__name__}")
        self.report = self._make_report(
            access_token, channel_id, entries, options, kwargs,
            process=Process(comm.rank, comm.size) if comm is not None else None)
        super().__init__(list(entries), log_report=log_report,
                         out=CurrentStdout() if out is None else out)
        self._comm = comm
        self._rows_taken = 0  # LogReport rows handed to the report so far
        self._log_report_found = None  # (trainer, its LogReport, owned), once looked up
        self._trainer = None
        self._progress = None
        self._resume: Optional[MessageRef] = None  # from a snapshot
        self._failure: Optional[Outcome] = None  # from on_error, delivered by finalize

    # -- Chainer extension protocol -------------------------------------------------
    def initialize(self, trainer) -> None:
        """Start the worker, which posts the ``[Started]`` message."""
        self._trainer = trainer
        updater = trainer.updater
        note = resumed_from(updater.iteration, updater.epoch) if self._resume else None
        self._progress = progress_of(trainer.stop_trigger.get_training_length,
                                     updater.iteration, updater.epoch_detail)
        self.report.start(lambda: elapsed_of(trainer), resume=self._resume, resume_note=note,
                          progress=self._progress)
        comm = self._comm
        if comm is not None and comm.size > 1:  # every rank: a collective call
            ref = (self.report.wait_posted(self.report.options.flush_timeout)
                   if comm.rank == 0 else None)
            self.report.join_job(comm.bcast_obj(ref, root=0))

    def __call__(self, trainer) -> None:
        """Hand the new LogReport rows to the report (no network I/O here)."""
        self._trainer = trainer
        mode = self.report.mode
        if mode is Mode.SLACK:
            self._take_rows(trainer, update=True)
            if self._progress is not None:
                self._progress.sample(trainer.updater.iteration, trainer.updater.epoch_detail)
            self.report.running()
        elif mode is not Mode.SILENT:  # local, or Slack refused: PrintReport's own path
            super().__call__(trainer)
            self._take_rows(trainer)

    def on_error(self, trainer, exc, tb) -> None:
        """Record the exception; :meth:`finalize` delivers ``[Failed]`` with every row."""
        try:
            self._failure = Outcome.failed(exc, tb)
        except Exception:  # noqa: BLE001 - an extension's on_error must not raise
            self._failure = Outcome.failed(detail=f"{type(exc).__name__}")

    def finalize(self, trainer=None) -> None:
        """Deliver the final status; wait at most ``flush_timeout`` seconds.

        ``[Failed]`` after :meth:`on_error`, ``[Interrupted]`` while a
        KeyboardInterrupt is in flight (Chainer skips ``on_error`` for it),
        else ``[Completed]``.  Takes every row LogReport has first.  Accepts
        the trainer (pytorch-pfn-extras passes its manager) but does not need
        it.  If Slack does not have the final text in time, a warning is given
        and the text is written to stderr.  Never raises.
        """
        if self.report.mode is Mode.LOCAL:
            return
        in_flight = sys.exc_info()[1]
        outcome = self._failure or Outcome.of_exception(
            in_flight if isinstance(in_flight, KeyboardInterrupt) else None)
        self._end(self._trainer, outcome)

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

    # -- the flavour's part of ReportExtension ----------------------------------------
    def _take_rows(self, trainer, update: bool = False) -> None:
        """Hand LogReport's rows not handed over yet to the report.

        Args:
            update: Run an owned LogReport first (PrintReport does so in its
                own ``__call__``; only the Slack path needs it here).
        """
        found = self._log_report_found
        if found is None or found[0] is not trainer:  # looked up once per trainer
            try:
                found = (trainer, *chainer_compat.log_report_of(self, trainer))
            except ValueError:
                if self.report.mode is Mode.SILENT:
                    return  # a rank without a LogReport: its failure shows without rows
                raise
            self._log_report_found = found
        _, log_report, owned = found
        if update and owned:
            log_report(trainer)
        log = log_report.log
        if len(log) > self._rows_taken:
            self.report.add(log[self._rows_taken:])
            self._rows_taken = len(log)

    def _plot_report_files(self, trainer) -> List[str]:
        return chainer_compat.plot_report_files(trainer)

    def _print_rest(self, trainer) -> None:
        PrintReport.__call__(self, trainer)  # the rows PrintReport has not printed yet
