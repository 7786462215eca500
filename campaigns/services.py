"""Campaign writes. The status moves only through these functions, which enforce Campaign.TRANSITIONS
with a conditional UPDATE (so two workers racing on one campaign cannot both win) and audit each move."""

import re
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from campaigns.models import Campaign
from contacts.models import ContactList
from contacts.phones import normalize_phone
from smscampaigns.errors import ApplicationError

Status = Campaign.Status


def _transition(
    *,
    campaign: Campaign,
    to_status: str,
    actor,
    action: str,
    from_statuses: set[str] | None = None,
    reason: str = "",
    extra: dict | None = None,
) -> Campaign:
    allowed_from = {s for s, targets in Campaign.TRANSITIONS.items() if to_status in targets}
    if from_statuses is not None:
        allowed_from &= from_statuses
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
    return campaign


def campaign_schedule(*, campaign: Campaign, scheduled_at: datetime, actor) -> Campaign:
    """Schedule a draft to start at `scheduled_at` (must not be in the past)."""
    if scheduled_at < timezone.now() - timedelta(seconds=5):
        raise ApplicationError("the schedule time must be in the future", field="scheduled_at")
    _validate_ready(campaign)
    return _transition(
        campaign=campaign,
        to_status=Status.SCHEDULED,
        actor=actor,
        action="scheduled",
        from_statuses={Status.DRAFT},
        extra={"scheduled_at": scheduled_at},
    )


def campaign_send_now(*, campaign: Campaign, actor) -> Campaign:
    """Send now: the scheduled path with the time set to now; the beat task picks it up within seconds."""
    _validate_ready(campaign)
    return _transition(
        campaign=campaign,
        to_status=Status.SCHEDULED,
        actor=actor,
        action="send_now",
        from_statuses={Status.DRAFT},
        extra={"scheduled_at": timezone.now()},
    )


def campaign_unschedule(*, campaign: Campaign, actor) -> Campaign:
    return _transition(
        campaign=campaign, to_status=Status.DRAFT, actor=actor, action="unscheduled", extra={"scheduled_at": None}
    )


def campaign_launch(*, campaign: Campaign, actor=None) -> Campaign:
    """Mark a due scheduled campaign as sending (called by the engine once it has claimed it)."""
    return _transition(
        campaign=campaign,
        to_status=Status.SENDING,
        actor=actor,
        action="launched",
        from_statuses={Status.SCHEDULED},
        extra={"started_at": timezone.now()},
    )


def campaign_pause(*, campaign: Campaign, actor, reason: str = "") -> Campaign:
    return _transition(
        campaign=campaign,
        to_status=Status.PAUSED,
        actor=actor,
        action="paused",
        reason=reason or "paused by staff",
    )


def campaign_resume(*, campaign: Campaign, actor) -> Campaign:
    return _transition(
        campaign=campaign, to_status=Status.SENDING, actor=actor, action="resumed", from_statuses={Status.PAUSED}
    )


def campaign_cancel(*, campaign: Campaign, actor, reason: str = "") -> Campaign:
    return _transition(
        campaign=campaign,
        to_status=Status.CANCELLED,
        actor=actor,
        action="cancelled",
        reason=reason,
        extra={"completed_at": timezone.now()},
    )


def campaign_complete(*, campaign: Campaign) -> Campaign:
    return _transition(
        campaign=campaign,
        to_status=Status.COMPLETED,
        actor=None,
        action="completed",
        from_statuses={Status.SENDING},
        extra={"completed_at": timezone.now()},
    )


def campaign_fail(*, campaign: Campaign, reason: str) -> Campaign:
    return _transition(
        campaign=campaign,
        to_status=Status.FAILED,
        actor=None,
        action="failed",
        reason=reason,
        extra={"completed_at": timezone.now()},
    )


def _validate_ready(campaign: Campaign) -> None:
    if not campaign.body.strip():
        raise ApplicationError("the campaign has no message body", field="body")
    if not campaign.effective_sender:
        raise ApplicationError("the campaign has no sender and PLIVO_SENDER is not set", field="sender")


_EDITABLE_FIELDS = ("name", "body", "sender", "max_per_second")


def campaign_create(
    *,
    name: str,
    body: str,
    sender: str = "",
    lists: list[ContactList] | None = None,
    max_per_second: int | None = None,
    actor=None,
) -> Campaign:
    """Create a draft campaign for the given lists."""
    _validate_name(name)
    sender = _clean_sender(sender)
    with transaction.atomic():
        campaign = Campaign.objects.create(
            name=name,
            body=body,
            sender=sender,
            max_per_second=max_per_second,
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        if lists:
            campaign.lists.set(lists)
        audit_record(actor=actor, action="campaign.created", target=campaign)
    return campaign


def campaign_update(*, campaign: Campaign, lists: list[ContactList] | None = None, actor=None, **fields) -> Campaign:
    """Edit a draft; once scheduled or sent its audience and text are what was approved, so edits are refused."""
    unknown = set(fields) - set(_EDITABLE_FIELDS)
    if unknown:
        raise ApplicationError(f"these fields cannot be changed here: {', '.join(sorted(unknown))}")
    _validate_name(fields.get("name"))
    if "sender" in fields:
        fields["sender"] = _clean_sender(fields["sender"])
    with transaction.atomic():
        # The lock makes "still a draft" hold until the edit commits, even against a concurrent send/.
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        _require_draft(locked, "edited")
        for name, value in fields.items():
            setattr(campaign, name, value)
        campaign.status = locked.status
        campaign.save(update_fields=[*fields, "updated_at"])
        if lists is not None:
            campaign.lists.set(lists)
        changed = sorted([*fields, *(["lists"] if lists is not None else [])])
        audit_record(actor=actor, action="campaign.updated", target=campaign, data={"fields": changed})
    return campaign


def campaign_delete(*, campaign: Campaign, actor=None) -> None:
    """Delete a draft; a campaign that was ever scheduled stays, as the record of what was sent."""
    with transaction.atomic():
        _require_draft(Campaign.objects.select_for_update().get(pk=campaign.pk), "deleted")
        audit_record(actor=actor, action="campaign.deleted", target=campaign)
        campaign.delete()


def _require_draft(campaign: Campaign, verb: str) -> None:
    if not campaign.is_editable:
        raise ApplicationError(
            f"campaign {campaign.name!r} is {campaign.status}; only a draft can be {verb}", code="illegal_transition"
        )


# An alphanumeric sender id: 1 to 11 letters, digits or spaces, with at least one letter (carrier rules).
_ALPHANUMERIC_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")


def _validate_name(name: str | None) -> None:
    if name is not None and not name.strip():
        raise ApplicationError("a campaign needs a name", field="name")


def _clean_sender(sender: str) -> str:
    """The sender as Plivo wants it: E.164 for a number, unchanged for an alphanumeric id, "" for the default."""
    if not sender or _ALPHANUMERIC_SENDER.match(sender):
        return sender
    try:
        return normalize_phone(sender).e164
    except ApplicationError as exc:
        raise ApplicationError(
            f"the sender must be a phone number or an alphanumeric id of up to 11 characters ({exc.message})",
            field="sender",
        ) from None
