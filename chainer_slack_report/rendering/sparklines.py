"""Sparklines: a whole run's curve of one observation key in one line of text.

``main/loss  █▆▄▃▃▂▂▁▁▁  0.0312`` — eight block characters (U+2581…U+2588)
scaled between the series' minimum and maximum.  A :class:`Series` keeps a
key's values in bounded memory however long the run is: values are averaged
into bins, and when the bins reach twice the display width, neighbouring bins
merge (each bin then covers twice as many rows), so adding is amortised O(1)
and memory is O(width).
"""

from __future__ import annotations

import math
from typing import List, Optional

__all__ = ["Series", "sparkline", "BLOCKS"]

#: The eight levels, lowest first.
BLOCKS = "▁▂▃▄▅▆▇█"


class Series:
    """The values of one key over a whole run, averaged into at most ``2 × width`` bins.

    Args:
        width (int): Characters of the sparkline it will be shown as.
    """

    def __init__(self, width: int = 20) -> None:
        self.width = width
        self.latest: Optional[float] = None  #: the newest value added
        self.count = 0  #: values added
        self._bins: List[float] = []  # means of full bins, oldest first
        self._size = 1  # values per full bin
        self._sum = 0.0  # the bin being filled
        self._n = 0

    def add(self, value: object) -> None:
        """Add the next value; anything that is not a finite number is skipped."""
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return
        if not math.isfinite(number):
            return
        self.latest = number
        self.count += 1
        self._sum += number
        self._n += 1
        if self._n < self._size:
            return
        self._bins.append(self._sum / self._n)
        self._sum, self._n = 0.0, 0
        if len(self._bins) >= 2 * self.width:
            bins = self._bins
            self._bins = [(bins[i] + bins[i + 1]) / 2 for i in range(0, len(bins) - 1, 2)]
            self._size *= 2

    def points(self) -> List[float]:
        """The series resampled to at most ``width`` points, oldest first."""
        bins = list(self._bins)
        if self._n:
            bins.append(self._sum / self._n)  # the newest, partly filled bin
        if len(bins) <= self.width:
            return bins
        out = []
        for k in range(self.width):  # average the bins that fall into each point
            start = k * len(bins) // self.width
            end = (k + 1) * len(bins) // self.width
            chunk = bins[start:end]
            out.append(sum(chunk) / len(chunk))
        return out


def sparkline(points: List[float]) -> str:
    """``points`` as block characters scaled from their minimum to their maximum.

    A flat series is drawn at mid height; an empty one is ``""``.
    """
    if not points:
        return ""
    low, high = min(points), max(points)
    if high - low <= 1e-12 * max(1.0, abs(high)):
        return BLOCKS[3] * len(points)
    top = len(BLOCKS) - 1
    return "".join(BLOCKS[round((p - low) / (high - low) * top)] for p in points)
