"""Bar charts drawn as SVG by the server: numbers in, rectangles out, no script and no style attribute (the
admin's Content-Security-Policy allows neither); the colours come from classes in insights/dashboard.css."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

WIDTH = 720
HEIGHT = 120
GAP = 0.2  # the share of each day's slot left empty between bars


@dataclass(frozen=True)
class Bar:
    x: str
    y: str
    width: str
    height: str
    css: str
    title: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    peak: str  # the value the chart's full height stands for
    first_day: date
    last_day: date
    baseline_y: str  # where zero is


def _n(value: float) -> str:
    return f"{value:.2f}"


def day_bars(
    days: Sequence[date],
    series: Sequence[tuple[str, str, Sequence[float]]],
    *,
    fmt: Callable[[float], str] = lambda v: f"{v:,.0f}",
    diverging: bool = False,
) -> Chart:
    """One slot per day. `series` is (css class, label, values per day): stacked upwards; with `diverging`,
    the first series goes up from the middle and the second down."""
    slot = WIDTH / max(len(days), 1)
    bar_width = slot * (1 - GAP)
    if diverging:
        up, down = series[0], series[1]
        peak = max([*up[2], *down[2], 0]) or 1
        half = HEIGHT / 2
        bars = []
        for i, day in enumerate(days):
            x = i * slot + slot * GAP / 2
            for (css, label, values), sign in ((up, -1), (down, 1)):
                h = half * values[i] / peak
                if h:
                    y = half - h if sign < 0 else half
                    bars.append(Bar(_n(x), _n(y), _n(bar_width), _n(h), css, f"{day:%b %d}: {fmt(values[i])} {label}"))
        return Chart(WIDTH, HEIGHT, bars, fmt(peak), days[0], days[-1], _n(half))
    totals = [sum(values[i] for _, _, values in series) for i in range(len(days))]
    peak = max([*totals, 0]) or 1
    bars = []
    for i, day in enumerate(days):
        x = i * slot + slot * GAP / 2
        top = HEIGHT
        for css, label, values in series:
            h = HEIGHT * values[i] / peak
            if h:
                top -= h
                bars.append(Bar(_n(x), _n(top), _n(bar_width), _n(h), css, f"{day:%b %d}: {fmt(values[i])} {label}"))
    return Chart(WIDTH, HEIGHT, bars, fmt(peak), days[0], days[-1], _n(HEIGHT))
