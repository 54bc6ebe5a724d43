"""``SlackReport`` for pytorch-pfn-extras: ppe's PrintReport, shown in one live Slack message.

>>> from chainer_slack_report.ppe import SlackReport
>>> manager.extend(SlackReport(token, channel_id, entries), trigger=(1, "epoch"))  # doctest: +SKIP

The PyTorch flavour of :class:`chainer_slack_report.SlackReport`: the same
arguments (but ``comm``), message, statuses, template, normalizers, mentions,
sparklines, plots and rate limits (all of it in
:class:`~chainer_slack_report.run_report.RunReport`), glued to
``pytorch_pfn_extras.training.ExtensionsManager`` instead of a Chainer trainer.
No Chainer here.
"""

from __future__ import annotations

import atexit
import enum
import sys
from typing import Any, Dict, List, Optional

try:
    from pytorch_pfn_extras.training import extension as _ppe_extension
    from pytorch_pfn_extras.training.extensions import LogReport, PrintReport

    from . import ppe_compat
except ImportError as _exc:  # pragma: no cover - tested in a subprocess
    raise ImportError(
        f"chainer_slack_report.ppe needs pytorch-pfn-extras (and PyTorch): "
        f"pip install pytorch-pfn-extras  ({type(_exc).__name__}: {_exc})") from _exc

from ..options import ReportOptions
from ..outcome import Outcome
from ..run_report import MESSAGE_KEYS, CurrentStdout, MessageRef, Mode, wait_for_final_reports
from ..warning import warn
from .base import ReportExtension, elapsed_of, flavour, keyword, progress_of, resumed_from
from .loop import message_ref_of, torch_process, uncaught_exception

__all__ = ["SlackReport"]


class _Phase(enum.Enum):
    NEW = "new"  # not initialized yet
    AWAITING_STATE = "awaiting state"  # initialized inside manager.load_state_dict
    LIVE = "live"  # the message is posted (or continued)
    ENDED = "ended"  # the final status is delivered (or given up)


@flavour(keyword("log_report", "LogReport", "Union[str, LogReport]"),
         keyword("out", None, "Optional[TextIO]"))
class SlackReport(ReportExtension, PrintReport):
    """pytorch-pfn-extras extension that shows PrintReport's table in one live Slack message.

    ``manager.extend(SlackReport(token, channel_id, entries), trigger=(1, "epoch"))``
    on a ``pytorch_pfn_extras.training.ExtensionsManager`` that also has a
    ``LogReport``.  The message is posted with ``chat.postMessage`` when the
    manager starts its extensions and then edited with ``chat.update``.  A
    background worker does all the Slack calls: :meth:`__call__` only hands
    over the new LogReport rows.  While training, the status line shows the
    progress and ETA from the manager's stop trigger.  At the end the status
    becomes ``[Completed]``, ``[Failed]`` (with the exception and the end of
    its traceback), ``[Interrupted]`` (Ctrl-C) or ``[Terminated]``
    (SIGTERM/SIGHUP), and a reply in the message's thread notifies
    ``finish_mentions`` (edits notify nobody).

    How the end is found: the manager calls :meth:`finalize` when its stop
    trigger fires (``[Completed]``).  An exception inside
    ``manager.run_iteration()`` reaches :meth:`on_error`, which delivers
    ``[Failed]`` itself, since the manager does not finalize its extensions
    after an error.  A run that ends otherwise (Ctrl-C, which ppe does not
    pass to ``on_error``; an exception outside ``run_iteration``; a loop left
    before the stop trigger) is delivered when the interpreter exits:
    ``[Interrupted]``, ``[Failed]`` with that exception, or ``[Completed]``.
    Calling ``manager.finalize()`` yourself (e.g. in a ``finally``) ends it
    at once instead.  ``{elapsed}`` is the manager's ``elapsed_time`` (0
    before the first ``run_iteration``; like LogReport's ``elapsed_time``, it
    starts again in a resumed process).

    Args:
        {first}
        log_report (str or LogReport): As in PrintReport: the name of the
            manager's LogReport, or a LogReport of this extension's own.
        out: As in PrintReport, a stream with ``write`` (and ``flush``):
            where the table is printed while the report is local (no token or
            channel, or after Slack refused it).  None (default): whatever
            ``sys.stdout`` is when a row is printed.  Nothing is written to
            it while Slack shows the report.
        {options}
        options (ReportOptions or None): The options above as one object
            (keyword arguments given too are put over it).

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
        TypeError: An argument of the wrong type, or an unknown one.
        ValueError: An argument of the right type but an unusable value (an
            unknown ``len_normalizer``, a budget too small, broken braces…).

    Without a token or a channel, one warning is given and the report is
    printed to ``out`` exactly as ppe's PrintReport prints it.
    """

    priority = _ppe_extension.PRIORITY_SNAPSHOT - 1

    def __init__(self, access_token: Optional[str] = None, channel_id: Optional[str] = None,
                 entries=None, *, log_report="LogReport", out=None,
                 options: Optional[ReportOptions] = None, **kwargs) -> None:
        if not isinstance(log_report, (str, LogReport)):
            raise TypeError(f"log_report must be the name of a LogReport (str) or a "
                            f"pytorch_pfn_extras LogReport, got {type(log_report).__name__}")
        self.report = self._make_report(access_token, channel_id, entries, options, kwargs,
                                        process=torch_process())
        super().__init__(list(entries), log_report=log_report,
                         out=CurrentStdout() if out is None else out)
        self._phase = _Phase.NEW
        self._manager = None
        self._rows = None  # our looker on LogReport's rows (as PrintReport has its own)
        self._progress = None
        self._resume: Optional[MessageRef] = None  # from a state dict
        self._old_exc = None  # an uncaught exception from before this run

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
            self._rows = ppe_compat.new_looker(log_report)
            self.report.add(initial)
        if ppe_compat.restoring(manager):
            self._phase = _Phase.AWAITING_STATE
        else:
            self._start()

    def __call__(self, manager) -> None:
        """Hand the new LogReport rows to the report (no network I/O here)."""
        self._manager = manager
        if self._phase is _Phase.AWAITING_STATE:
            self._start()  # the state dict never came: training runs
        mode = self.report.mode
        if mode is Mode.SLACK:
            self._take_rows(manager, update=True)
            if self._progress is not None:
                self._progress.sample(manager.iteration, manager.epoch_detail)
            self.report.running()
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
        self._finish(Outcome.failed(exc, tb))

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
        self._finish(Outcome.of_exception(sys.exc_info()[1]))

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
        ref = message_ref_of(to_load)
        if self._phase in (_Phase.LIVE, _Phase.ENDED):
            if ref is not None and ref != self.report.message_ref:
                warn(f"SlackReport: the state dict's message (ts {ref.ts}) came after this "
                     f"run had started a message of its own, which it keeps; keep "
                     f"SlackReport's default priority so that a snapshot with autoload=True "
                     f"is loaded first")
            return
        self._resume = ref
        if self._phase is _Phase.AWAITING_STATE:
            self._start()

    # -- the run's start and end -----------------------------------------------------
    def _start(self) -> None:
        """Post (or continue) the message, once."""
        if self._phase in (_Phase.LIVE, _Phase.ENDED):
            return
        self._phase = _Phase.LIVE
        manager = self._manager
        note = resumed_from(manager.iteration, manager.epoch) if self._resume else None
        self._progress = progress_of(ppe_compat.training_length(manager), manager.iteration,
                                     manager.epoch_detail)
        self.report.start(lambda: elapsed_of(manager), resume=self._resume, resume_note=note,
                          progress=self._progress)
        if self.report.mode is not Mode.LOCAL:
            self._old_exc = uncaught_exception()
            atexit.register(self._at_exit)

    def _finish(self, outcome: Outcome, *, exiting: bool = False) -> None:
        """Deliver ``outcome`` once (posting the message first if the run never started)."""
        if self._phase is _Phase.ENDED:
            return
        if self._manager is not None:
            try:
                self._start()
            except Exception:  # noqa: BLE001 - a manager that cannot tell where it is
                pass
        self._phase = _Phase.ENDED
        if not exiting:  # unregistering from within an exit handler is not safe
            atexit.unregister(self._at_exit)
        if self.report.mode is not Mode.LOCAL:
            self._end(self._manager, outcome)

    def _at_exit(self) -> None:
        """The interpreter exits and the run has not ended: deliver how it ended."""
        exc = uncaught_exception()
        self._finish(Outcome.of_exception(None if exc is self._old_exc else exc), exiting=True)
        # At exit the handler that waits for late final reports may not run any more.
        wait_for_final_reports()

    # -- the flavour's part of ReportExtension ----------------------------------------
    def _find_log_report(self, manager) -> Optional[LogReport]:
        """The LogReport to read (None on a silent rank that has none)."""
        try:
            return ppe_compat.log_report_of(self, manager)[0]
        except ValueError:
            if self.report.mode is Mode.SILENT:
                return None  # a rank without a LogReport: its failure shows without rows
            raise

    def _take_rows(self, manager, update: bool = False) -> None:
        """Hand LogReport's rows not handed over yet to the report.

        Args:
            update: Run an owned LogReport first (PrintReport does so in its
                own ``__call__``; only the Slack path needs it here).
        """
        looker = self._rows
        if looker is None:
            return
        if update:
            log_report, owned = ppe_compat.log_report_of(self, manager)
            if owned:
                log_report(manager)
        rows = looker.get()
        if rows:
            self.report.add(list(rows))
            looker.clear()

    def _plot_report_files(self, manager) -> List[str]:
        return ppe_compat.plot_report_files(manager)

    def _print_rest(self, manager) -> None:
        PrintReport.__call__(self, manager)  # the rows PrintReport has not printed yet

