"""This process's signal handlers: installed together, put back together; ending as a
signal would.

:class:`SignalHandlers` is the one piece that replaces Python signal handlers
for a while and restores the previous ones (the report's
:class:`~chainer_slack_report.job.termination.TerminationHandler` and the
command-line tool use it).  :func:`end_with_signal` ends the process with a
signal's own status once its handler has done its work, so that whoever
started the process sees what it would have seen without one.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Callable, Collection, Dict, Mapping, Optional, Tuple, Union

__all__ = ["SignalHandlers", "Handler", "end_with_signal", "signal_name", "CORE_SIGNALS"]

#: A Python signal handler: ``handler(signum, frame)``.
Handler = Callable[[int, object], None]

#: Signals whose default action writes a core file; :func:`end_with_signal` ends
#: the process with one of them without writing it.
CORE_SIGNALS = frozenset(getattr(signal, name) for name in (
    "SIGSEGV", "SIGABRT", "SIGBUS", "SIGFPE", "SIGILL", "SIGSYS", "SIGTRAP", "SIGQUIT",
    "SIGXCPU", "SIGXFSZ") if hasattr(signal, name))

_SURVIVE_WAIT = 0.5  # seconds: a signal sent to this process may reach another thread first
# Our handlers restored while another was installed over them -> the handler they replaced:
# whoever puts one of them back later (another report ending) puts back what it replaced.
_RESTORED: Dict[Tuple[int, Handler], Union[Handler, int]] = {}


def _unwrap(signum: int, handler):
    """``handler``, or what it replaced if it is one of ours that was restored already."""
    seen = set()
    while callable(handler) and (signum, handler) in _RESTORED and id(handler) not in seen:
        seen.add(id(handler))
        handler = _RESTORED[signum, handler]
    return handler


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


class SignalHandlers:
    """Handlers for several signals that are installed, and restored, together.

    Args:
        handlers (mapping of int to callable): Signal number → Python handler
            ``handler(signum: int, frame) -> None``.
        replace_ignored (collection of int): Signals to handle even when they
            are ignored (``SIG_IGN``) at :meth:`install`, e.g. ``SIGWINCH``.
            Every other ignored signal is left alone: it was ignored on
            purpose (``nohup``, a shell's background job), and a child process
            inherits that.

    A signal whose handler was not set from Python (``signal.getsignal`` gives
    None) is left alone too, as its handler could not be put back.  Only the
    main thread can set signal handlers: elsewhere :meth:`install` and
    :meth:`restore` do nothing.  Usable as a context manager (install on
    entry, restore on exit).
    """

    def __init__(self, handlers: Mapping[int, Handler], *,
                 replace_ignored: Collection[int] = ()) -> None:
        self._handlers: Dict[int, Handler] = dict(handlers)
        self._replace_ignored = frozenset(replace_ignored)
        self._previous: Dict[int, Union[Handler, int]] = {}

    @property
    def installed(self) -> bool:
        """True from a successful :meth:`install` to :meth:`restore`."""
        return bool(self._previous)

    def install(self) -> bool:
        """Install the handlers; True if at least one was installed.

        False (nothing done) outside the main thread, when already installed,
        or when every signal is left alone (see the class).
        """
        if self._previous or not _in_main_thread():
            return False
        for signum, handler in self._handlers.items():
            previous = signal.getsignal(signum)
            if previous is None or (previous == signal.SIG_IGN
                                    and signum not in self._replace_ignored):
                continue
            self._previous[signum] = previous
            signal.signal(signum, handler)
        return bool(self._previous)

    def previous(self, signum: int) -> Optional[Union[Handler, int]]:
        """The handler ``signum`` had before :meth:`install` (what that one replaced, if it
        is one of ours restored already), or None if it was not replaced (or is no
        longer: after :meth:`restore`, unless another handler was over ours then)."""
        previous = self._previous.get(signum)
        if previous is None and signum in self._handlers:  # restored under another's
            previous = _RESTORED.get((signum, self._handlers[signum]))
        return _unwrap(signum, previous)

    def restore(self) -> None:
        """Put the previous handlers back where ours are still installed.

        Idempotent; a handler someone installed over ours since is kept, and when
        it puts ours back (another report ending), what ours replaced comes back
        instead — so several reports in one process restore the user's handlers
        whatever order they end in.
        """
        if not _in_main_thread():
            return
        for signum, previous in self._previous.items():
            ours = self._handlers[signum]
            if signal.getsignal(signum) == ours:
                signal.signal(signum, _unwrap(signum, previous))
            else:
                _RESTORED[signum, ours] = previous
        self._previous.clear()

    def __enter__(self) -> SignalHandlers:
        self.install()
        return self

    def __exit__(self, *exc_info) -> None:
        self.restore()


def end_with_signal(signum: int) -> int:
    """End this process with signal ``signum``, as its default action does.

    ``sys.stdout`` and ``sys.stderr`` are flushed first (the default action
    would lose what they hold; a stream that cannot be flushed is skipped).
    Then the signal's action is reset to the default, the signal unblocked and
    sent to this process (for a signal in :data:`CORE_SIGNALS`, after the
    core-file size limit is set to 0: no core file).  So the parent sees the
    signal's own status (a shell: ``$?`` is 128 + ``signum``), as without a
    handler.  Callable from a signal handler.

    Returns:
        int: ``128 + signum``, only if the process survived (a signal whose
        default action does not end a process, such as SIGWINCH): an exit
        status that still names the signal.
    """
    _flush_standard_streams()
    if signum in CORE_SIGNALS:
        try:
            import resource

            _, hard = resource.getrlimit(resource.RLIMIT_CORE)
            resource.setrlimit(resource.RLIMIT_CORE, (0, hard))
        except (ImportError, ValueError, OSError):
            pass
    try:
        if signum not in (getattr(signal, "SIGKILL", None), getattr(signal, "SIGSTOP", None)):
            signal.signal(signum, signal.SIG_DFL)  # these two cannot be changed: no need
            if hasattr(signal, "pthread_sigmask"):
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
        os.kill(os.getpid(), signum)
        time.sleep(_SURVIVE_WAIT)
    except (OSError, ValueError):
        pass
    return 128 + signum


def signal_name(signum: int) -> str:
    """``"SIGTERM"`` for 15; ``"signal N"`` for a number without a name."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _flush_standard_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError, RuntimeError):  # closed, or a call from a signal
            pass  # handler while the interrupted code was writing to it (reentrant)
