"""SIGTERM and SIGHUP: report the end of the run, then end as the signal says.

A batch scheduler preempting a job (Slurm, Kubernetes), ``kill``, or a closed
terminal stop the process with SIGTERM or SIGHUP, whose default action ends it
at once: no ``finally`` runs, and the run's message would stay ``[Training]``.
:class:`TerminationHandler` installs a handler that first calls ``on_signal``
(which delivers the final status within its own time limit; only in the
process that installed it: a process forked later, such as a
``multiprocessing.Pool`` worker, ends as it would without it), then does what
the previous handler would have done: calls the user's handler, or restores
the default action and re-sends the signal, so the process still ends with
that signal's status.  Only the main thread can install signal handlers; in
any other thread this does nothing.
"""

from __future__ import annotations

import os
import signal
from typing import Callable

from .signals import SignalHandlers, end_with_signal

__all__ = ["TerminationHandler", "TERMINATION_SIGNALS"]

#: The signals that end a job from outside (SIGHUP does not exist on Windows).
TERMINATION_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP")
                            if hasattr(signal, name))


class TerminationHandler:
    """Calls ``on_signal(signum)`` on SIGTERM/SIGHUP, then chains to the previous handler.

    Args:
        on_signal (callable): ``on_signal(signum: int) -> None``; it must not raise.
        signals (tuple of int): The signals to handle.

    A signal whose previous handler is ``SIG_IGN`` is left alone (it would not
    end the process).  :meth:`restore` puts the previous handlers back.
    """

    def __init__(self, on_signal: Callable[[int], None],
                 signals=TERMINATION_SIGNALS) -> None:
        self._on_signal = on_signal
        self._pid = os.getpid()  # the process that installed them
        self._handlers = SignalHandlers({signum: self._handle for signum in signals})

    @property
    def installed(self) -> bool:
        return self._handlers.installed

    def install(self) -> bool:
        """Install the handlers; False outside the main thread (nothing done)."""
        self._pid = os.getpid()
        return self._handlers.install()

    def restore(self) -> None:
        """Put the previous handlers back (main thread only; idempotent)."""
        self._handlers.restore()

    def _handle(self, signum: int, frame) -> None:
        previous = self._handlers.previous(signum)
        if previous is None:
            previous = signal.SIG_DFL
        if os.getpid() != self._pid:  # a process forked after the start (a Pool's worker)
            _as_without_us(signum, previous, frame)  # does not report the run
            return
        self.restore()
        self._on_signal(signum)
        if callable(previous):
            previous(signum, frame)  # the user's handler decides what happens next
        elif previous == signal.SIG_DFL:
            end_with_signal(signum)  # end with this signal's status


def _as_without_us(signum: int, previous, frame) -> None:
    """Do what ``previous`` does with ``signum``, in a process forked from the one that
    installed the handler: no report, no flush of the buffers it inherited."""
    signal.signal(signum, previous)
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_DFL:
        os.kill(os.getpid(), signum)
