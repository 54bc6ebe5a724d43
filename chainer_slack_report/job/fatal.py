"""What Python's ``faulthandler`` wrote as a process died of a fatal signal.

``faulthandler.enable(file=fd, all_threads=True)`` makes CPython write, on
SIGSEGV, SIGFPE, SIGABRT, SIGBUS or SIGILL, ``Fatal Python error: <what>``
and each thread's stack (``Current thread 0x… (most recent call first):`` for
the one that crashed) to ``fd`` before the process dies (Python's
``faulthandler`` documentation).  :func:`parse_fatal_error` turns that text
into the line a report shows.  SIGKILL leaves no such text.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

__all__ = ["FatalError", "parse_fatal_error"]

_FRAMES = 6  # of the crashed thread, most recent first
# faulthandler's words for each fatal signal (Modules/faulthandler.c, faulthandler_handlers)
_SIGNALS = {"Segmentation fault": "SIGSEGV", "Floating-point exception": "SIGFPE",
            "Floating point exception": "SIGFPE", "Aborted": "SIGABRT", "Bus error": "SIGBUS",
            "Illegal instruction": "SIGILL"}
_MARKER = "Fatal Python error: "


class FatalError(NamedTuple):
    """A fatal error faulthandler reported."""

    what: str  #: faulthandler's words, e.g. ``"Segmentation fault"``
    signal: Optional[str]  #: e.g. ``"SIGSEGV"`` (None for another fatal error)
    frames: str  #: the crashed thread's last frames, most recent call last

    def cause(self) -> str:
        """``Killed by SIGSEGV (Segmentation fault)``."""
        return (f"Killed by {self.signal} ({self.what})" if self.signal else
                f"Fatal Python error: {self.what}")

    def detail(self, where: str) -> str:
        """Plain text for the report, as a traceback reads: where the crashed thread
        was (most recent call last), then ``{where}: Killed by SIGSEGV (…)``."""
        cause = f"{where}: {self.cause()}"
        if not self.frames:
            return cause
        return f"The crashed thread (most recent call last):\n{self.frames}\n{cause}"


def parse_fatal_error(text: str) -> Optional[FatalError]:
    """The last fatal error in ``text`` (what faulthandler wrote), or None if none."""
    start = text.rfind(_MARKER)
    if start < 0:
        return None
    lines = text[start + len(_MARKER):].splitlines()
    what = lines[0].strip() if lines else ""
    blocks = []  # (is the crashed thread, its frames), in the order written
    for line in lines[1:]:
        if line.startswith(("Current thread ", "Thread ")):
            blocks.append((line.startswith("Current thread "), []))
        elif line.startswith("  File ") and blocks:
            blocks[-1][1].append(line.strip())
    crashed = next((frames for current, frames in blocks if current),
                   blocks[0][1] if blocks else [])
    return FatalError(what, _SIGNALS.get(what), "\n".join(reversed(crashed[:_FRAMES])))
