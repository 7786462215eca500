"""Campaign writes. The status moves only through these functions, which enforce Campaign.TRANSITIONS
with a conditional UPDATE (so two workers racing on one campaign cannot both win) and audit each move."""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record, user_or_none
from campaigns.models import Campaign
from campaigns.templating import body_validate
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
    body_validate(campaign.body)
    if not campaign.effective_sender:
        raise ApplicationError("the campaign has no sender and PLIVO_SENDER is not set", field="sender")


# --- Drafts -----------------------------------------------------------------------------------------

OPT_OUT_FOOTER = "Reply STOP to opt out"
# Wording that already tells the person how to opt out; carriers and the law want one such line per text.
_OPT_OUT_WORDING = re.compile(r"\b(stop|unsubscribe|opt[ -]?out)\b", re.IGNORECASE)


def campaign_body_has_opt_out(body: str) -> bool:
    return bool(_OPT_OUT_WORDING.search(body))


@dataclass(frozen=True)
class DraftSaved:
    campaign: Campaign
    footer_added: bool


# What staff edit on a draft; status, counters and times belong to the services and the engine.
DRAFT_FIELDS = ("name", "body", "sender", "max_per_second")


def campaign_draft_save(
    *, campaign: Campaign, actor, changed_fields: list[str] | None = None, created: bool = False
) -> DraftSaved:
    """Save a draft's edits, adding the opt-out footer when the body lacks one; audited with the fields changed."""
    footer_added = not campaign_body_has_opt_out(campaign.body)
    if footer_added:
        campaign.body = f"{campaign.body.rstrip()}\n{OPT_OUT_FOOTER}"
    with transaction.atomic():
        if created:
            campaign.status = Status.DRAFT
            campaign.created_by = user_or_none(actor)
            campaign.save()
        else:
            # Conditional UPDATE of the draft fields only: a campaign the engine has just claimed keeps its
            # status and counters, and the edit is refused instead of silently applied to a sending campaign.
            changed = Campaign.objects.filter(pk=campaign.pk, status__in=Campaign.EDITABLE_STATUSES).update(
                updated_at=timezone.now(), **{field: getattr(campaign, field) for field in DRAFT_FIELDS}
            )
            if not changed:
                raise ApplicationError(
                    f"campaign {campaign.name!r} is no longer a draft and cannot be edited", code="not_editable"
                )
        audit_record(
            actor=actor,
            action="campaign.created" if created else "campaign.edited",
            target=campaign,
            data={"fields": sorted(changed_fields or []), **({"footer_added": True} if footer_added else {})},
        )
    return DraftSaved(campaign=campaign, footer_added=footer_added)


def campaign_create(
    *,
    name: str,
    body: str,
    sender: str = "",
    lists: list[ContactList] | None = None,
    max_per_second: int | None = None,
    actor=None,
) -> Campaign:
    """Create a draft for the given lists, saved as the admin saves one (opt-out footer added when missing)."""
    _validate_name(name)
    campaign = Campaign(name=name, body=body, sender=_clean_sender(sender), max_per_second=max_per_second)
    with transaction.atomic():
        campaign_draft_save(campaign=campaign, actor=actor, changed_fields=list(DRAFT_FIELDS), created=True)
        if lists:
            campaign.lists.set(lists)
    return campaign


def campaign_update(*, campaign: Campaign, lists: list[ContactList] | None = None, actor=None, **fields) -> Campaign:
    """Edit a draft as the admin does; once scheduled or sent, its text and audience are what was approved."""
    unknown = set(fields) - set(DRAFT_FIELDS)
    if unknown:
        raise ApplicationError(f"these fields cannot be changed here: {', '.join(sorted(unknown))}")
    _require_draft(campaign, "edited")
    _validate_name(fields.get("name"))
    if "sender" in fields:
        fields["sender"] = _clean_sender(fields["sender"])
    for name, value in fields.items():
        setattr(campaign, name, value)
    changed = sorted([*fields, *(["lists"] if lists is not None else [])])
    with transaction.atomic():
        # The draft save's conditional UPDATE holds the row until commit, so the lists change with it or not at all.
        campaign_draft_save(campaign=campaign, actor=actor, changed_fields=changed)
        if lists is not None:
            campaign.lists.set(lists)
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
