"""Campaign counters: what staff read on progress pages, kept current as sends change status, so that no
page ever counts a million CampaignSend rows. Each counter holds the number of sends currently in that
status; a send in flight ("sending") still counts as queued. Two JSON counters break statuses down:
skipped sends by reason, and failed or undelivered sends by error code."""

from collections.abc import Callable, Mapping
from decimal import Decimal

import structlog
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Sum

from campaigns.models import Campaign
from sends.models import CampaignSend

log = structlog.get_logger(__name__)

S = CampaignSend.Status
FAILURE_STATUSES = frozenset({S.FAILED, S.UNDELIVERED})
COUNTER_FIELD: dict[str, str] = {
    S.HELD: "queued_count",
    S.QUEUED: "queued_count",
    S.SENDING: "queued_count",
    S.SENT: "sent_count",
    S.DELIVERED: "delivered_count",
    S.UNDELIVERED: "undelivered_count",
    S.FAILED: "failed_count",
    S.SKIPPED: "skipped_count",
    S.UNKNOWN: "unknown_count",
}


# Called with every change campaign_counters_add applies, in its transaction: the dashboard's daily rollups
# (filled by an app above sends in its AppConfig.ready), so that no page ever counts the sends by day either.
CounterListener = Callable[..., None]
_counter_listeners: list[CounterListener] = []


def counters_listener_register(listener: CounterListener) -> None:
    """Register `listener(campaign_id=, deltas=, segments=, cost=, opt_outs=, failed_by_error_code=)`."""
    if listener not in _counter_listeners:
        _counter_listeners.append(listener)


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
    failed_by_error_code: Mapping[str, int] | None = None,
) -> None:
    """Apply counter changes in one UPDATE (F expressions, so concurrent workers never lose an increment).

    `failed_by_error_code` counts sends that have just become failed or undelivered, by their error code."""
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
    json_counts: dict[str, dict[str, int]] = {}
    for name, counts in (("skipped_by_reason", skipped_by_reason), ("failed_by_error_code", failed_by_error_code)):
        nonzero = {key: n for key, n in (counts or {}).items() if n}
        if nonzero:
            json_counts[name] = nonzero
    if not updates and not json_counts:
        return
    # Before the savepoint below: when the counters drifted and are recounted instead, what happened today
    # still happened.
    for listener in _counter_listeners:
        listener(
            campaign_id=campaign_id,
            deltas=deltas or {},
            segments=segments,
            cost=cost or Decimal("0"),
            opt_outs=opt_outs,
            failed_by_error_code=failed_by_error_code or {},
        )
    with transaction.atomic():
        if updates:
            Campaign.objects.filter(pk=campaign_id).update(**updates)
        if json_counts:
            # JSON has no portable atomic increment: lock the row for this rarer, small update (the UPDATE
            # above, when there was one, holds that lock already).
            campaign = Campaign.objects.select_for_update().only(*json_counts).get(pk=campaign_id)
            merged = {}
            for name, counts in json_counts.items():
                merged[name] = dict(getattr(campaign, name))
                for key, n in counts.items():
                    merged[name][key] = merged[name].get(key, 0) + n
            Campaign.objects.filter(pk=campaign_id).update(**merged)


def campaign_counters_rebuild(*, campaign_id: int) -> None:
    """Recount from the sends (one GROUP BY): repairs counters after a crash or a manual fix."""
    rows = CampaignSend.objects.filter(campaign_id=campaign_id).values("status").annotate(n=Count("id"))
    skipped = (
        CampaignSend.objects.filter(campaign_id=campaign_id, status=S.SKIPPED)
        .values("skip_reason")
        .annotate(n=Count("id"))
    )
    failed = (
        CampaignSend.objects.filter(campaign_id=campaign_id, status__in=FAILURE_STATUSES)
        .values("error_code")
        .annotate(n=Count("id"))
    )
    sends = CampaignSend.objects.filter(campaign_id=campaign_id)
    totals = sends.aggregate(cost=Sum("cost"))
    # Segments count once a message was handed to the provider; queued ones have not cost anything yet.
    segments = sends.filter(sent_at__isnull=False).aggregate(n=Sum("segments"))["n"]
    _counters_set(
        campaign_id=campaign_id,
        by_status={row["status"]: row["n"] for row in rows},
        skipped_by_reason={row["skip_reason"]: row["n"] for row in skipped},
        failed_by_error_code={row["error_code"]: row["n"] for row in failed},
        segments=segments or 0,
        cost=totals["cost"] or Decimal("0"),
    )


def campaign_counters_set_for_new_sends(
    *, campaign_id: int, by_status_and_reason: Mapping[tuple[str, str], int]
) -> None:
    """What campaign_counters_rebuild would set, for a campaign whose only sends were just written by its
    fan-out (as counted by the statement that wrote them): nothing sent yet, so no segments, cost or errors.
    Spares the fan-out reading its million rows again."""
    by_status: dict[str, int] = {}
    skipped: dict[str, int] = {}
    for (status, reason), n in by_status_and_reason.items():
        by_status[status] = by_status.get(status, 0) + n
        if status == S.SKIPPED:
            skipped[reason] = skipped.get(reason, 0) + n
    _counters_set(
        campaign_id=campaign_id,
        by_status=by_status,
        skipped_by_reason=skipped,
        failed_by_error_code={},
        segments=0,
        cost=Decimal("0"),
    )


def _counters_set(
    *,
    campaign_id: int,
    by_status: Mapping[str, int],
    skipped_by_reason: dict[str, int],
    failed_by_error_code: dict[str, int],
    segments: int,
    cost: Decimal,
) -> None:
    values = dict.fromkeys(set(COUNTER_FIELD.values()), 0)
    for status, n in by_status.items():
        values[COUNTER_FIELD[status]] += n
    Campaign.objects.filter(pk=campaign_id).update(
        **values,
        skipped_by_reason=skipped_by_reason,
        failed_by_error_code=failed_by_error_code,
        recipients_count=sum(by_status.values()),
        segments_count=segments,
        cost=cost,
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
