"""The emulator's clock: what "now" is for message ``ts``, rate-limit windows and schedules.

It runs with real time (a monotonic clock, started at the wall-clock time it was
made), so a test that sleeps sees time pass.  A test can also move it forward
with :meth:`Clock.advance` instead of waiting, or :meth:`Clock.freeze` it so
that every request arrives at the same instant (the rate limiter then decides
on counts alone, however fast or slow the machine is).
"""

from __future__ import annotations

import threading
import time
from typing import Optional

__all__ = ["Clock"]


class Clock:
    """Unix time in seconds (float) that tests can move forward or stop.

    Args:
        start (float): The Unix time (seconds) it starts at; None: the real
            wall-clock time now.
        frozen (bool): Start frozen (see :meth:`freeze`).
    """

    def __init__(self, start: Optional[float] = None, *, frozen: bool = False) -> None:
        self._lock = threading.Lock()
        self._base = time.time() if start is None else float(start)
        self._origin = time.monotonic()
        self._offset = 0.0  #: seconds added by advance() and taken by freezing
        self._frozen_at: Optional[float] = None  #: monotonic() when frozen
        if frozen:
            self.freeze()

    def now(self) -> float:
        """The emulator's current Unix time in seconds."""
        with self._lock:
            return self._now()

    def _now(self) -> float:
        mono = self._frozen_at if self._frozen_at is not None else time.monotonic()
        return self._base + (mono - self._origin) + self._offset

    def advance(self, seconds: float) -> float:
        """Move the clock ``seconds`` (>= 0) forward at once; returns the new now.

        Raises:
            ValueError: ``seconds`` is negative (the clock never goes back).
        """
        if not seconds >= 0:
            raise ValueError(f"the clock only moves forward, not by {seconds!r} seconds")
        with self._lock:
            self._offset += float(seconds)
            return self._now()

    def freeze(self) -> None:
        """Stop the clock: ``now()`` stays put until :meth:`advance` or :meth:`thaw`."""
        with self._lock:
            if self._frozen_at is None:
                self._frozen_at = time.monotonic()

    def thaw(self) -> None:
        """Let the clock run with real time again, from where it stood."""
        with self._lock:
            if self._frozen_at is not None:
                self._offset -= time.monotonic() - self._frozen_at
                self._frozen_at = None

    @property
    def frozen(self) -> bool:
        """True while :meth:`freeze` holds the clock still."""
        return self._frozen_at is not None
