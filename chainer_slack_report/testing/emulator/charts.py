"""The data visualization block drawn as inline SVG, for the channel view.

:func:`chart_svg` draws a ``data_visualization`` block's ``chart`` (Block Kit
reference ``data-visualization-block``): ``line``, ``area`` and ``bar`` charts
on the ``axis_config.categories`` (x) and a value axis (y), with the axis
titles and a legend, and ``pie`` charts.  The markup is stable for tests::

    <svg class="chart" data-chart="line" viewBox="0 0 480 280" role="img" aria-label=TITLE>
      <g class="axes"> <line class="x-axis"/> <line class="y-axis"/>
        <text class="y-tick">0.5</text>…  <text class="x-tick">1</text>…
        <text class="x-label">epoch</text> <text class="y-label">loss</text> </g>
      <path class="series" data-series="main/loss" d="M…"/>   one per series
      <g class="legend"> <g class="legend-item" data-series="main/loss">…</g>… </g>
    </svg>

A bar chart's series is one ``<path>`` of one rectangle per category; an area
chart's path is closed down to the x axis.  A pie has one
``<path class="segment" data-segment=LABEL>`` per segment.  Values come from
the block, so everything drawn is escaped; nothing is loaded from outside.
"""

from __future__ import annotations

import html
import math
from typing import List, Sequence, Tuple

__all__ = ["chart_svg", "PALETTE"]

#: Series colours, in order (Slack-like blue, green, yellow, red, purple, teal).
PALETTE = ("#1264a3", "#2eb67d", "#ecb22e", "#e01e5a", "#7c3085", "#1d9bd1")

_WIDTH, _HEIGHT = 480, 280
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 16, 12, 76  # room for ticks, titles, legend


def chart_svg(chart: dict, title: str) -> str:
    """The SVG of one chart (the block's ``chart`` object, already checked)."""
    kind = chart.get("type")
    body = _pie(chart) if kind == "pie" else _xy(chart, kind)
    return (f'<svg class="chart" data-chart="{_attr(kind)}" viewBox="0 0 {_WIDTH} {_HEIGHT}" '
            f'xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{_attr(title)}">'
            f'{body}</svg>')


def _xy(chart: dict, kind: str) -> str:
    axis = chart.get("axis_config") or {}
    categories: List[str] = [str(c) for c in axis.get("categories") or []]
    series = chart.get("series") or []
    values = [[_value(s, c) for c in categories] for s in series]
    known = [v for row in values for v in row if v is not None]
    low, high, ticks = _scale(known, include_zero=kind in ("bar", "area"))
    plot_w, plot_h = _WIDTH - _LEFT - _RIGHT, _HEIGHT - _TOP - _BOTTOM
    base = _TOP + plot_h

    def y(value: float) -> float:
        return base - (value - low) / (high - low) * plot_h

    def x(index: int) -> float:
        if kind == "bar":
            return _LEFT + (index + 0.5) * plot_w / max(len(categories), 1)
        return _LEFT + (index * plot_w / (len(categories) - 1) if len(categories) > 1
                        else plot_w / 2)

    parts = ['<g class="axes" stroke="#616061" fill="#616061" font-size="11">',
             f'<line class="x-axis" x1="{_LEFT}" y1="{base}" x2="{_WIDTH - _RIGHT}" '
             f'y2="{base}"/>',
             f'<line class="y-axis" x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{base}"/>']
    for tick in ticks:
        parts.append(f'<text class="y-tick" x="{_LEFT - 6}" y="{y(tick) + 4:.1f}" '
                     f'text-anchor="end" stroke="none">{_num(tick)}</text>')
    step = max(1, math.ceil(len(categories) / 12))  # at most ~12 labels fit
    for i, label in enumerate(categories):
        if i % step == 0 or i == len(categories) - 1:
            parts.append(f'<text class="x-tick" x="{x(i):.1f}" y="{base + 15}" '
                         f'text-anchor="middle" stroke="none">{_text(label)}</text>')
    if axis.get("x_label"):
        parts.append(f'<text class="x-label" x="{_LEFT + plot_w / 2:.1f}" y="{base + 32}" '
                     f'text-anchor="middle" stroke="none">{_text(axis["x_label"])}</text>')
    if axis.get("y_label"):
        parts.append(f'<text class="y-label" x="12" y="{_TOP + plot_h / 2:.1f}" '
                     f'text-anchor="middle" stroke="none" transform="rotate(-90 12 '
                     f'{_TOP + plot_h / 2:.1f})">{_text(axis["y_label"])}</text>')
    parts.append("</g>")
    width = plot_w / max(len(categories), 1) * 0.8 / max(len(series), 1)
    for n, (info, row) in enumerate(zip(series, values)):
        color = PALETTE[n % len(PALETTE)]
        points = [(x(i), y(v)) for i, v in enumerate(row) if v is not None]
        if kind == "bar":
            d = " ".join(f"M{px - 0.4 * plot_w / max(len(categories), 1) + n * width:.1f} "
                         f"{base:.1f} V{py:.1f} h{width:.1f} V{base:.1f} Z" for px, py in points)
            style = f'fill="{color}" stroke="none"'
        else:
            d = " ".join(f"{'M' if i == 0 else 'L'}{px:.1f} {py:.1f}"
                         for i, (px, py) in enumerate(points))
            if kind == "area" and points:
                d += f" L{points[-1][0]:.1f} {base:.1f} L{points[0][0]:.1f} {base:.1f} Z"
                style = f'fill="{color}" fill-opacity="0.35" stroke="{color}" stroke-width="2"'
            else:
                style = f'fill="none" stroke="{color}" stroke-width="2"'
        parts.append(f'<path class="series" data-series="{_attr(info.get("name"))}" '
                     f'd="{d}" {style}/>')
    parts.append(_legend([(s.get("name"), PALETTE[n % len(PALETTE)], "series")
                          for n, s in enumerate(series)]))
    return "".join(parts)


def _pie(chart: dict) -> str:
    segments = chart.get("segments") or []
    total = sum(float(s.get("value") or 0) for s in segments) or 1.0
    cx, cy, r = _WIDTH / 2, (_HEIGHT - _BOTTOM + _TOP) / 2 + 20, 90
    parts, angle = [], -math.pi / 2
    for n, segment in enumerate(segments):
        share = float(segment.get("value") or 0) / total
        end = angle + share * 2 * math.pi
        color = PALETTE[n % len(PALETTE)]
        if share >= 1.0:  # a full circle: two arcs
            d = (f"M{cx - r:.1f} {cy:.1f} A{r} {r} 0 1 1 {cx + r:.1f} {cy:.1f} "
                 f"A{r} {r} 0 1 1 {cx - r:.1f} {cy:.1f} Z")
        else:
            x1, y1 = cx + r * math.cos(angle), cy + r * math.sin(angle)
            x2, y2 = cx + r * math.cos(end), cy + r * math.sin(end)
            large = 1 if end - angle > math.pi else 0
            d = (f"M{cx:.1f} {cy:.1f} L{x1:.1f} {y1:.1f} A{r} {r} 0 {large} 1 {x2:.1f} "
                 f"{y2:.1f} Z")
        parts.append(f'<path class="segment" data-segment="{_attr(segment.get("label"))}" '
                     f'd="{d}" fill="{color}"><title>{_text(segment.get("label"))}: '
                     f'{share:.0%}</title></path>')
        angle = end
    parts.append(_legend([(s.get("label"), PALETTE[n % len(PALETTE)], "segment")
                          for n, s in enumerate(segments)]))
    return "".join(parts)


def _legend(items: Sequence[Tuple[object, str, str]]) -> str:
    parts = ['<g class="legend" font-size="12">']
    x, y = _LEFT, _HEIGHT - 18
    for name, color, kind in items:
        parts.append(f'<g class="legend-item" data-{kind}="{_attr(name)}">'
                     f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{color}"/>'
                     f'<text x="{x + 14}" y="{y}">{_text(name)}</text></g>')
        x += 24 + 7 * len(str(name))
    parts.append("</g>")
    return "".join(parts)


def _value(series: dict, category: str):
    for point in series.get("data") or []:
        if str(point.get("label")) == category:
            return float(point.get("value"))
    return None


def _scale(values: List[float], *, include_zero: bool) -> Tuple[float, float, List[float]]:
    """``(low, high, ticks)``: a value axis over ``values`` with about 5 round ticks."""
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if include_zero:
        low, high = min(low, 0.0), max(high, 0.0)
    if high == low:
        low, high = low - 1, high + 1
    raw = (high - low) / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    low, high = math.floor(low / step) * step, math.ceil(high / step) * step
    ticks = [low + i * step for i in range(int(round((high - low) / step)) + 1)]
    return low, high, ticks


def _num(value: float) -> str:
    return f"{round(value, 10):g}"


def _text(value) -> str:
    return html.escape(str(value if value is not None else ""), quote=False)


def _attr(value) -> str:
    return html.escape(str(value if value is not None else ""), quote=True)

