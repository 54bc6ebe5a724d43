"""What the flavours share: building the :class:`RunReport`, ending it, the 0.3 attributes.

A flavour is a subclass of its framework's ``PrintReport`` and of
:class:`ReportExtension`; it adds only the framework glue: when the run starts,
how rows are taken from LogReport, which exception ended the run.
"""

from __future__ import annotations

import inspect
import re
from typing import Any, List, Mapping, Optional, Sequence

from ..job.ranks import Process
from ..options import FIRST_ARGS_DOC, OPTIONS_DOC, ReportOptions, flavour_signature
from ..outcome import Outcome
from ..rendering.progress import Progress
from ..run_report import Mode, RunReport, resume_note
from ..warning import warn

__all__ = ["ReportExtension", "flavour", "progress_of", "elapsed_of", "missing_framework"]


def flavour(*own: inspect.Parameter, docs: Optional[Mapping[str, str]] = None):
    """Class decorator: the flavour's docstring gets the ``Args:`` text of the first three
    arguments where it says ``{first}`` and of the options where it says ``{options}``,
    and its ``__init__`` the full signature (``help()`` lists every
    argument) with the flavour's ``own`` keyword-only arguments.  ``docs`` maps more
    ``{name}`` lines to their text (replaced first: it may hold ``{options}``)."""
    def decorate(cls):
        doc = cls.__doc__
        for name, text in (*(docs or {}).items(), ("first", FIRST_ARGS_DOC),
                           ("options", OPTIONS_DOC)):
            doc = re.sub(r"^[ \t]*\{" + name + r"\}$", lambda _, t=text: t.strip("\n"), doc,
                         count=1, flags=re.M)
        cls.__doc__ = doc
        cls.__init__.__signature__ = flavour_signature(*own)
        return cls
    return decorate


def missing_framework(module: str, needs: str, exc: ImportError) -> ImportError:
    """The error of a flavour whose framework does not import: what it needs, how to
    install it, and why the import failed."""
    return ImportError(f"{module} needs {needs}  ({type(exc).__name__}: {exc})")


def keyword(name: str, default: Any, annotation: str) -> inspect.Parameter:
    """A keyword-only parameter of a flavour's own, for :func:`flavour`."""
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=annotation)


class ReportExtension:
    """The part every flavour shares; the flavour implements :meth:`_take_rows`,
    :meth:`_plot_report_files` and :meth:`_print_rest`."""

    report: RunReport

    def _make_report(self, access_token: Optional[str], channel_id: Optional[str],
                     entries: Optional[Sequence[str]], options: Optional[ReportOptions],
                     kwargs: Mapping[str, Any], process: Optional[Process]) -> RunReport:
        options = ReportOptions.of(type(self).__name__, options, kwargs)
        return RunReport(access_token, channel_id, entries, options, process=process)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.report.mode.value} channel={self.report.channel!r}>"

    @property
    def available(self) -> bool:
        """True while the report goes to Slack (the 0.3 package's attribute)."""
        return self.report.mode is Mode.SLACK

    @property
    def live(self):
        """The live Slack message
        (:class:`~chainer_slack_report.transport.live_message.LiveMessage`), None
        before the run starts and without Slack."""
        return self.report.live

    def _end(self, host, outcome: Outcome) -> None:
        """Take every row the LogReport has, deliver ``outcome`` (and the plots), and
        print what PrintReport has not printed if Slack refused the report.  Never raises.

        Args:
            host: The trainer (Chainer) or manager (ppe), or None if never seen.
        """
        try:
            if host is not None:
                self._take_rows(host)
            self.report.end(outcome, files=self._plot_files(host))
            if self.report.mode is Mode.FELL_BACK and host is not None:
                self._print_rest(host)
        except Exception as exc:  # noqa: BLE001 - on_error and finalize must never raise
            warn(f"SlackReport could not finalize: {type(exc).__name__}: {exc}")

    def _plot_files(self, host) -> List[str]:
        """The files ``plots`` asks for: the PlotReport images, or the paths given."""
        plots = self.report.options.plots
        if plots is False or host is None:
            return []
        if plots is True:
            return self._plot_report_files(host)
        return list(plots)

    # -- what each flavour implements ----------------------------------------------
    def _take_rows(self, host, update: bool = False) -> None:
        raise NotImplementedError

    def _plot_report_files(self, host) -> List[str]:
        raise NotImplementedError

    def _print_rest(self, host) -> None:
        raise NotImplementedError


def progress_of(length_unit, iteration: int, epoch_detail: float) -> Optional[Progress]:
    """The run's progress from its stop trigger's ``get_training_length()`` (a callable
    returning ``(length, "epoch" | "iteration")``), or None when it has none."""
    try:
        length, unit = length_unit()
        return Progress(length, unit, position=epoch_detail if unit == "epoch" else iteration)
    except Exception:  # noqa: BLE001 - a stop trigger without a length: no progress shown
        return None


def elapsed_of(host) -> float:
    """``host.elapsed_time`` in seconds (a snapshot's time included), 0 before the run."""
    try:
        return float(host.elapsed_time)
    except Exception:  # noqa: BLE001 - not started yet (ppe raises RuntimeError)
        return 0.0


def resumed_from(iteration, epoch) -> str:
    """The thread reply of a resumed run: from which iteration, where."""
    return resume_note(f"iteration {iteration}, epoch {epoch}")
