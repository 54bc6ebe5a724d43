"""How far a run is, and when it will end.

:class:`Progress` estimates the remaining time the way Chainer's
``ProgressBar`` extension does: the speed is the progress made over the time
span of the last 100 samples, and the remaining time is what is left of the
training length at that speed.  Samples come from the training thread (cheap:
one tuple); the text is read on the worker when a message is rendered, so the
estimate counts down between samples at no extra API cost.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Callable, Optional, Tuple

__all__ = ["Progress"]


class Progress:
    """A run of ``length`` epochs or iterations.

    Args:
        length (float): The training length, in ``unit``.
        unit (str): ``"epoch"`` or ``"iteration"``.
        position (float): Where the run starts, in ``unit`` (a resumed run).
        window (int): Samples the speed is measured over (ProgressBar: 100).
        clock (callable): Seconds, monotonic (default :func:`time.monotonic`,
            looked up at each call so that time-freezing test tools apply).
    """

    def __init__(self, length: float, unit: str, *, position: float = 0.0, window: int = 100,
                 clock: Optional[Callable[[], float]] = None) -> None:
        if unit not in ("epoch", "iteration") or not length > 0:
            raise ValueError(f"a training length is a positive number of epochs or "
                             f"iterations, got {length!r} {unit!r}")
        self.length = float(length)
        self.unit = unit
        self._clock = clock or _monotonic
        self._recent: deque = deque(maxlen=window)
        # (position in unit, remaining seconds or None, clock time), replaced whole
        self._state: Tuple[float, Optional[float], float] = (float(position), None,
                                                             self._clock())

    def sample(self, iteration: int, epoch_detail: float) -> None:
        """Where the run is now (the updater's ``iteration`` and ``epoch_detail``)."""
        now = self._clock()
        self._recent.append((iteration, epoch_detail, now))
        old_iteration, old_epoch, old_time = self._recent[0]
        position = epoch_detail if self.unit == "epoch" else float(iteration)
        old = old_epoch if self.unit == "epoch" else float(old_iteration)
        span = now - old_time
        remaining = None
        if span > 0 and position > old:
            remaining = max(0.0, (self.length - position) / ((position - old) / span))
        self._state = (position, remaining, now)

    @property
    def fraction(self) -> float:
        """Done so far, 0 … 1."""
        return min(1.0, self._state[0] / self.length)

    def text(self) -> str:
        """e.g. ``"epoch 12/50 · 24 %"`` (whole units done, of the length)."""
        position = self._state[0]
        length = self.length
        shown = int(length) if length == int(length) else length
        return f"{self.unit} {int(position)}/{shown} · {self.fraction:.0%}".replace("%", " %")

    def eta(self) -> Optional[float]:
        """Seconds left, counting down since the last sample; None before a speed is known."""
        _, remaining, at = self._state
        if remaining is None:
            return None
        return max(0.0, remaining - (self._clock() - at))


def _monotonic() -> float:
    return time.monotonic()
