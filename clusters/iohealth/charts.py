"""Small server-rendered SVG charts: geometry computed here, drawn by a template.

No JavaScript and no inline style, so the pages keep their strict CSP.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .rules import LATE_HEARTBEAT_MS


@dataclass
class Band:
    y: float
    height: float
    css: str  # band-ok | band-late | band-danger


@dataclass
class Chart:
    width: int
    height: int
    bands: list[Band]
    line: str  # polyline points of the mean
    peaks: str  # polyline points of the maximum
    top_label: str
    latest: float | None
    empty: bool


def lag_chart(
    points, *, since: datetime, until: datetime, dead_ms: int, width: int = 420, height: int = 80
) -> Chart:
    """Heartbeat lag over time against O2CB's thresholds: green below a late write, amber
    up to half the dead time, red above it (up to the fence)."""
    top = max([dead_ms, *(p.maximum for p in points)]) or 1
    span = (until - since).total_seconds() or 1

    def y(value: float) -> float:
        return round(height - min(value, top) / top * height, 1)

    def x(time: datetime) -> float:
        return round((time - since).total_seconds() / span * width, 1)

    limits = [
        (0, LATE_HEARTBEAT_MS, "band-ok"),
        (LATE_HEARTBEAT_MS, dead_ms / 2, "band-late"),
        (dead_ms / 2, top, "band-danger"),
    ]
    bands = [
        Band(y(high), round(y(low) - y(high), 1), css) for low, high, css in limits if high > low
    ]
    return Chart(
        width=width,
        height=height,
        bands=bands,
        line=" ".join(f"{x(p.time)},{y(p.mean)}" for p in points),
        peaks=" ".join(f"{x(p.time)},{y(p.maximum)}" for p in points),
        top_label=f"{top / 1000:g} s",
        latest=points[-1].mean if points else None,
        empty=not points,
    )
