"""Quick send: a campaign for a handful of numbers, created, given its audience and sent now in one request,
the numbers not yet contacts becoming contacts with the caller's consent evidence."""

import hashlib
import json
from dataclasses import asdict, dataclass, field

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_record
from campaigns.models import Campaign, ExclusionReason, QuickSendRequest
from campaigns.services.drafts import campaign_create, campaign_update
from campaigns.services.lifecycle import campaign_ready_check, campaign_send_now
from contacts.models import ConsentEvent, Contact, Suppression
from contacts.phones import normalize_phone
from contacts.selectors import ELIGIBLE, contacts_with_exclusion_reason, suppression_reasons
from contacts.services.consent import ConsentContext, contact_opt_in
from contacts.services.contacts import contact_create
from contacts.services.lists import contact_list_add_contacts, contact_list_create
from smscampaigns.errors import ApplicationError

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
    transactional: bool = False,
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

    `transactional` (an order code, a one-time password): the sends bypass the frequency caps and do not
    count towards them; audited with the quick send.
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
        # Only when set: the fingerprints of requests made before the option existed stay as they were.
        **({"transactional": True} if transactional else {}),
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
    transactional: bool = False,
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
            **({"transactional": True} if transactional else {}),
        )
        campaign_ready_check(campaign)  # before contacts are written for a campaign that could not be sent
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
            data={
                "consent_source": consent_source,
                **({"transactional": True} if transactional else {}),
                **result.summary,
            },
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
        elif reason == ExclusionReason.PENDING:
            recipient.detail = "asked to join and not yet confirmed: never texted until their confirming reply"
        else:
            recipient.detail = f"suppressed ({', '.join(reasons) or reason}): never texted"
    return contacts


QUICK_SEND_CONSENT = ConsentContext(method=ConsentEvent.Method.QUICK_SEND)


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
                    context=QUICK_SEND_CONSENT,
                )
            recipient.contact_created = True
            # A number that opted out since this request looked is stored opted out, its consent void.
            recipient.consent_recorded = contact.status == Contact.Status.SUBSCRIBED
        except (IntegrityError, ApplicationError):
            # A concurrent request made it a contact since this one looked: it stays as that request left it
            # (dispatch re-checks consent and opt-out before each send anyway).
            contact = Contact.objects.filter(phone_number=recipient.phone_number).first()
            if contact is None:
                raise
    elif contact.exclusion_reason == ExclusionReason.NO_CONSENT:
        # Known, never opted out, not suppressed, but no consent on record: the caller's evidence is the
        # first consent this person has, as it is for a new contact.
        contact_opt_in(
            contact=contact,
            consent_source=consent_source,
            consent_text=consent_text,
            actor=actor,
            context=QUICK_SEND_CONSENT,
        )
        recipient.consent_recorded = True
    recipient.contact_id = contact.pk
