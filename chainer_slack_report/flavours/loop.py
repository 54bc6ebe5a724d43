"""What the flavours of a loop without LogReport share: :class:`~chainer_slack_report.Run`
and the PyTorch Lightning and Hugging Face transformers callbacks.

Such a loop hands over its rows one at a time (``run.log(...)``, a callback
reading what the framework logged); :class:`LoopReport` gives them to the
report, samples the progress, prints the table locally as PrintReport does
while the report is not in Slack, and delivers the end once: from the
flavour's own hook, from a ``with`` block, or at the interpreter's exit.
No framework here.
"""

from __future__ import annotations

import atexit
import enum
import functools
import sys
import time
import warnings
from typing import Any, Dict, List, Mapping, Optional, Sequence, TextIO

from ..job.ranks import Process
from ..options import ReportOptions
from ..outcome import Outcome
from ..rendering.message import format_header, format_row
from ..rendering.progress import Progress
from ..run_report import (
    MESSAGE_KEYS,
    CurrentStdout,
    MessageRef,
    Mode,
    RunReport,
    resume_note,
    wait_for_final_reports,
)
from .base import ReportExtension, flavour, keyword

__all__ = ["LoopReport", "loop_flavour", "LOOP_DOCS", "plain", "outcome_of", "message_ref_of",
           "torch_process", "uncaught_exception"]


#: The ``Args:`` text the loop flavours share, for :func:`~.base.flavour`'s ``docs``:
#: ``{out}``, and ``{rest}`` (the options, ``options`` and what is raised).
LOOP_DOCS = {
    "rest": """\
        {options}
        options (ReportOptions or None): The options above as one object
            (keyword arguments given too are put over it).

    Raises:
        TypeError: An argument of the wrong type, or an unknown one.
        ValueError: An argument of the right type but an unusable value.""",
    "out": """\
        out: A stream with ``write`` (and ``flush``): where the table is
            printed, as PrintReport prints it, while the report is local (no
            token or channel, or after Slack refused it).  None (default):
            whatever ``sys.stdout`` is when a row is printed.  Nothing is
            written to it while Slack shows the report.""",
}


def loop_flavour(*own):
    """:func:`~.base.flavour` for a loop flavour: its ``own`` keyword-only arguments, then
    ``out``; its docstring's ``{out}`` and ``{rest}`` from :data:`LOOP_DOCS`."""
    return flavour(*own, keyword("out", None, "Optional[TextIO]"), docs=LOOP_DOCS)


class _Phase(enum.Enum):
    NEW = "new"  # built, not started
    LIVE = "live"  # the message is posted (or continued)
    ENDED = "ended"  # the final status is delivered (or given up)


class LoopReport(ReportExtension):
    """The part of :class:`~chainer_slack_report.Run` and the callbacks that is the same.

    Args:
        access_token, channel_id, entries, options, kwargs: As every flavour
            takes them (:func:`~chainer_slack_report.flavours.base.flavour`).
        out: Where the table is printed while the report is local (None:
            ``sys.stdout`` at each write).
        process: The rank and size of the job (None: from the launcher's
            environment); a framework that knows better tells
            :meth:`_in_process` before the run starts.
    """

    def __init__(self, access_token: Optional[str], channel_id: Optional[str],
                 entries: Optional[Sequence[str]], options: Optional[ReportOptions],
                 kwargs: Mapping[str, Any], *, out: Optional[TextIO] = None,
                 process: Optional[Process] = None) -> None:
        self.report = self._make_report(access_token, channel_id, entries, options, kwargs,
                                        process)
        self._remake = functools.partial(RunReport, access_token, channel_id, entries,
                                         self.report.options)
        if out is not None and not callable(getattr(out, "write", None)):
            raise TypeError(f"out must be a stream with write() (a file, sys.stderr) or "
                            f"None, got {type(out).__name__}")
        self._out = CurrentStdout() if out is None else out
        self._header_printed = False
        self._unprinted: List[Dict[str, Any]] = []  # rows not printed locally (yet)
        self._phase = _Phase.NEW
        self._progress: Optional[Progress] = None
        self._resume: Optional[MessageRef] = None  # from a saved state
        self._old_exc: Optional[BaseException] = None  # an uncaught exception before this run

    # -- a with block ends the run ----------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        """Deliver how the block ended (the exception, if any, goes on)."""
        self._finish(outcome_of(exc, tb))
        return False

    # -- the message's place, for a checkpoint ----------------------------------------------
    def state_dict(self) -> Dict[str, str]:
        """The message's channel ID and ``ts`` (``{"slack_channel_id": …, "slack_ts": …}``),
        once posted; ``{}`` before.  No token, no rows."""
        ref = self.report.message_ref or self._resume
        return dict(zip(MESSAGE_KEYS, ref)) if ref is not None else {}

    # -- what the flavours call --------------------------------------------------------
    @property
    def _started(self) -> bool:
        return self._phase is not _Phase.NEW

    def _in_process(self, process: Process) -> None:
        """The framework's own rank and size: the report is built again for them if they
        differ from the environment's (before the run starts; its warnings were given)."""
        if self._phase is _Phase.NEW and tuple(process) != tuple(self.report.process):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.report = self._remake(process=process)

    def _begin(self, *, progress: Optional[Progress] = None, where: Optional[str] = None,
               at_exit: bool = True) -> None:
        """Post (or continue) the message, once.

        Args:
            progress: The run's progress, sampled by :meth:`_step`.
            where: Where a resumed run starts (``"epoch 3, step 120"``), for its
                thread reply.
            at_exit: Deliver the end at the interpreter's exit if nothing did before.
        """
        if self._phase is not _Phase.NEW:
            return
        self._phase = _Phase.LIVE
        self._progress = progress
        started = time.monotonic()
        resume = self._resume
        self.report.start(lambda: time.monotonic() - started, resume=resume,
                          resume_note=resume_note(where or "a checkpoint") if resume else None,
                          progress=progress)
        if at_exit and self.report.mode is not Mode.LOCAL:
            self._old_exc = uncaught_exception()
            atexit.register(self._at_exit)

    def _step(self, iteration: float, epoch_detail: float) -> None:
        """Where the run is (cheap: a tuple, no I/O); the status becomes ``[Training]``."""
        if self._progress is not None:
            self._progress.sample(iteration, epoch_detail)
        if self._phase is _Phase.LIVE and self.report.mode is Mode.SLACK:
            self.report.running()

    def _log(self, observation: Mapping[str, Any]) -> None:
        """One row: to the message, or printed locally."""
        if self._phase is _Phase.ENDED:
            return
        row = {str(key): plain(value) for key, value in observation.items()}
        self.report.add([row])
        mode = self.report.mode
        if mode is Mode.SILENT:
            return
        self._unprinted.append(row)  # kept while Slack has them: printed if it refuses
        if mode is Mode.SLACK:
            self.report.running()
        else:
            self._print_rest(None)

    def _finish(self, outcome: Outcome, *, exiting: bool = False) -> None:
        """Deliver ``outcome`` once (``[Started]`` first if the run had not started)."""
        if self._phase is _Phase.ENDED:
            return
        self._begin(at_exit=False)
        self._phase = _Phase.ENDED
        if not exiting:  # unregistering from within an exit handler is not safe
            atexit.unregister(self._at_exit)
        self._end(self, outcome)

    def _at_exit(self) -> None:
        """The interpreter exits and the run has not ended: deliver how it ended."""
        exc = uncaught_exception()
        self._finish(Outcome.of_exception(None if exc is self._old_exc else exc), exiting=True)
        wait_for_final_reports()  # at exit the handler that waits for them may not run

    # -- ReportExtension's part ----------------------------------------------------------
    def _take_rows(self, host, update: bool = False) -> None:
        """Nothing: each row was handed over when logged."""

    def _plot_report_files(self, host) -> List[str]:
        return []  # no PlotReport: ``plots`` takes file paths here

    def _print_rest(self, host) -> None:
        """Print the rows not printed yet, as PrintReport does (the header first, once)."""
        rows, self._unprinted = self._unprinted, []
        entries = self.report.entries
        lines = [] if self._header_printed else [format_header(entries)]
        self._header_printed = True
        lines += [format_row(entries, row) for row in rows]
        if lines:
            self._out.write("\n".join(lines) + "\n")
            flush = getattr(self._out, "flush", None)
            if callable(flush):
                flush()


def plain(value: Any) -> Any:
    """A value as the table shows it: a 0-d tensor or NumPy scalar as its Python number
    (``.item()``; on a GPU tensor that waits for the GPU), anything else as it is."""
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", None) == 0:
        try:
            return item()
        except Exception:  # noqa: BLE001 - shown with str() instead
            return value
    return value


def outcome_of(exc: Optional[BaseException], tb=None) -> Outcome:
    """How a run ends with ``exc`` in flight (None: completed): Ctrl-C
    ``[Interrupted]``, an exception or ``sys.exit`` with a non-zero status
    ``[Failed]``."""
    if isinstance(exc, SystemExit) and exc.code not in (None, 0):
        return Outcome.failed(exc, tb)
    if isinstance(exc, Exception):
        return Outcome.failed(exc, tb)
    return Outcome.of_exception(exc)


def message_ref_of(state: Optional[Mapping[str, Any]]) -> Optional[MessageRef]:
    """The message a saved state (:data:`~chainer_slack_report.run_report.MESSAGE_KEYS`)
    names, or None when it names none."""
    if not isinstance(state, Mapping):
        return None
    values = [state.get(key) for key in MESSAGE_KEYS]
    return MessageRef(*values) if all(isinstance(v, str) and v.strip() for v in values) else None


def torch_process() -> Optional[Process]:
    """Rank and world size of an initialized ``torch.distributed`` (only if the program
    imported it); else None."""
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        return Process(dist.get_rank(), dist.get_world_size())
    return None


def uncaught_exception() -> Optional[BaseException]:
    """The exception that ended the main program (Python sets it before exit handlers run)."""
    return getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)
