"""How a run stands and how it ended: :class:`Status` and :class:`Outcome`.

Every flavour ends its report with one :class:`Outcome`, built by the
classmethods below from what the framework saw (the exception in flight, a
signal, a command's exit status); :meth:`RunReport.end
<chainer_slack_report.run_report.RunReport.end>` delivers it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Optional

from .job.signals import signal_name
from .rendering.mrkdwn import truncate_utf8

__all__ = ["Status", "Outcome"]

_ERROR_MAX_BYTES = 1200  # of the error text shown after a failure
_TRACEBACK_LINES = 6


class Status(str, enum.Enum):
    """A run's status, as ``{status}`` shows it (``str(Status.TRAINING) == "[Training]"``)."""

    STARTED = "[Started]"  #: posted, the trainer has not run an iteration yet
    TRAINING = "[Training]"  #: training
    RUNNING = "[Running]"  #: a command run by ``chainer-slack-report run`` is running
    STALLED = "[Stalled]"  #: alive, but no new row for ``stall_after`` seconds
    COMPLETED = "[Completed]"  #: ended normally
    FAILED = "[Failed]"  #: ended by an exception (or a non-zero exit status)
    INTERRUPTED = "[Interrupted]"  #: ended by Ctrl-C (SIGINT)
    TERMINATED = "[Terminated]"  #: ended from outside (SIGTERM, SIGHUP)
    KILLED = "[Killed]"  #: died of a fatal signal, or the OOM killer (the watchdog saw why)
    LOST = "[Lost]"  #: died without a final report and without a trace of why

    def __str__(self) -> str:
        return self.value

    @property
    def final(self) -> bool:
        """True for a status that ends the run."""
        return self not in (Status.STARTED, Status.TRAINING, Status.RUNNING, Status.STALLED)


@dataclass(frozen=True)
class Outcome:
    """How a run ended: its final :class:`Status` and what to say about it.

    Attributes:
        status (Status): A final status.
        detail (str or None): Plain text shown after the table (e.g. the
            exception's traceback tail, ``"Terminated by SIGTERM (15)"``);
            escaped when rendered.
    """

    status: Status
    detail: Optional[str] = None

    def __post_init__(self) -> None:
        if not isinstance(self.status, Status) or not self.status.final:
            raise ValueError(f"an Outcome needs a final Status, not {self.status!r}")

    @classmethod
    def completed(cls, detail: Optional[str] = None) -> Outcome:
        return cls(Status.COMPLETED, detail)

    @classmethod
    def interrupted(cls, detail: Optional[str] = None) -> Outcome:
        return cls(Status.INTERRUPTED, detail)

    @classmethod
    def failed(cls, exc: Optional[BaseException] = None, tb=None, *,
               detail: Optional[str] = None) -> Outcome:
        """A failure: ``exc`` (with traceback ``tb``, default its own) shown as its
        last traceback lines and ``Type: message``, or ``detail`` as given."""
        if exc is not None:
            detail = format_error(exc, tb)
        return cls(Status.FAILED, detail)

    @classmethod
    def terminated(cls, signum: int, detail: Optional[str] = None) -> Outcome:
        """Ended by signal ``signum`` from outside (``"Terminated by SIGTERM (15)"``)."""
        return cls(Status.TERMINATED, detail or f"Terminated by {signal_name(signum)} ({signum})")

    @classmethod
    def killed(cls, detail: str) -> Outcome:
        """Died of a fatal signal or an OOM kill, as ``detail`` says (the watchdog's)."""
        return cls(Status.KILLED, detail)

    @classmethod
    def lost(cls, detail: str) -> Outcome:
        """Died without a final report, cause unknown (the watchdog's)."""
        return cls(Status.LOST, detail)

    @classmethod
    def of_exception(cls, exc: Optional[BaseException]) -> Outcome:
        """What an exception in flight means for the run (None: it completed)."""
        if isinstance(exc, KeyboardInterrupt):
            return cls.interrupted()
        if isinstance(exc, Exception):
            return cls.failed(exc)
        return cls.completed()


def format_error(exc: BaseException, tb=None) -> str:
    """The exception's last traceback lines and ``Type: message`` (plain text, at most
    1200 UTF-8 bytes)."""
    import traceback

    lines = "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))
    tail = "\n".join(lines.rstrip("\n").splitlines()[-_TRACEBACK_LINES:])
    return truncate_utf8(tail, _ERROR_MAX_BYTES, "\n…")
