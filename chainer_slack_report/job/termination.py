"""SIGTERM and SIGHUP: report the end of the run, then end as the signal says.

A batch scheduler preempting a job (Slurm, Kubernetes), ``kill``, or a closed
terminal stop the process with SIGTERM or SIGHUP, whose default action ends it
at once: no ``finally`` runs, and the run's message would stay ``[Training]``.
:class:`TerminationHandler` installs a handler that first calls ``on_signal``
(which delivers the final status within its own time limit), then does what
the previous handler would have done: calls the user's handler, or restores
the default action and re-sends the signal, so the process still ends with
that signal's status.  Only the main thread can install signal handlers; in
any other thread this does nothing.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Callable, Dict

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
        self._signals = tuple(signals)
        self._previous: Dict[int, object] = {}

    @property
    def installed(self) -> bool:
        return bool(self._previous)

    def install(self) -> bool:
        """Install the handlers; False outside the main thread (nothing done)."""
        if self._previous or threading.current_thread() is not threading.main_thread():
            return False
        for signum in self._signals:
            previous = signal.getsignal(signum)
            if previous is signal.SIG_IGN or previous is None:
                continue  # ignored, or set from outside Python: leave it alone
            self._previous[signum] = previous
            signal.signal(signum, self._handle)
        return bool(self._previous)

    def restore(self) -> None:
        """Put the previous handlers back (main thread only; idempotent)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum, previous in self._previous.items():
            if signal.getsignal(signum) == self._handle:
                signal.signal(signum, previous)
        self._previous.clear()

    def _handle(self, signum: int, frame) -> None:
        previous = self._previous.get(signum, signal.SIG_DFL)
        self.restore()
        self._on_signal(signum)
        if callable(previous):
            previous(signum, frame)  # the user's handler decides what happens next
        elif previous == signal.SIG_DFL:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)  # end with this signal's status
