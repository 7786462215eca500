"""Campaign writes. The status moves only through these functions, which enforce Campaign.TRANSITIONS
with a conditional UPDATE (so two workers racing on one campaign cannot both win) and audit each move."""

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

import structlog
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_record, user_or_none
from campaigns.models import Campaign, QuickSendRequest
from campaigns.segments import message_length_problem, segment_info
from campaigns.selectors import ELIGIBLE, ExclusionReason, contacts_with_exclusion_reason
from campaigns.templating import body_fixed_text, body_is_personalised, body_validate
from contacts.models import Contact, ContactList, Suppression
from contacts.phones import normalize_phone
from contacts.selectors import suppression_reasons
from contacts.services import contact_create, contact_list_add_contacts, contact_list_create, contact_opt_in
from smscampaigns.errors import ApplicationError

Status = Campaign.Status
log = structlog.get_logger(__name__)


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
    # The audit trail is the record; this line is for whoever watches a worker or the web server's output.
    log.info("campaign_status_changed", campaign_id=campaign.pk, action=action, status=to_status, reason=reason)
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


def _validate_ready(campaign: Campaign) -> None:
    if not campaign.body.strip():
        raise ApplicationError("the campaign has no message body", field="body")
    # Checked again: SMS_MAX_SEGMENTS may have been lowered since the draft was saved.
    campaign_body_check(campaign.body)
    if not campaign.effective_sender:
        raise ApplicationError("the campaign has no sender and PLIVO_SENDER is not set", field="sender")


# --- Drafts -----------------------------------------------------------------------------------------

OPT_OUT_FOOTER = "Reply STOP to opt out"
# Wording that already tells the person how to opt out; carriers and the law want one such line per text.
_OPT_OUT_WORDING = re.compile(r"\b(stop|unsubscribe|opt[ -]?out)\b", re.IGNORECASE)


def campaign_body_has_opt_out(body: str) -> bool:
    return bool(_OPT_OUT_WORDING.search(body))


def campaign_body_check(body: str, *, footer_added: bool = False) -> None:
    """Refuse (ApplicationError on `body`) a body the message engine cannot compile, or whose fixed text alone
    is longer than Plivo accepts or SMS_MAX_SEGMENTS allows: then every recipient's text would be. What the
    placeholders add is known per recipient only; dispatch skips a recipient whose text it makes too long."""
    body_validate(body)
    problem = message_length_problem(segment_info(body_fixed_text(body)))
    if problem:
        notes = [
            *(["with the opt-out footer added"] if footer_added else []),
            *(["counting its fixed text only, without the placeholders"] if body_is_personalised(body) else []),
        ]
        raise ApplicationError(
            f"the message is too long{' (' + ', '.join(notes) + ')' if notes else ''}: {problem}", field="body"
        )


def campaign_body_as_saved(body: str) -> str:
    """`body` as a draft saves it: the opt-out footer added on its own line when the text lacks one, then
    checked (campaign_body_check) as the text recipients would get."""
    if campaign_body_has_opt_out(body):
        campaign_body_check(body)
        return body
    with_footer = f"{body.rstrip()}\n{OPT_OUT_FOOTER}"
    campaign_body_check(with_footer, footer_added=True)
    return with_footer


@dataclass(frozen=True)
class DraftSaved:
    campaign: Campaign
    footer_added: bool


# What staff edit on a draft; status, counters and times belong to the services and the engine.
DRAFT_FIELDS = ("name", "body", "sender", "max_per_second")


def campaign_draft_save(
    *,
    campaign: Campaign,
    actor,
    changed_fields: list[str] | None = None,
    created: bool = False,
    lists: list[ContactList] | None = None,
) -> DraftSaved:
    """Save a draft's edits (and its `lists`, when given), adding the opt-out footer when the body lacks one and
    refusing a body that could not be sent (campaign_body_as_saved); audited with the fields changed."""
    body = campaign_body_as_saved(campaign.body)
    footer_added = body != campaign.body
    campaign.body = body
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
        # After the conditional UPDATE, which holds the row until commit: the lists change with the draft or
        # not at all.
        if lists is not None:
            campaign.lists.set(lists)
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
    campaign = Campaign(
        name=name, body=body, sender=campaign_sender_clean(sender=sender), max_per_second=max_per_second
    )
    campaign_draft_save(
        campaign=campaign, actor=actor, changed_fields=list(DRAFT_FIELDS), created=True, lists=lists or None
    )
    return campaign


def campaign_update(*, campaign: Campaign, lists: list[ContactList] | None = None, actor=None, **fields) -> Campaign:
    """Edit a draft as the admin does; once scheduled or sent, its text and audience are what was approved."""
    unknown = set(fields) - set(DRAFT_FIELDS)
    if unknown:
        raise ApplicationError(f"these fields cannot be changed here: {', '.join(sorted(unknown))}")
    _require_draft(campaign, "edited")
    _validate_name(fields.get("name"))
    if "sender" in fields:
        fields["sender"] = campaign_sender_clean(sender=fields["sender"])
    for name, value in fields.items():
        setattr(campaign, name, value)
    changed = sorted([*fields, *(["lists"] if lists is not None else [])])
    campaign_draft_save(campaign=campaign, actor=actor, changed_fields=changed, lists=lists)
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


def campaign_sender_clean(*, sender: str) -> str:
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


# --- Quick send -------------------------------------------------------------------------------------

# Recipients per quick send: each new one is a contact created with its consent and audited in the request,
# which stays within a few seconds at this size. Larger audiences go through an import and a list.
MAX_QUICK_SEND_RECIPIENTS = 1000


class RecipientResult:
    """What became of a number given to a quick send."""

    ACCEPTED = "accepted"  # on the campaign's audience: it is being texted
    INVALID = "invalid"  # no phone number
    EXCLUDED = "excluded"  # opted out or suppressed: never texted

    ALL = (ACCEPTED, INVALID, EXCLUDED)


@dataclass
class QuickSendRecipient:
    """One number given to a quick send, reported at the first position it was given at."""

    index: int
    number: str  # as given
    result: str = RecipientResult.ACCEPTED
    phone_number: str | None = None  # E.164
    reason: str = ""  # an ExclusionReason when not accepted
    detail: str = ""  # for people: why it is invalid or excluded
    contact_id: int | None = None
    contact_created: bool = False
    consent_recorded: bool = False  # consent_source became the contact's consent evidence
    duplicates: list[int] = field(default_factory=list)  # later positions of the same number: texted once


@dataclass(frozen=True)
class QuickSend:
    campaign: Campaign
    recipients: list[QuickSendRecipient]
    replayed: bool = False  # the answer of an earlier request with the same Idempotency-Key: nothing was sent now

    @property
    def summary(self) -> dict[str, int]:
        counts = {result: 0 for result in RecipientResult.ALL}
        for recipient in self.recipients:
            counts[recipient.result] += 1
        return {**counts, "duplicates": sum(len(r.duplicates) for r in self.recipients)}


def campaign_quick_send(
    *,
    recipients: list[str],
    body: str,
    consent_source: str,
    consent_text: str = "",
    name: str = "",
    sender: str = "",
    max_per_second: int | None = None,
    idempotency_key: str = "",
    actor,
) -> QuickSend:
    """Create a campaign for these numbers and send it now, in one transaction: all of it or nothing.

    With an `idempotency_key`, a request already made by this user under that key is answered as it was the
    first time (`replayed`), nothing sent again; the key given for a different request is refused.

    The numbers not yet contacts become contacts with `consent_source` as their consent evidence, as do
    contacts without any consent; a contact's existing consent is kept. Opted-out and suppressed numbers are
    excluded: `consent_source` never overrides an opt-out. The audience is a list made for the campaign
    (shown in the admin like any list), and the campaign is launched by the engine like any other.
    """
    if not consent_source.strip():
        raise ApplicationError(
            "consent evidence is required to text these numbers: where did they consent?", field="consent_source"
        )
    if not recipients:
        raise ApplicationError("give at least one number", field="recipients")
    if len(recipients) > MAX_QUICK_SEND_RECIPIENTS:
        raise ApplicationError(
            f"at most {MAX_QUICK_SEND_RECIPIENTS} recipients per quick send; import larger audiences into a list",
            field="recipients",
        )
    request = {
        "recipients": recipients,
        "body": body,
        "consent_source": consent_source,
        "consent_text": consent_text,
        "name": name,
        "sender": sender,
        "max_per_second": max_per_second,
    }
    fingerprint = _quick_send_fingerprint(request)
    if earlier := _quick_send_replay(actor=actor, key=idempotency_key, fingerprint=fingerprint):
        return earlier
    try:
        return _quick_send(**request, actor=actor, idempotency_key=idempotency_key, fingerprint=fingerprint)
    except IntegrityError:
        # The same key's twin request committed first (the unique key waited for it): answer as it did.
        if earlier := _quick_send_replay(actor=actor, key=idempotency_key, fingerprint=fingerprint):
            return earlier
        raise


def _quick_send_fingerprint(request: dict) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()


def _quick_send_replay(*, actor, key: str, fingerprint: str) -> QuickSend | None:
    """The answer of this user's earlier quick send under `key`, if any (None without a key)."""
    if not key:
        return None
    earlier = QuickSendRequest.objects.filter(created_by=actor, idempotency_key=key).select_related("campaign").first()
    if earlier is None:
        return None
    if earlier.fingerprint != fingerprint:
        raise ApplicationError(
            f"Idempotency-Key {key!r} was already used for another quick send (campaign #{earlier.campaign_id}); "
            "use a new key for a new request",
            code="idempotency_key_reused",
        )
    recipients = [QuickSendRecipient(**recipient) for recipient in earlier.recipients]
    return QuickSend(campaign=earlier.campaign, recipients=recipients, replayed=True)


def _quick_send(
    *,
    recipients: list[str],
    body: str,
    consent_source: str,
    consent_text: str,
    name: str,
    sender: str,
    max_per_second: int | None,
    actor,
    idempotency_key: str,
    fingerprint: str,
) -> QuickSend:
    report = _quick_send_numbers(recipients)
    with transaction.atomic():
        contacts = _quick_send_classify(report)
        if not any(r.result == RecipientResult.ACCEPTED for r in report):
            raise ApplicationError(
                "none of the recipients may be texted; nothing was created",
                field="recipients",
                errors={f"recipients.{r.index}": [r.detail] for r in report},
            )
        campaign = campaign_create(
            name=name or f"Quick send {timezone.now():%Y-%m-%d %H:%M} UTC",
            body=body,
            sender=sender,
            max_per_second=max_per_second,
            actor=actor,
        )
        _validate_ready(campaign)  # before contacts are written for a campaign that could not be sent
        for recipient in report:
            if recipient.result == RecipientResult.ACCEPTED:
                contact = contacts.get(recipient.phone_number)
                _quick_send_contact(
                    recipient, contact, consent_source=consent_source, consent_text=consent_text, actor=actor
                )
        audience = contact_list_create(
            name=f"Quick send: campaign #{campaign.pk}",
            description=f"The recipients of campaign #{campaign.pk}, given to the API's quick send",
            actor=actor,
        )
        contact_list_add_contacts(
            contact_list=audience,
            contact_ids=[r.contact_id for r in report if r.result == RecipientResult.ACCEPTED],
            actor=actor,
        )
        campaign = campaign_update(campaign=campaign, lists=[audience], actor=actor)
        campaign_send_now(campaign=campaign, actor=actor)
        result = QuickSend(campaign=campaign, recipients=report)
        audit_record(
            actor=actor,
            action="campaign.quick_sent",
            target=campaign,
            data={"consent_source": consent_source, **result.summary},
        )
        if idempotency_key:
            QuickSendRequest.objects.create(
                created_by=actor,
                idempotency_key=idempotency_key,
                fingerprint=fingerprint,
                campaign=campaign,
                recipients=[asdict(recipient) for recipient in report],
            )
    return result


def _quick_send_numbers(recipients: list[str]) -> list[QuickSendRecipient]:
    """Each number as E.164, or invalid with the reason; a number given again (in any format) is reported once."""
    report: list[QuickSendRecipient] = []
    first_by_number: dict[str, QuickSendRecipient] = {}
    for index, raw in enumerate(recipients):
        try:
            e164 = normalize_phone(raw).e164
        except ApplicationError as exc:
            report.append(
                QuickSendRecipient(
                    index=index,
                    number=raw,
                    result=RecipientResult.INVALID,
                    reason=ExclusionReason.INVALID_NUMBER,
                    detail=exc.message,
                )
            )
            continue
        if e164 in first_by_number:
            first_by_number[e164].duplicates.append(index)
            continue
        first_by_number[e164] = QuickSendRecipient(index=index, number=raw, phone_number=e164)
        report.append(first_by_number[e164])
    return report


def _quick_send_classify(report: list[QuickSendRecipient]) -> dict[str, Contact]:
    """Mark the opted-out and suppressed numbers excluded; returns the existing contacts of the others."""
    numbers = [r.phone_number for r in report if r.phone_number]
    # Locked until commit: an opt-out arriving meanwhile (it saves the contact first) waits for this request
    # instead of being lifted by the consent recorded below. In id order, so two quick sends cannot deadlock.
    existing = Contact.objects.filter(phone_number__in=numbers).select_for_update().order_by("pk")
    contacts = {str(contact.phone_number): contact for contact in contacts_with_exclusion_reason(existing)}
    suppressed = suppression_reasons(numbers=numbers)
    for recipient in report:
        if recipient.phone_number is None:
            continue
        contact = contacts.get(recipient.phone_number)
        reasons = sorted(suppressed.get(recipient.phone_number, ()))
        if contact is not None and contact.exclusion_reason not in (ELIGIBLE, ExclusionReason.NO_CONSENT):
            reason = contact.exclusion_reason
        elif contact is None and reasons:
            reason = ExclusionReason.OPTED_OUT if Suppression.Reason.OPT_OUT in reasons else ExclusionReason.SUPPRESSED
        else:
            continue
        recipient.result, recipient.reason = RecipientResult.EXCLUDED, reason
        recipient.contact_id = contact.pk if contact is not None else None
        if reason == ExclusionReason.OPTED_OUT:
            recipient.detail = "opted out: never texted; only the person's own opt-in lifts that, not consent_source"
        else:
            recipient.detail = f"suppressed ({', '.join(reasons) or reason}): never texted"
    return contacts


def _quick_send_contact(
    recipient: QuickSendRecipient, contact: Contact | None, *, consent_source: str, consent_text: str, actor
) -> None:
    """Make an accepted number a contact who may be texted, through the contact services (audited)."""
    if contact is None:
        try:
            with transaction.atomic():
                contact = contact_create(
                    phone_number=recipient.phone_number,
                    consent_source=consent_source,
                    consent_text=consent_text,
                    actor=actor,
                )
            recipient.contact_created = recipient.consent_recorded = True
        except (IntegrityError, ApplicationError):
            # A concurrent request made it a contact since this one looked: it stays as that request left it
            # (dispatch re-checks consent and opt-out before each send anyway).
            contact = Contact.objects.filter(phone_number=recipient.phone_number).first()
            if contact is None:
                raise
    elif contact.exclusion_reason == ExclusionReason.NO_CONSENT:
        # Known, never opted out, not suppressed, but no consent on record: the caller's evidence is the
        # first consent this person has, as it is for a new contact.
        contact_opt_in(contact=contact, consent_source=consent_source, consent_text=consent_text, actor=actor)
        recipient.consent_recorded = True
    recipient.contact_id = contact.pk
