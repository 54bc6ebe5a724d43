"""The curves of the blocks layout's line charts: a whole run in a few points, bounded memory.

``chart=`` names groups of observation keys (:func:`chart_groups` checks it);
each group becomes one :class:`ChartCurves`, which takes every log row once
(:meth:`ChartCurves.add`) and keeps a fixed number of samples of the run
however long it is.  A sample is the run's state after one row: the newest
finite value of each key of the group so far, and that row's ``epoch`` and
``iteration``.  Samples are kept at rows whose index is a multiple of a
stride that doubles whenever they would exceed twice the points a chart shows
(so adding is amortised O(1) and memory O(points × keys)); the newest sample
is always kept.  :meth:`ChartCurves.points` spreads the chart's points evenly
over the kept samples, the last one being the newest: so the last point of
each series is the newest value reported, exactly.  Values that are not
finite numbers (NaN, inf, strings) are skipped: JSON cannot carry NaN or inf,
and a chart cannot draw a string.
"""

from __future__ import annotations

import math
from typing import List, Mapping, NamedTuple, Optional, Sequence, Tuple

from .block_kit import CHART_MAX_LABEL, CHART_MAX_POINTS, CHART_MAX_SERIES, MAX_CHARTS

__all__ = ["ChartCurves", "ChartPoints", "chart_groups", "series_name", "X_KEYS"]

#: Observation keys the x labels come from, in order of preference (then the row's number).
X_KEYS = ("epoch", "iteration")


class ChartPoints(NamedTuple):
    """What one chart shows: its x labels and a series of values per key."""

    x_label: str  #: what the labels are: ``"epoch"``, ``"iteration"`` or ``"row"``
    labels: List[str]  #: one per point, unique, oldest first
    series: List[Tuple[str, List[float]]]  #: (key, one value per label) for each key reported


class ChartCurves:
    """One chart's keys over a whole run, sampled in bounded memory.

    Args:
        keys (sequence of str): The chart's observation keys, one series each.
        points (int): Points the chart shows (at most; Slack's limit is 20).

    ``add`` and ``points`` are for one thread (the worker's).
    """

    def __init__(self, keys: Sequence[str], points: int = CHART_MAX_POINTS) -> None:
        if points < 2:
            raise ValueError(f"points must be at least 2, got {points}")
        self.keys = tuple(keys)
        self.points_shown = points
        self.rows = 0  #: rows that carried a finite value of a key of the chart
        self._latest: dict = {}  # key -> newest finite value
        self._stride = 1  # samples are kept at rows whose index is a multiple of it
        self._kept: List[tuple] = []  # (row index, x values, key values), oldest first
        self._newest: Optional[tuple] = None

    @property
    def held(self) -> int:
        """Samples held now (at most ``2 × points + 2``, however many rows were added)."""
        return len(self._kept) + (self._newest is not None)

    def add(self, observation: Mapping[str, object]) -> None:
        """Take the next log row (O(keys); amortised O(1) in the run's length)."""
        latest = self._latest
        changed = False
        for key in self.keys:
            if key in observation:
                number = _finite(observation[key])
                if number is not None:
                    latest[key] = number
                    changed = True
        if not changed:
            return
        sample = (self.rows, tuple(observation.get(k) for k in X_KEYS),
                  tuple(latest.get(k) for k in self.keys))
        self.rows += 1
        newest = self._newest
        if newest is not None and newest[0] % self._stride == 0:
            self._kept.append(newest)
            if len(self._kept) > 2 * self.points_shown:
                self._kept = self._kept[::2]  # the multiples of twice the stride
                self._stride *= 2
        self._newest = sample

    def points(self) -> Optional[ChartPoints]:
        """The chart's points now; None before any key of the chart was reported.

        The samples before every key reported so far has a value are left
        out (a series needs a value at every label); a key never reported is
        left out of the chart until it is.
        """
        newest = self._newest
        if newest is None:
            return None
        shown = [i for i, value in enumerate(newest[2]) if value is not None]
        samples = [s for s in (*self._kept, newest) if all(s[2][i] is not None for i in shown)]
        count = self.points_shown
        if len(samples) > count:
            last = len(samples) - 1
            samples = [samples[round(k * last / (count - 1))] for k in range(count)]
        x_label, labels = _labels(samples)
        return ChartPoints(x_label, labels,
                           [(self.keys[i], [s[2][i] for s in samples]) for i in shown])


def _labels(samples: List[tuple]) -> Tuple[str, List[str]]:
    """The x labels: epochs if they tell the points apart, else iterations, else row numbers."""
    for position, name in enumerate(X_KEYS):
        labels = [_label(s[1][position]) for s in samples]
        if None not in labels and len(set(labels)) == len(labels):
            return name, labels
    return "row", [str(s[0] + 1) for s in samples]


def _label(value: object) -> Optional[str]:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number):
        return None
    text = str(int(number)) if number.is_integer() else format(number, ".6g")
    return text if len(text) <= CHART_MAX_LABEL else None


def _finite(value: object) -> Optional[float]:
    if isinstance(value, (str, bytes)):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def series_name(key: str) -> str:
    """The legend name of a key, within Slack's 20 characters: the key, or a leading
    ``validation`` as ``val``, or its last 19 characters after ``…``."""
    if len(key) <= CHART_MAX_LABEL:
        return key
    if key.startswith("validation/"):
        key = "val/" + key[len("validation/"):]
        if len(key) <= CHART_MAX_LABEL:
            return key
    return "…" + key[-(CHART_MAX_LABEL - 1):]


def chart_groups(chart) -> Tuple[Tuple[str, ...], ...]:
    """Check a ``chart=`` argument: one chart per group of observation keys.

    Args:
        chart: None or ``[]`` (no chart), a list of keys (one chart), or a
            list of such lists (one chart each).

    Returns:
        tuple of tuples of str: The groups (``()`` for None).

    Raises:
        TypeError: Not None, a list of str, or a list of lists of str (an
            empty group included).
        ValueError: A key twice in a group, more than 6 keys in
            a group or more than 2 groups (Slack's limits of the data
            visualization block: 6 series a chart, 2 charts a message), or
            two keys of a group with the same legend name (:func:`series_name`).
    """
    if chart is None or (isinstance(chart, (list, tuple)) and not chart):
        return ()
    kinds = "None, a list of observation keys or a list of such lists"
    if isinstance(chart, str) or not isinstance(chart, (list, tuple)):
        raise TypeError(f"chart must be {kinds}, got {type(chart).__name__} {chart!r}")
    if chart and all(isinstance(key, str) for key in chart):
        groups = [chart]
    elif all(isinstance(g, (list, tuple)) for g in chart):
        groups = list(chart)
    else:
        raise TypeError(f"chart must be {kinds} (not both mixed), got {chart!r}")
    if len(groups) > MAX_CHARTS:
        raise ValueError(f"chart has {len(groups)} groups; a Slack message holds at most "
                         f"{MAX_CHARTS} charts (the data visualization block's limit)")
    checked = []
    for group in groups:
        if not group or not all(isinstance(key, str) and key for key in group):
            raise TypeError(f"each chart must be a non-empty list of non-empty str "
                            f"(observation keys), got {group!r}")
        if len(group) > CHART_MAX_SERIES:
            raise ValueError(f"chart {list(group)!r} has {len(group)} keys; a Slack line "
                             f"chart holds at most {CHART_MAX_SERIES} series")
        if len(set(group)) != len(group):
            raise ValueError(f"chart {list(group)!r} names a key twice")
        names = [series_name(key) for key in group]
        if len(set(names)) != len(names):
            raise ValueError(f"chart {list(group)!r}: keys whose legend names (at most "
                             f"{CHART_MAX_LABEL} characters) are the same: {names}; draw "
                             f"them in separate charts")
        checked.append(tuple(group))
    return tuple(checked)
