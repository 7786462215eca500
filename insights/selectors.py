"""What the dashboard shows, read from the daily rollups (and the campaigns' own counters), never the sends."""

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone

from campaigns.models import Campaign
from insights.models import DailyAudience, DailyCampaignStats, DailyFailures
from smscampaigns.plivo_errors import error_code_meaning

PERIODS = (7, 30, 90)
DEFAULT_PERIOD = 30
LATEST_CAMPAIGNS = 8


def rate(part: int | Decimal, whole: int | Decimal) -> float | None:
    """part / whole as a percentage, None when there is nothing to divide by."""
    return round(100 * float(part) / float(whole), 1) if whole else None


@dataclass(frozen=True)
class Day:
    day: date
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    opt_outs: int = 0
    clicks: int = 0
    cost: Decimal = Decimal("0")
    gained: int = 0
    lost: int = 0


@dataclass(frozen=True)
class CampaignRates:
    campaign: Campaign
    delivery_rate: float | None
    opt_out_rate: float | None


@dataclass(frozen=True)
class Failure:
    error_code: str
    meaning: str
    count: int


@dataclass(frozen=True)
class Dashboard:
    days: int
    series: list[Day]
    totals: Day
    delivery_rate: float | None
    opt_out_rate: float | None
    click_rate: float | None
    latest_campaigns: list[CampaignRates] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)


def dashboard(*, days: int, today: date | None = None) -> Dashboard:
    """The last `days` days (today included, in TIME_ZONE): a few hundred rollup rows at most."""
    today = today or timezone.localdate()
    first = today - timedelta(days=days - 1)
    sums = {"sent", "delivered", "failed", "opt_outs", "clicks", "cost"}
    by_day: dict[date, dict] = {first + timedelta(days=i): {} for i in range(days)}
    rows = (
        DailyCampaignStats.objects.filter(day__gte=first, day__lte=today)
        .values("day")
        .annotate(**{name: Sum(name) for name in sums})
        .order_by()
    )
    for row in rows:
        by_day[row.pop("day")].update(row)
    for row in DailyAudience.objects.filter(day__gte=first, day__lte=today).values("day", "gained", "lost"):
        by_day[row.pop("day")].update(row)
    series = [Day(day=day, **values) for day, values in by_day.items()]
    totals = Day(
        day=today,
        **{
            name: sum((getattr(d, name) for d in series), Decimal("0") if name == "cost" else 0)
            for name in [*sums, "gained", "lost"]
        },
    )
    failures = (
        DailyFailures.objects.filter(day__gte=first, day__lte=today)
        .values("error_code")
        .annotate(n=Sum("count"))
        .order_by("-n", "error_code")
    )
    return Dashboard(
        days=days,
        series=series,
        totals=totals,
        delivery_rate=rate(totals.delivered, totals.sent),
        opt_out_rate=rate(totals.opt_outs, totals.delivered),
        click_rate=rate(totals.clicks, totals.delivered),
        latest_campaigns=latest_campaigns(),
        failures=[
            Failure(
                error_code=row["error_code"],
                meaning=error_code_meaning(row["error_code"]) if row["error_code"] else "No error code given",
                count=row["n"],
            )
            for row in failures
        ],
    )


def latest_campaigns(limit: int = LATEST_CAMPAIGNS) -> list[CampaignRates]:
    """The campaigns started last, with their rates from their own counters."""
    campaigns = Campaign.objects.filter(started_at__isnull=False).order_by("-started_at")[:limit]
    return [
        CampaignRates(
            campaign=c,
            delivery_rate=rate(
                c.delivered_count, c.delivered_count + c.undelivered_count + c.failed_count + c.sent_count
            ),
            opt_out_rate=rate(c.opt_out_count, c.delivered_count),
        )
        for c in campaigns
    ]
