"""A/B tests in the send engine: which recipient gets which variant (at fan-out), each variant's results
(from the sends), and the decision that releases the rest of the audience with the winner.

- Fan-out writes every recipient's send as usual, then shuffles the eligible ones with the test's seed
  (reproducible) and deals the test share out evenly between the variants; the rest are `held`. A person
  has one send per campaign (a unique constraint), so nobody can be sent two variants.
- Each beat tick, a test whose share has all gone out starts its waiting period; when it is over (or staff
  press "decide now") the variants are compared (campaigns.ab_statistics) and the winner recorded; then
  the held sends become queued with the winner and the normal engine sends them (quiet hours, rate
  limits, exactly once). A plain split test (no test share) holds nobody and needs no decision.
"""

import random
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import (
    Count,
    DateTimeField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    Value,
)
from django.utils import timezone

from campaigns.ab_statistics import Observed, Verdict, ab_verdict
from campaigns.models import ABTest, Campaign, CampaignVariant
from campaigns.selectors import sender_in_words
from campaigns.services.ab_tests import ab_test_mark_test_sent, ab_test_winner_record
from sends.models import CampaignSend, InboundMessage
from smscampaigns.errors import ApplicationError

log = structlog.get_logger(__name__)
S = CampaignSend.Status
Metric = ABTest.Metric

# Statuses of a send that was handed to the provider: the denominator of every rate.
HANDED_OVER = (S.SENT, S.DELIVERED, S.UNDELIVERED, S.FAILED)
ASSIGN_BATCH = 10_000


def _delivered(sends):
    return sends.filter(status=S.DELIVERED)


def _replies(sends):
    return sends.filter(_reply_exists(~Q(action=InboundMessage.Action.OPT_OUT)))


def _opt_outs(sends):
    return sends.filter(_reply_exists(Q(action=InboundMessage.Action.OPT_OUT)))


def _reply_exists(action_filter: Q) -> Exists:
    """An inbound text from the recipient after their send, within AB_ATTRIBUTION_HOURS of it."""
    return Exists(
        InboundMessage.objects.filter(
            action_filter,
            contact_id=OuterRef("contact_id"),
            received_at__gte=OuterRef("sent_at"),
            received_at__lt=OuterRef("attribution_end"),
        )
    )


# How each metric picks, among a variant's handed-over sends, those that succeeded. An app above sends
# adds its own (the links app: unique clicks) with ab_metric_register.
METRIC_SUCCESSES: dict[str, Callable] = {
    Metric.DELIVERY_RATE: _delivered,
    Metric.REPLY_RATE: _replies,
    Metric.OPT_OUT_RATE: _opt_outs,
}


def ab_metric_register(metric: str, successes: Callable) -> None:
    METRIC_SUCCESSES[metric] = successes


def ab_assign_at_fan_out(*, campaign: Campaign) -> None:
    """Deal the eligible sends out between the variants (the test share), hold the rest. Runs inside the
    fan-out's transaction, before any chunk can be dispatched."""
    ab_test = ABTest.objects.filter(campaign=campaign).first()
    variants = list(CampaignVariant.objects.filter(campaign=campaign).order_by("label"))
    if ab_test is None or len(variants) < ABTest.MIN_VARIANTS:
        return
    sends = CampaignSend.objects.filter(campaign=campaign, status=S.QUEUED, variant__isnull=True)
    ids = list(sends.order_by("id").values_list("id", flat=True))
    random.Random(ab_test.seed).shuffle(ids)
    tested = len(ids)
    if ab_test.has_test_share:
        tested = min(len(ids), max(len(variants), round(len(ids) * ab_test.test_percent / 100)))
    for index, variant in enumerate(variants):
        dealt = ids[index : tested : len(variants)]
        for start in range(0, len(dealt), ASSIGN_BATCH):
            CampaignSend.objects.filter(id__in=dealt[start : start + ASSIGN_BATCH]).update(variant=variant)
    held = ids[tested:]
    for start in range(0, len(held), ASSIGN_BATCH):
        CampaignSend.objects.filter(id__in=held[start : start + ASSIGN_BATCH]).update(status=S.HELD)
    log.info("ab_assigned", campaign_id=campaign.pk, tested=tested, held=len(held), variants=len(variants))


def ab_observed(*, campaign: Campaign, ab_test: ABTest | None = None) -> list[Observed]:
    """Each variant's handed-over sends of the test share and how many of them succeeded by the test's metric
    (the rest of the audience, sent the winner after the decision, is not part of the test)."""
    ab_test = ab_test or campaign.ab_test
    successes_of = METRIC_SUCCESSES.get(ab_test.metric)
    if successes_of is None:
        raise ApplicationError(f"the metric {ab_test.get_metric_display()!r} is not measured here (no link tracking)")
    window = timedelta(hours=settings.AB_ATTRIBUTION_HOURS)
    handed = CampaignSend.objects.filter(
        campaign=campaign, variant__isnull=False, ab_rest=False, status__in=HANDED_OVER
    )
    handed = handed.annotate(attribution_end=_plus(window))
    trials = dict(handed.values("variant_id").annotate(n=Count("id")).values_list("variant_id", "n"))
    won = dict(successes_of(handed).values("variant_id").annotate(n=Count("id")).values_list("variant_id", "n"))
    return [
        Observed(variant.label, trials.get(variant.pk, 0), won.get(variant.pk, 0))
        for variant in CampaignVariant.objects.filter(campaign=campaign).order_by("label")
    ]


def _plus(window: timedelta) -> ExpressionWrapper:
    return ExpressionWrapper(F("sent_at") + Value(window, output_field=DurationField()), output_field=DateTimeField())


def ab_verdict_for(*, campaign: Campaign) -> Verdict:
    ab_test = campaign.ab_test
    return ab_verdict(
        ab_observed(campaign=campaign, ab_test=ab_test),
        confidence=ab_test.confidence_percent / 100,
        higher_is_better=ab_test.metric not in ABTest.LOWER_IS_BETTER,
    )


def ab_decide(*, campaign: Campaign, actor=None, variant: CampaignVariant | None = None) -> CampaignVariant:
    """Choose the winner (`variant` when staff pick it, else by the statistics or the fallback), record it
    once, and release the held sends with it. Safe to call twice: the second call changes nothing."""
    ab_test = ABTest.objects.select_related("campaign").filter(campaign=campaign).first()
    if ab_test is None:
        raise ApplicationError("this campaign has no A/B test")
    campaign = ab_test.campaign  # as it is now, not as the caller last read it
    if campaign.status not in (Campaign.Status.SENDING, Campaign.Status.PAUSED):
        raise ApplicationError(
            f"the campaign is {campaign.get_status_display().lower()}: a winner is decided while it sends",
            code="illegal_transition",
        )
    if not ab_test.has_test_share:
        raise ApplicationError("a plain split test sends every variant to its share; there is no rest to decide for")
    if ab_test.winner_id is not None:
        return ab_test.winner
    observed = ab_observed(campaign=campaign, ab_test=ab_test)
    verdict = ab_verdict(
        observed,
        confidence=ab_test.confidence_percent / 100,
        higher_is_better=ab_test.metric not in ABTest.LOWER_IS_BETTER,
    )
    variants = {v.label: v for v in CampaignVariant.objects.filter(campaign=campaign)}
    if variant is not None:
        chosen, decided_by = variant, ABTest.DecidedBy.STAFF
    elif verdict.significant:
        chosen, decided_by = variants[verdict.leader], ABTest.DecidedBy.STATISTICS
    else:
        fallback = ab_test.fallback == ABTest.Fallback.BEST_ESTIMATE and verdict.leader
        chosen, decided_by = variants[fallback or "A"], ABTest.DecidedBy.FALLBACK
    decision = decision_snapshot(observed=observed, verdict=verdict, metric=ab_test.metric)
    with transaction.atomic():
        if ab_test_winner_record(
            ab_test=ab_test, variant=chosen, decided_by=decided_by, decision=decision, actor=actor
        ):
            released = CampaignSend.objects.filter(campaign=campaign, status=S.HELD).update(
                status=S.QUEUED, variant=chosen, ab_rest=True, status_updated_at=timezone.now()
            )
            log.info(
                "ab_winner", campaign_id=campaign.pk, variant=chosen.label, decided_by=decided_by, released=released
            )
            # The dispatch package's beat tick calls this module: imported here, not at the top.
            from sends.services.dispatch.window import dispatch_top_up

            transaction.on_commit(lambda: dispatch_top_up(campaign_id=campaign.pk))
    ab_test.refresh_from_db()
    return ab_test.winner


def decision_snapshot(*, observed: list[Observed], verdict: Verdict, metric: str) -> dict:
    """What the decision was made on, stored with it so that it can be explained later as it was."""
    return {
        "metric": metric,
        "confidence": verdict.confidence,
        "leader": verdict.leader,
        "significant": verdict.significant,
        "p_value": verdict.p_value,
        "variants": [
            {
                **asdict(o),
                "rate": o.rate,
                "low": verdict.intervals[o.label].low,
                "high": verdict.intervals[o.label].high,
            }
            for o in observed
        ],
        "comparisons": [asdict(c) for c in verdict.comparisons],
    }


def ab_tick(*, now: datetime | None = None) -> None:
    """Each beat: start the waiting period of tests whose share has gone out, decide those past it."""
    now = now or timezone.now()
    waiting = ABTest.objects.filter(
        campaign__status=Campaign.Status.SENDING, test_percent__isnull=False, winner__isnull=True
    ).select_related("campaign")
    for ab_test in waiting:
        if ab_test.test_sent_at is None:
            in_flight = CampaignSend.objects.filter(
                campaign_id=ab_test.campaign_id, variant__isnull=False, status__in=[S.QUEUED, S.SENDING]
            ).exists()
            if not in_flight and ab_test_mark_test_sent(ab_test=ab_test):
                log.info("ab_test_share_sent", campaign_id=ab_test.campaign_id)
            continue
        if now >= ab_test.test_sent_at + timedelta(minutes=ab_test.wait_minutes):
            try:
                ab_decide(campaign=ab_test.campaign)
            except ApplicationError as exc:
                log.warning("ab_decision_impossible", campaign_id=ab_test.campaign_id, error=exc.message)


def ab_report(*, campaign: Campaign) -> dict:
    """Everything staff and integrations see of an A/B test: its settings, where it stands, each variant's
    rate and interval now, the comparison, and the decision with what it was made on."""
    ab_test = ABTest.objects.select_related("winner").get(campaign=campaign)
    variants = list(CampaignVariant.objects.filter(campaign=campaign).select_related("sender_pool").order_by("label"))
    campaign_sender = sender_in_words(sender=campaign.sender, pool=campaign.sender_pool)
    try:
        observed = ab_observed(campaign=campaign, ab_test=ab_test)
        unavailable = ""
    except ApplicationError as exc:
        observed, unavailable = [Observed(v.label, 0, 0) for v in variants], exc.message
    verdict = ab_verdict(
        observed,
        confidence=ab_test.confidence_percent / 100,
        higher_is_better=ab_test.metric not in ABTest.LOWER_IS_BETTER,
    )
    if not ab_test.has_test_share:
        phase = "split"
    elif ab_test.winner_id:
        phase = "decided"
    elif ab_test.test_sent_at:
        phase = "waiting"
    else:
        phase = "testing"
    decide_after = ab_test.test_sent_at + timedelta(minutes=ab_test.wait_minutes) if ab_test.test_sent_at else None
    by_label = {o.label: o for o in observed}
    return {
        "metric": ab_test.metric,
        "metric_label": ab_test.get_metric_display(),
        "higher_is_better": ab_test.metric not in ABTest.LOWER_IS_BETTER,
        "unavailable": unavailable,
        "test_percent": ab_test.test_percent,
        "wait_minutes": ab_test.wait_minutes,
        "confidence_percent": ab_test.confidence_percent,
        "fallback": ab_test.fallback,
        "seed": ab_test.seed,
        "phase": phase,
        "test_sent_at": ab_test.test_sent_at,
        "decide_after": decide_after,
        "variants": [
            {
                "label": v.label,
                "body": v.body,
                "sender": v.sender,
                "sender_pool": v.sender_pool_id,
                "sender_label": (
                    sender_in_words(sender=v.sender, pool=v.sender_pool)
                    if v.has_own_sender
                    else f"the campaign's: {campaign_sender}"
                ),
                "trials": by_label[v.label].trials,
                "successes": by_label[v.label].successes,
                "rate": by_label[v.label].rate,
                "low": verdict.intervals[v.label].low,
                "high": verdict.intervals[v.label].high,
                "winner": v.pk == ab_test.winner_id,
            }
            for v in variants
        ],
        "leader": verdict.leader,
        "significant": verdict.significant,
        "p_value": verdict.p_value,
        "comparisons": [asdict(c) for c in verdict.comparisons],
        "winner": ab_test.winner.label if ab_test.winner else None,
        "decided_by": ab_test.decided_by,
        "decided_by_label": ab_test.get_decided_by_display() if ab_test.decided_by else "",
        "decided_at": ab_test.decided_at,
        "decision": ab_test.decision,
    }
