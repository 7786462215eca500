"""A campaign's status moves only through these functions, each making one of Campaign.MOVES with a conditional
UPDATE (so two workers racing on one campaign cannot both win) and audit each move."""

from datetime import datetime, timedelta

import structlog
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from campaigns.models import Campaign, SenderPool
from campaigns.services.drafts import campaign_body_check, campaign_sending_rules_check, campaign_update
from contacts.segment_rules import segment_rules_clean
from smscampaigns.errors import ApplicationError

log = structlog.get_logger(__name__)


def _transition(
    *,
    campaign: Campaign,
    move: str,
    actor,
    action: str,
    reason: str = "",
    extra: dict | None = None,
) -> Campaign:
    """Make the move named `move` of Campaign.MOVES; `action` names it in the audit trail and the log."""
    allowed_from, to_status = Campaign.MOVES[move]
    updates = {"status": to_status, "status_reason": reason, "updated_at": timezone.now(), **(extra or {})}
    with transaction.atomic():
        changed = Campaign.objects.filter(pk=campaign.pk, status__in=allowed_from).update(**updates)
        if not changed:
            campaign.refresh_from_db(fields=["status"])
            raise ApplicationError(
                f"campaign {campaign.name!r} is {campaign.status}; it cannot become {to_status}",
                code="illegal_transition",
            )
        for field, value in updates.items():
            setattr(campaign, field, value)
        audit_record(
            actor=actor,
            action=f"campaign.{action}",
            target=campaign,
            data={"to": to_status, **({"reason": reason} if reason else {})},
        )
    # The audit trail is the record; this line is for whoever watches a worker or the web server's output.
    log.info("campaign_status_changed", campaign_id=campaign.pk, action=action, status=to_status, reason=reason)
    return campaign


def campaign_schedule(*, campaign: Campaign, scheduled_at: datetime | None = None, actor, **sending_rules) -> Campaign:
    """Schedule a draft to start at `scheduled_at` (must not be in the past). `sending_rules` (any of
    drafts.SENDING_RULE_FIELDS: a local-time schedule, the caps) are saved on the draft first, in the same
    transaction. A local-time campaign may leave out `scheduled_at`: it starts now, each recipient's share
    waiting for their own clock."""
    with transaction.atomic():
        if sending_rules:
            campaign_update(campaign=campaign, actor=actor, **sending_rules)
        if scheduled_at is None:
            if not campaign.sends_at_local_time:
                raise ApplicationError("give the time to start", field="scheduled_at")
            scheduled_at = timezone.now()
        if scheduled_at < timezone.now() - timedelta(seconds=5):
            raise ApplicationError("the schedule time must be in the future", field="scheduled_at")
        campaign_ready_check(campaign)
        return _transition(
            campaign=campaign,
            move="schedule",
            actor=actor,
            action="scheduled",
            extra={"scheduled_at": scheduled_at},
        )


def campaign_send_now(*, campaign: Campaign, actor) -> Campaign:
    """Send now: the scheduled path with the time set to now; the beat task picks it up within seconds."""
    campaign_ready_check(campaign)
    return _transition(
        campaign=campaign,
        move="send_now",
        actor=actor,
        action="send_now",
        extra={"scheduled_at": timezone.now()},
    )


def campaign_unschedule(*, campaign: Campaign, actor, reason: str = "") -> Campaign:
    return _transition(
        campaign=campaign,
        move="unschedule",
        actor=actor,
        action="unscheduled",
        reason=reason,
        extra={"scheduled_at": None},
    )


def campaign_launch(*, campaign: Campaign, actor=None) -> Campaign:
    """Mark a due scheduled campaign as sending (called by the engine once it has claimed it)."""
    return _transition(
        campaign=campaign,
        move="launch",
        actor=actor,
        action="launched",
        extra={"started_at": timezone.now()},
    )


def campaign_pause(*, campaign: Campaign, actor, reason: str = "") -> Campaign:
    return _transition(
        campaign=campaign,
        move="pause",
        actor=actor,
        action="paused",
        reason=reason or "paused by staff",
    )


def campaign_resume(*, campaign: Campaign, actor) -> Campaign:
    return _transition(campaign=campaign, move="resume", actor=actor, action="resumed")


def campaign_cancel(*, campaign: Campaign, actor, reason: str = "") -> Campaign:
    return _transition(
        campaign=campaign,
        move="cancel",
        actor=actor,
        action="cancelled",
        reason=reason,
        extra={"completed_at": timezone.now()},
    )


def campaign_complete(*, campaign: Campaign) -> Campaign:
    return _transition(
        campaign=campaign,
        move="complete",
        actor=None,
        action="completed",
        extra={"completed_at": timezone.now()},
    )


def campaign_ready_check(campaign: Campaign) -> None:
    """Refuse (ApplicationError) a campaign that could not be sent: no body, a body too long, no sender."""
    if not campaign.body.strip():
        raise ApplicationError("the campaign has no message body", field="body")
    # Checked again: SMS_MAX_SEGMENTS may have been lowered since the draft was saved.
    campaign_body_check(campaign.body, track_links=campaign.track_links)
    if campaign.sender_pool is not None:
        _sender_pool_ready_check(campaign.sender_pool, field="sender_pool")
    elif not campaign.effective_sender:
        raise ApplicationError("the campaign has no sender and PLIVO_SENDER is not set", field="sender")
    for variant in campaign.variants.filter(sender_pool__isnull=False).select_related("sender_pool"):
        _sender_pool_ready_check(variant.sender_pool, field="variants", who=f"variant {variant.label}: ")
    campaign_sending_rules_check(campaign)
    campaign_segments_check(campaign)


def _sender_pool_ready_check(pool: SenderPool, *, field: str, who: str = "") -> None:
    """Refuse a pool that could send nothing: a Powerpack without its UUID, or no numbers."""
    if pool.kind == pool.Kind.POWERPACK and not pool.powerpack_uuid:
        raise ApplicationError(f"{who}the Powerpack {pool.name!r} has no Powerpack UUID", field=field)
    if pool.kind == pool.Kind.NUMBERS and not pool.numbers.exists():
        raise ApplicationError(f"{who}the sender pool {pool.name!r} has no numbers", field=field)


def campaign_segments_check(campaign: Campaign) -> None:
    """Refuse (ApplicationError) a campaign whose segments' rules no longer hold (a custom field or a tag they
    name was deleted since): who it reaches would be a guess."""
    for field in ("segments", "excluded_segments"):
        for segment in getattr(campaign, field).all():
            try:
                segment_rules_clean(segment.rules)
            except ApplicationError as exc:
                raise ApplicationError(
                    f"the rules of segment {segment.name!r} no longer hold: {exc.message}", field=field
                ) from None
