"""Frequency caps at claim time: a marketing send is skipped when its contact already had the global cap's
number of marketing messages in the rolling window, or (the campaign's own rule) any text in its last H hours.

Decided inside the claim's transaction, so that campaigns sending at the same time on several workers hold
one cap together: each claim first takes a transaction-level lock per contact (PostgreSQL advisory locks,
taken in contact id order so two claims never wait on each other in a circle), then counts the contacts'
sends. A claim that had to wait counts after the one it waited for has committed its sends as `sending`.
On SQLite, which has one writer at a time, the claim takes the write lock before counting instead.

A send counts from the moment it is claimed (`sending`) while it may have reached the person: sending,
sent, delivered, and unknown. Everything is set-based: one lock statement and at most two grouped counts
per wave, whatever its size.
"""

from datetime import datetime

from django.db import connection
from django.db.models import Count, DateTimeField
from django.db.models.functions import Coalesce

from campaigns.caps import CapsInForce, campaign_caps
from campaigns.models import Campaign, ExclusionReason
from sends.models import CampaignSend

S = CampaignSend.Status
# Sends that may have reached the person: what a cap counts.
COUNTED_STATUSES = (S.SENDING, S.SENT, S.DELIVERED, S.UNKNOWN)
# Advisory locks share one key space with anything else on the database: contact ids are offset into a
# range of their own.
_LOCK_SPACE = 0x5CA9 << 40


def caps_of(campaign_id: int) -> CapsInForce:
    flags = Campaign.objects.filter(pk=campaign_id).values("transactional", "skip_recent_hours").first()
    if flags is None:
        return campaign_caps(transactional=True, skip_recent_hours=None)
    return campaign_caps(**flags)


def contacts_lock(contact_ids: list[int]) -> None:
    """Hold every contact's cap lock until the transaction ends (call inside one)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # unnest yields the sorted array in order, so the locks are taken in id order.
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s + c) FROM unnest(%s::bigint[]) AS c",
                [_LOCK_SPACE, sorted(set(contact_ids))],
            )
        else:
            # Any write takes SQLite's one write lock for the rest of the transaction.
            cursor.execute(f"UPDATE {CampaignSend._meta.db_table} SET id = id WHERE 1 = 0")


def _sent_at():
    # When the send went out, or was claimed while it is still `sending` (or unknown without a sent time).
    return Coalesce("sent_at", "status_updated_at", output_field=DateTimeField())


def _capped_queries(*, caps: CapsInForce, contact_ids, now: datetime):
    """(contacts at the global cap, contacts texted within the campaign's hours): querysets of contact ids,
    None for a cap not in force."""
    counted = CampaignSend.objects.filter(contact_id__in=contact_ids, status__in=COUNTED_STATUSES).annotate(
        at=_sent_at()
    )
    capped = recent = None
    if caps.max_messages:
        capped = (
            counted.filter(at__gt=now - caps.window, campaign__transactional=False)
            .order_by()
            .values("contact_id")
            .annotate(n=Count("id"))
            .filter(n__gte=caps.max_messages)
            .values_list("contact_id", flat=True)
        )
    if caps.recent is not None:
        recent = counted.filter(at__gt=now - caps.recent).order_by().values_list("contact_id", flat=True).distinct()
    return capped, recent


def contacts_over_caps(*, caps: CapsInForce, contact_ids: list[int], now: datetime) -> dict[int, str]:
    """{contact id: reason} of the contacts the caps skip at `now` (the global cap's reason first)."""
    over: dict[int, str] = {}
    if not caps.any or not contact_ids:
        return over
    capped, recent = _capped_queries(caps=caps, contact_ids=contact_ids, now=now)
    if capped is not None:
        over.update(dict.fromkeys(capped, ExclusionReason.FREQUENCY_CAP))
    for contact_id in recent if recent is not None else ():
        over.setdefault(contact_id, ExclusionReason.RECENTLY_TEXTED)
    return over


def audience_capped_counts(campaign: Campaign, eligible, now: datetime) -> dict[str, int]:
    """The preview's count: of the eligible contacts (a queryset), how many the caps would skip at `now`,
    counted in the database."""
    caps = campaign_caps(transactional=campaign.transactional, skip_recent_hours=campaign.skip_recent_hours)
    if not caps.any:
        return {}
    capped, recent = _capped_queries(caps=caps, contact_ids=eligible.values("pk"), now=now)
    counts = {}
    if capped is not None:
        counts[ExclusionReason.FREQUENCY_CAP] = capped.count()
    if recent is not None:
        recent = recent.exclude(contact_id__in=capped) if capped is not None else recent
        counts[ExclusionReason.RECENTLY_TEXTED] = recent.count()
    return {reason: n for reason, n in counts.items() if n}
