"""Geometry of the campaign page's charts, which templates draw as inline SVG: no script, no library, no CDN.
The numbers are in the markup as text, so a chart reads the same offline, printed or by a screen reader."""

from collections.abc import Sequence
from dataclasses import dataclass

from campaigns.progress_selectors import CampaignProgress

PROGRESS_BAR_WIDTH = 600
FUNNEL_LABEL_WIDTH = 150  # the stage names left of the bars
FUNNEL_BAR_WIDTH = 340
FUNNEL_ROW_HEIGHT = 28
FUNNEL_BAR_HEIGHT = 20


@dataclass(frozen=True)
class Segment:
    """One status's share of the stacked progress bar."""

    key: str
    label: str
    count: int
    percent: float
    x: float
    width: float


@dataclass(frozen=True)
class BarRow:
    """One horizontal bar of the funnel: a stage, or a failure's error code."""

    label: str
    title: str  # the longer text a pointer or a screen reader gets
    count: int
    percent: float
    y: int
    width: float
    kind: str  # "stage" or "failure": the bar's colour

    @property
    def text_y(self) -> int:
        return self.y + FUNNEL_BAR_HEIGHT // 2 + 5

    @property
    def value_x(self) -> float:
        return FUNNEL_LABEL_WIDTH + self.width + 6


@dataclass(frozen=True)
class Funnel:
    rows: list[BarRow]
    height: int
    width: int = FUNNEL_LABEL_WIDTH + FUNNEL_BAR_WIDTH + 110
    label_width: int = FUNNEL_LABEL_WIDTH
    bar_height: int = FUNNEL_BAR_HEIGHT

    @property
    def description(self) -> str:
        return "; ".join(f"{row.title}: {row.count:,}" for row in self.rows)


def progress_bar(progress: CampaignProgress, width: int = PROGRESS_BAR_WIDTH) -> list[Segment]:
    """The statuses side by side, each as wide as its share of the recipients; empty ones left out."""
    segments: list[Segment] = []
    x = 0.0
    for status in progress.statuses:
        if not status.count or not progress.recipients:
            continue
        share = width * status.count / progress.recipients
        segments.append(Segment(status.key, status.label, status.count, status.percent, round(x, 2), round(share, 2)))
        x += share
    return segments


def funnel(progress: CampaignProgress) -> Funnel:
    """Recipients -> queued to send -> sent -> delivered, then one bar per failure's error code, all drawn
    to the scale of the recipients so that bars compare."""
    scale = max(progress.recipients, 1)
    rows: list[BarRow] = []
    items: Sequence[tuple[str, str, int, float, str]] = [
        *((stage.label, stage.label, stage.count, stage.percent, "stage") for stage in progress.funnel),
        *(
            (f"Failed: {failure.code or 'no code'}", f"Failed or undelivered, {failure.label}", failure.count,
             round(100 * failure.count / scale, 1), "failure")
            for failure in progress.failures
        ),
    ]  # fmt: skip
    for index, (label, title, count, percent, kind) in enumerate(items):
        width = FUNNEL_BAR_WIDTH * count / scale
        rows.append(BarRow(label, title, count, percent, index * FUNNEL_ROW_HEIGHT, round(width, 2), kind))
    return Funnel(rows=rows, height=len(rows) * FUNNEL_ROW_HEIGHT)
