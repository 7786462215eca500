"""A/B tests: a draft's variants and test settings, and recording the winner (by the statistics, by the
fallback, or by staff). Which recipient gets which variant, and when the winner is decided, is the send
engine's (sends.services.ab_tests): it is decided per recipient at fan-out and from what was sent."""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from campaigns.models import ABTest, Campaign, CampaignVariant, SenderPool
from campaigns.services.drafts import (
    SENDER_OR_POOL,
    campaign_body_as_saved,
    campaign_require_draft,
    campaign_sender_clean,
)
from smscampaigns.errors import ApplicationError

LABELS = "ABCDE"


@dataclass(frozen=True)
class ABSettings:
    test_percent: int | None = None
    metric: str = ABTest.Metric.DELIVERY_RATE
    wait_minutes: int = 120
    confidence_percent: int = 95
    fallback: str = ABTest.Fallback.VARIANT_A


@dataclass(frozen=True)
class VariantSender:
    """Where one variant's messages come from: a number or alphanumeric id, or a pool; neither means the
    campaign's own sender or pool."""

    sender: str = ""
    sender_pool: SenderPool | None = None


def campaign_ab_test_set(
    *,
    campaign: Campaign,
    bodies: list[str],
    settings: ABSettings,
    senders: list[VariantSender] | None = None,
    actor=None,
) -> ABTest:
    """Give a draft 2 to 5 variants (variant A's text becomes the campaign's body) and the test's settings.
    Each body is saved as a campaign body is (opt-out footer added when missing, length checked); `senders`,
    by position, gives variants a sender of their own, checked as a campaign's is."""
    campaign_require_draft(campaign, "A/B tested")
    if not ABTest.MIN_VARIANTS <= len(bodies) <= ABTest.MAX_VARIANTS:
        raise ApplicationError(
            f"an A/B test has {ABTest.MIN_VARIANTS} to {ABTest.MAX_VARIANTS} variants, not {len(bodies)}",
            field="variants",
        )
    saved = []
    for label, body in zip(LABELS, bodies, strict=False):
        if not (body or "").strip():
            raise ApplicationError(f"variant {label} has no text", field="variants")
        try:
            saved.append(campaign_body_as_saved(body))
        except ApplicationError as exc:
            raise ApplicationError(f"variant {label}: {exc.message}", field="variants") from None
    senders = _variant_senders_clean(senders or [], count=len(saved))
    _settings_check(settings)
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        campaign_require_draft(campaign, "A/B tested")
        ab_test, _ = ABTest.objects.update_or_create(
            campaign=campaign,
            defaults={
                "test_percent": settings.test_percent,
                "metric": settings.metric,
                "wait_minutes": settings.wait_minutes,
                "confidence_percent": settings.confidence_percent,
                "fallback": settings.fallback,
            },
        )
        CampaignVariant.objects.filter(campaign=campaign).delete()
        CampaignVariant.objects.bulk_create(
            [
                CampaignVariant(
                    campaign=campaign, label=label, body=body, sender=own.sender, sender_pool=own.sender_pool
                )
                for label, body, own in zip(LABELS, saved, senders, strict=False)
            ]
        )
        campaign.body = saved[0]
        campaign.save(update_fields=["body", "updated_at"])
        audit_record(
            actor=actor,
            action="campaign.ab_test_set",
            target=campaign,
            data={
                "variants": len(saved),
                "test_percent": settings.test_percent,
                "metric": settings.metric,
                **_senders_audited(senders),
            },
        )
    return ab_test


def campaign_ab_test_remove(*, campaign: Campaign, actor=None) -> None:
    """A draft goes back to one text (variant A's, already its body)."""
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        campaign_require_draft(campaign, "changed")
        deleted, _ = ABTest.objects.filter(campaign=campaign).delete()
        CampaignVariant.objects.filter(campaign=campaign).delete()
        if deleted:
            audit_record(actor=actor, action="campaign.ab_test_removed", target=campaign)


def _variant_senders_clean(senders: list[VariantSender], *, count: int) -> list[VariantSender]:
    """One VariantSender per variant (the missing ones: the campaign's), each sender as Plivo wants it."""
    if len(senders) > count:
        raise ApplicationError(f"{len(senders)} senders for {count} variants", field="variants")
    cleaned = []
    for label, own in zip(LABELS, senders, strict=False):
        if own.sender and own.sender_pool is not None:
            raise ApplicationError(f"variant {label}: {SENDER_OR_POOL}", field="variants")
        try:
            sender = campaign_sender_clean(sender=own.sender)
        except ApplicationError as exc:
            raise ApplicationError(f"variant {label}: {exc.message}", field="variants") from None
        cleaned.append(VariantSender(sender=sender, sender_pool=own.sender_pool))
    return cleaned + [VariantSender()] * (count - len(cleaned))


def _senders_audited(senders: list[VariantSender]) -> dict:
    """The variants' own senders, for the audit trail; nothing when they all use the campaign's."""
    own = {
        label: s.sender or f"pool {s.sender_pool.pk}"
        for label, s in zip(LABELS, senders, strict=False)
        if s.sender or s.sender_pool is not None
    }
    return {"senders": own} if own else {}


def _settings_check(settings: ABSettings) -> None:
    if settings.test_percent is not None and not 1 <= settings.test_percent <= 99:
        raise ApplicationError("the test share is 1 to 99 percent (blank: split everyone)", field="test_percent")
    if settings.metric not in ABTest.Metric.values:
        raise ApplicationError(f"the metric is one of {', '.join(ABTest.Metric.values)}", field="metric")
    if settings.fallback not in ABTest.Fallback.values:
        raise ApplicationError(f"the fallback is one of {', '.join(ABTest.Fallback.values)}", field="fallback")
    if not 50 <= settings.confidence_percent <= 99:
        raise ApplicationError("the confidence is 50 to 99 percent", field="confidence_percent")
    if not 0 <= settings.wait_minutes <= 7 * 24 * 60:
        raise ApplicationError("the waiting period is 0 minutes to 7 days", field="wait_minutes")


def ab_test_mark_test_sent(*, ab_test: ABTest) -> bool:
    """The test share has all gone out: the waiting period starts now (once)."""
    return bool(ABTest.objects.filter(pk=ab_test.pk, test_sent_at__isnull=True).update(test_sent_at=timezone.now()))


def ab_test_winner_record(
    *, ab_test: ABTest, variant: CampaignVariant, decided_by: str, decision: dict, actor=None
) -> bool:
    """Record the winner once; False when another process (or staff) decided first."""
    if variant.campaign_id != ab_test.campaign_id:
        raise ApplicationError(f"variant {variant.label} is not a variant of this campaign", field="variant")
    with transaction.atomic():
        won = ABTest.objects.filter(pk=ab_test.pk, winner__isnull=True).update(
            winner=variant, decided_by=decided_by, decision=decision, decided_at=timezone.now()
        )
        if won:
            audit_record(
                actor=actor,
                action="campaign.ab_winner",
                target=ab_test.campaign,
                data={"variant": variant.label, "decided_by": decided_by, "p_value": decision.get("p_value")},
            )
    return bool(won)
