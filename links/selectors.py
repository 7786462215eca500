"""Reads of short links and clicks: the redirect's target, the campaign's per-link table, clicks per send."""

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils.dateparse import parse_datetime

from links.models import Click, ShortLink, StaffTestLink, TrackedLink
from smscampaigns.hot_queries import hot_query


@dataclass(frozen=True)
class ShortLinkTarget:
    destination: str
    expires_at: datetime
    counted: bool  # a recipient's code; a staff test send's is not counted


def short_link_target(*, code: str) -> ShortLinkTarget | None:
    """Where a code leads, until when and whether its fetches count; None for a code nobody was given.
    Written as SQL because it is the redirect's one query: the ORM would spend longer composing it than the
    database answering it. A recipient's code is found by the first branch, which ends the query; a test
    send's code (rare) by the second.

    The redirect is a hot path and this read is safe to repeat: a hot_query."""
    rows = hot_query(_TARGET, [code, code])
    row = rows[0] if rows else None
    if row is None:
        return None
    expires_at = row[1]
    # SQLite hands a raw query's datetimes back without their zone (naive, or as text), and they are in UTC.
    if isinstance(expires_at, str):
        expires_at = parse_datetime(expires_at)
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    return ShortLinkTarget(destination=row[0], expires_at=expires_at, counted=bool(row[2]))


_TARGET = (
    f"SELECT link.destination, link.expires_at, 1 FROM {ShortLink._meta.db_table} AS short "
    f"JOIN {TrackedLink._meta.db_table} AS link ON link.id = short.link_id WHERE short.code = %s "
    f"UNION ALL SELECT destination, expires_at, 0 FROM {StaffTestLink._meta.db_table} WHERE code = %s LIMIT 1"
)


@dataclass(frozen=True)
class LinkStats:
    """One tracked URL of a campaign and what its short links got."""

    id: int
    position: int
    url: str
    destination: str
    expires_at: datetime
    clicked: int  # recipients who clicked it (people; the first and later clicks)
    clicks: int  # people's clicks, repeats included
    previews: int
    scanners: int  # scanners and HEAD requests


def campaign_link_stats(*, campaign_id: int) -> list[LinkStats]:
    """The campaign's tracked links in text order, with their clicks by kind. Grouped over the campaign's
    clicks (click_link_kind_idx), not its short links."""
    human = Q(clicks__kind__in=Click.HUMAN)
    links = (
        TrackedLink.objects.filter(campaign_id=campaign_id)
        .order_by("position")
        .annotate(
            clicked=Count("clicks__send", filter=human, distinct=True),
            human_clicks=Count("clicks", filter=human),
            previews=Count("clicks", filter=Q(clicks__kind=Click.Kind.PREVIEW)),
            scanners=Count("clicks", filter=Q(clicks__kind__in=[Click.Kind.SCANNER, Click.Kind.HEAD])),
        )
    )
    return [
        LinkStats(
            id=link.pk,
            position=link.position,
            url=link.url,
            destination=link.destination,
            expires_at=link.expires_at,
            clicked=link.clicked,
            clicks=link.human_clicks,
            previews=link.previews,
            scanners=link.scanners,
        )
        for link in links
    ]


def sends_with_clicks(queryset: QuerySet) -> QuerySet:
    """CampaignSend rows with `human_clicks`: the recipient's clicks on their short links (people only)."""
    human = (
        Click.objects.filter(send=OuterRef("pk"), kind__in=Click.HUMAN)
        .order_by()
        .values("send")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return queryset.annotate(human_clicks=Coalesce(Subquery(human, output_field=IntegerField()), Value(0)))
