"""Campaign counters: what staff read on progress pages, kept current as sends change status, so that no
page ever counts a million CampaignSend rows. Each counter holds the number of sends currently in that
status; a send in flight ("sending") still counts as queued."""

from collections.abc import Mapping
from decimal import Decimal

import structlog
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Sum

from campaigns.models import Campaign
from sends.models import CampaignSend

log = structlog.get_logger(__name__)

S = CampaignSend.Status
COUNTER_FIELD: dict[str, str] = {
    S.QUEUED: "queued_count",
    S.SENDING: "queued_count",
    S.SENT: "sent_count",
    S.DELIVERED: "delivered_count",
    S.UNDELIVERED: "undelivered_count",
    S.FAILED: "failed_count",
    S.SKIPPED: "skipped_count",
    S.UNKNOWN: "unknown_count",
}


def transition_deltas(*, from_status: str | None, to_status: str, count: int = 1) -> dict[str, int]:
    """Counter changes for `count` sends moving from one status to another (from None: newly created)."""
    deltas: dict[str, int] = {}
    if from_status is not None:
        deltas[COUNTER_FIELD[from_status]] = deltas.get(COUNTER_FIELD[from_status], 0) - count
    deltas[COUNTER_FIELD[to_status]] = deltas.get(COUNTER_FIELD[to_status], 0) + count
    return {name: delta for name, delta in deltas.items() if delta}


def campaign_counters_add(
    *,
    campaign_id: int,
    deltas: Mapping[str, int] | None = None,
    segments: int = 0,
    cost: Decimal | None = None,
    skipped_by_reason: Mapping[str, int] | None = None,
    recipients: int = 0,
    opt_outs: int = 0,
) -> None:
    """Apply counter changes in one UPDATE (F expressions, so concurrent workers never lose an increment)."""
    updates = {name: F(name) + delta for name, delta in (deltas or {}).items() if delta}
    for name, delta in (
        ("segments_count", segments),
        ("recipients_count", recipients),
        ("opt_out_count", opt_outs),
    ):
        if delta:
            updates[name] = F(name) + delta
    if cost:
        updates["cost"] = F("cost") + cost
    reasons = {reason: n for reason, n in (skipped_by_reason or {}).items() if n}
    if not updates and not reasons:
        return
    with transaction.atomic():
        if updates:
            Campaign.objects.filter(pk=campaign_id).update(**updates)
        if reasons:
            # JSON has no portable atomic increment: lock the row for this rarer, small update.
            campaign = Campaign.objects.select_for_update().only("skipped_by_reason").get(pk=campaign_id)
            merged = dict(campaign.skipped_by_reason)
            for reason, n in reasons.items():
                merged[reason] = merged.get(reason, 0) + n
            Campaign.objects.filter(pk=campaign_id).update(skipped_by_reason=merged)


def campaign_counters_rebuild(*, campaign_id: int) -> None:
    """Recount from the sends (one GROUP BY): repairs counters after a crash or a manual fix."""
    rows = CampaignSend.objects.filter(campaign_id=campaign_id).values("status").annotate(n=Count("id"))
    values = dict.fromkeys(set(COUNTER_FIELD.values()), 0)
    for row in rows:
        values[COUNTER_FIELD[row["status"]]] += row["n"]
    skipped = (
        CampaignSend.objects.filter(campaign_id=campaign_id, status=S.SKIPPED)
        .values("skip_reason")
        .annotate(n=Count("id"))
    )
    sends = CampaignSend.objects.filter(campaign_id=campaign_id)
    totals = sends.aggregate(recipients=Count("id"), cost=Sum("cost"))
    # Segments count once a message was handed to the provider; queued ones have not cost anything yet.
    totals["segments"] = sends.filter(sent_at__isnull=False).aggregate(n=Sum("segments"))["n"]
    Campaign.objects.filter(pk=campaign_id).update(
        **values,
        skipped_by_reason={row["skip_reason"]: row["n"] for row in skipped},
        recipients_count=totals["recipients"] or 0,
        segments_count=totals["segments"] or 0,
        cost=totals["cost"] or Decimal("0"),
    )


def campaign_counters_add_or_rebuild(*, campaign_id: int, **changes) -> None:
    """campaign_counters_add; if the counters had drifted (a delta would take one below zero), recount them.

    campaign_counters_add runs in its own savepoint, so the caller's transaction survives the failure, and
    the recount already includes the caller's changes to its sends.
    """
    try:
        campaign_counters_add(campaign_id=campaign_id, **changes)
    except IntegrityError:
        log.warning("campaign_counters_drifted", campaign_id=campaign_id, changes=str(changes))
        campaign_counters_rebuild(campaign_id=campaign_id)
