"""The dashboard's daily rollups, kept current as things happen (called inside the transaction of the change):
one upsert per change, so the dashboard reads a few hundred rows whatever the number of sends."""

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal

from django.db import connection, models
from django.utils import timezone

from insights.models import DailyAudience, DailyCampaignStats, DailyFailures
from smscampaigns import domain_events


def _increment(model: type[models.Model], *, keys: Mapping, amounts: Mapping) -> None:
    """Add `amounts` to the row of `keys`, creating it: one INSERT ... ON CONFLICT DO UPDATE, safe for
    concurrent writers (PostgreSQL, SQLite)."""
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    fields = {name: model._meta.get_field(name) for name in [*keys, *amounts]}
    columns = [quote(field.column) for field in fields.values()]
    values = {**keys, **amounts}
    params = [field.get_db_prep_save(values[name], connection) for name, field in fields.items()]
    conflict = ", ".join(quote(fields[name].column) for name in keys)
    updates = ", ".join(
        f"{quote(fields[name].column)} = {table}.{quote(fields[name].column)} + excluded.{quote(fields[name].column)}"
        for name in amounts
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "
            f"ON CONFLICT ({conflict}) DO UPDATE SET {updates}",
            params,
        )


def daily_campaign_stats_add(
    *,
    campaign_id: int,
    deltas: Mapping[str, int],
    segments: int = 0,
    cost: Decimal = Decimal("0"),
    opt_outs: int = 0,
    failed_by_error_code: Mapping[str, int] | None = None,
    clicks: int = 0,
    day: date | None = None,
) -> None:
    """Count a change of a campaign's counters (sends.services.counters) on today's row: sends that reached
    sent, delivered, failed or undelivered (a counter going up), opt-outs, clicks, segments, cost."""
    amounts = {
        "sent": max(deltas.get("sent_count", 0), 0),
        "delivered": max(deltas.get("delivered_count", 0), 0),
        "failed": max(deltas.get("failed_count", 0), 0) + max(deltas.get("undelivered_count", 0), 0),
        "opt_outs": opt_outs,
        "clicks": clicks,
        "segments": segments,
        "cost": cost,
    }
    day = day or timezone.localdate()
    if any(amounts.values()):
        _increment(DailyCampaignStats, keys={"day": day, "campaign_id": campaign_id}, amounts=amounts)
    for code, n in (failed_by_error_code or {}).items():
        if n:
            _increment(DailyFailures, keys={"day": day, "error_code": code or ""}, amounts={"count": n})


def daily_audience_add(*, day: date, gained: int = 0, lost: int = 0) -> None:
    if gained or lost:
        _increment(DailyAudience, keys={"day": day}, amounts={"gained": gained, "lost": lost})


AUDIENCE_EVENTS = {domain_events.CONTACT_OPTED_IN: "gained", domain_events.CONTACT_OPTED_OUT: "lost"}


class DailyRollups:
    """The event sink (smscampaigns.domain_events) of the dashboard: opt-ins, opt-outs and clicks by day."""

    def wants(self, event_type: str) -> bool:
        return event_type in AUDIENCE_EVENTS or event_type in (
            domain_events.LINK_CLICKED,
            domain_events.CONTACTS_SUBSCRIBED_BY_IMPORT,
        )

    def receive(self, events: Sequence[domain_events.DomainEvent]) -> None:
        audience: Counter = Counter()
        clicks: Counter = Counter()
        for event in events:
            day = timezone.localdate(event.occurred_at)
            if event.type in AUDIENCE_EVENTS:
                audience[(day, AUDIENCE_EVENTS[event.type])] += 1
            elif event.type == domain_events.CONTACTS_SUBSCRIBED_BY_IMPORT:
                audience[(day, "gained")] += event.data["count"]
            elif event.data.get("campaign_id"):
                clicks[(day, event.data["campaign_id"])] += 1
        for (day, which), n in audience.items():
            daily_audience_add(day=day, **{which: n})
        for (day, campaign_id), n in clicks.items():
            daily_campaign_stats_add(campaign_id=campaign_id, deltas={}, clicks=n, day=day)


DAILY_ROLLUPS = DailyRollups()
