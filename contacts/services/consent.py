"""Consent: the evidence a contact may be texted, its history, and opting in and out (staff or the person).
Every rule about consent is enforced here."""

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from django.db import connection, transaction
from django.utils import timezone

from audit.services import audit_record, user_or_none
from contacts.models import (
    ConsentEvent,
    Contact,
    Suppression,
)
from contacts.selectors import suppression_reasons_blocking_opt_in, utc_minute
from contacts.services.suppressions import staff_opt_outs_lock, suppression_add
from smscampaigns.errors import ApplicationError


@dataclass(frozen=True)
class ConsentContext:
    """Where a staff request came from, kept on the consent events it writes (the API fills it in)."""

    method: str = ConsentEvent.Method.API
    ip: str | None = None
    user_agent: str = ""

    @classmethod
    def from_request(cls, request, *, method: str) -> "ConsentContext":
        """The client address and user agent of an HTTP request (the address the server saw)."""
        meta = request.META
        return cls(method=method, ip=meta.get("REMOTE_ADDR") or None, user_agent=meta.get("HTTP_USER_AGENT", ""))


def consent_event_record(
    *,
    phone_number: str,
    kind: str,
    method: str,
    contact: Contact | None = None,
    source: str = "",
    text: str = "",
    actor=None,
    ip: str | None = None,
    user_agent: str = "",
) -> ConsentEvent:
    """Append one event to the consent history; called in the transaction of the change it records."""
    return ConsentEvent.objects.create(
        contact=contact,
        phone_number=str(phone_number),
        kind=kind,
        method=method,
        source=source[:255],
        text=text,
        actor=user_or_none(actor),
        ip=ip or None,
        user_agent=(user_agent or "")[:512],
    )


def staff_consent_event_record(*, context: ConsentContext, **values) -> ConsentEvent:
    """consent_event_record for a change staff made, with where their request came from (`context`)."""
    return consent_event_record(method=context.method, ip=context.ip, user_agent=context.user_agent, **values)


class OptOutEvidence(Protocol):
    """An opt-out suppression of the number: a Suppression row, or selectors.OptOutSuppression in bulk."""

    source: str
    created_at: datetime


@dataclass(frozen=True)
class InitialConsent:
    status: str
    consent_source: str
    consent_text: str
    consented_at: datetime | None
    opted_out_at: datetime | None
    opt_out_source: str

    @property
    def subscribed(self) -> bool:
        return self.status == Contact.Status.SUBSCRIBED


def initial_consent(
    *,
    consent_source: str,
    consent_text: str = "",
    consented_at: datetime | None = None,
    suppressed: bool,
    opt_out: OptOutEvidence | None,
    now: datetime,
) -> InitialConsent:
    """A new contact is subscribed when consent evidence is given and its number has no suppression
    (`suppressed`, an opt-out included). Consent claimed for a number that opted out (`opt_out`) is void,
    since only the person's own opt-in counts, and the contact carries that opt-out's evidence instead."""
    if opt_out is not None:
        consent_source, consent_text = "", ""
    subscribed = bool(consent_source) and not suppressed
    return InitialConsent(
        status=Contact.Status.SUBSCRIBED if subscribed else Contact.Status.UNSUBSCRIBED,
        consent_source=consent_source,
        consent_text=consent_text,
        consented_at=(consented_at or now) if consent_source else None,
        opted_out_at=opt_out.created_at if opt_out is not None else None,
        opt_out_source=opt_out.source if opt_out is not None else "",
    )


def _contact_subscribe(contact: Contact, *, consent_source: str, consent_text: str) -> None:
    contact.status = Contact.Status.SUBSCRIBED
    contact.consented_at = timezone.now()
    contact.consent_source = consent_source
    contact.consent_text = consent_text.strip()
    contact.save(update_fields=["status", "consented_at", "consent_source", "consent_text", "updated_at"])


def _contact_unsubscribe(contact: Contact, *, source: str, now) -> None:
    contact.status = Contact.Status.UNSUBSCRIBED
    contact.opted_out_at = now
    contact.opt_out_source = source
    contact.save(update_fields=["status", "opted_out_at", "opt_out_source", "updated_at"])


@transaction.atomic
def contact_opt_out(
    *, contact: Contact, source: str, actor=None, context: ConsentContext = ConsentContext()
) -> Contact:
    """Staff record an opt-out: unsubscribe the contact and suppress the number, so no import or list can
    bring it back. Staff may lift an opt-out they made; one the person made stays the person's."""
    now = timezone.now()
    _contact_unsubscribe(contact, source=source, now=now)
    _pending_requests_end(e164=str(contact.phone_number), source=source)
    suppression_add(
        phone_number=str(contact.phone_number), reason=Suppression.Reason.OPT_OUT, source=source, actor=actor
    )
    staff_consent_event_record(
        context=context,
        contact=contact,
        phone_number=str(contact.phone_number),
        kind=ConsentEvent.Kind.OPTED_OUT,
        source=source,
        actor=actor,
    )
    audit_record(actor=actor, action="contact.opted_out", target=contact, data={"source": source})
    return contact


def _pending_requests_end(*, e164: str, source: str) -> None:
    """An opt-out during the wait for a confirming reply ends the request: nothing more is sent for it."""
    # Imported here: subscriptions records its consent events through this module.
    from contacts.services.subscriptions import subscription_requests_cancel

    subscription_requests_cancel(e164=e164, reason=f"opted out ({source})")


@dataclass(frozen=True)
class PersonOptOut:
    contact: Contact | None
    newly_opted_out: bool  # False when the number was already opted out (a repeated STOP)


@transaction.atomic
def person_opt_out_record(*, e164: str, method: str, source: str, text: str = "") -> PersonOptOut:
    """The person opted out (a keyword, an informal phrase, Plivo's opt-out intent, their carrier): suppress
    the number as the person's opt-out, which only they can lift, even without a contact (so that a later
    import keeps it opted out), unsubscribe the contact, and record the event with the words received."""
    if method not in ConsentEvent.PERSON_METHODS:
        raise ApplicationError(f"{method!r} is not a way a person opts out", field="method")
    already = Suppression.objects.filter(phone_number=e164, reason=Suppression.Reason.OPT_OUT).exists()
    now = timezone.now()
    table = connection.ops.quote_name(Suppression._meta.db_table)
    # One statement, so a staff member lifting a staff opt-out of this number at this moment cannot make the
    # person's opt-out vanish: the conflict waits for that lift, then inserts or takes over the row.
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (phone_number, reason, origin, source, note, created_by_id, created_at) "
            "VALUES (%s, %s, %s, %s, '', NULL, %s) ON CONFLICT (phone_number, reason) DO UPDATE SET "
            "origin = excluded.origin, source = excluded.source, created_at = excluded.created_at, "
            f"created_by_id = NULL WHERE {table}.origin <> excluded.origin",
            [
                e164,
                Suppression.Reason.OPT_OUT,
                Suppression.Origin.PERSON,
                source[:255],
                connection.ops.adapt_datetimefield_value(now),
            ],
        )
    # Concurrent opt-outs of one number queue on this row, so each sees what the one before it did.
    suppression = (
        Suppression.objects.select_for_update().filter(phone_number=e164, reason=Suppression.Reason.OPT_OUT).first()
    )
    contact = Contact.objects.filter(phone_number=e164).first()
    if contact is None:
        newly = not already
    else:
        newly = contact.status != Contact.Status.UNSUBSCRIBED or contact.opted_out_at is None
        if newly:
            _contact_unsubscribe(contact, source=source, now=now)
            audit_record(actor=None, action="contact.opted_out", target=contact, data={"source": source})
    _pending_requests_end(e164=e164, source=source)
    if not already and suppression is not None:
        audit_record(actor=None, action="suppression.added", target=suppression, data={"reason": "opt-out"})
    consent_event_record(
        contact=contact,
        phone_number=e164,
        kind=ConsentEvent.Kind.OPTED_OUT,
        method=method,
        source=source,
        text=text,
    )
    return PersonOptOut(contact=contact, newly_opted_out=newly)


@transaction.atomic
def person_opt_in_record(*, e164: str, keyword: str, text: str, to_number: str = "") -> bool:
    """The person texted a START-family keyword: lift their opt-out (the only way it is lifted), subscribe
    their contact with the keyword as consent evidence, and record the event. False when a do-not-call or
    manual suppression forbids it."""
    blocking = suppression_reasons_blocking_opt_in(e164=e164)
    if blocking:
        return False
    contact = Contact.objects.select_for_update().filter(phone_number=e164).first()
    opt_outs = list(
        Suppression.objects.select_for_update().filter(phone_number=e164, reason=Suppression.Reason.OPT_OUT)
    )
    if contact is not None and contact.status == Contact.Status.SUBSCRIBED and not opt_outs:
        # Already subscribed (a YES to a question, say): the consent evidence on file stays as it is.
        return True
    consent_source = f"inbound keyword {keyword[:40]}"
    for suppression in opt_outs:
        audit_record(actor=None, action="suppression.lifted", target=suppression, data={"source": consent_source})
        suppression.delete()
    if contact is not None:
        _contact_subscribe(contact, consent_source=consent_source, consent_text=f"Texted {keyword[:40]} to {to_number}")
        audit_record(actor=None, action="contact.opted_in", target=contact, data={"source": consent_source})
    consent_event_record(
        contact=contact,
        phone_number=e164,
        kind=ConsentEvent.Kind.OPTED_IN,
        method=ConsentEvent.Method.INBOUND_KEYWORD,
        source=f"inbound text to {to_number}" if to_number else "inbound text",
        text=text,
    )
    return True


def _opt_out_lift_by_staff(*, contact: Contact, source: str, actor, context: ConsentContext) -> int:
    """Lift the opt-outs staff made of the contact's number, audited and recorded; how many."""
    e164 = str(contact.phone_number)
    opt_outs = staff_opt_outs_lock(e164=e164)
    for suppression in opt_outs:
        audit_record(actor=actor, action="suppression.lifted", target=suppression, data={"source": source})
        staff_consent_event_record(
            context=context,
            contact=contact,
            phone_number=e164,
            kind=ConsentEvent.Kind.OPT_OUT_LIFTED,
            source=source,
            text=f"opt-out of {utc_minute(suppression.created_at)} ({suppression.source})",
            actor=actor,
        )
        suppression.delete()
    return len(opt_outs)


@transaction.atomic
def contact_opt_in(
    *,
    contact: Contact,
    consent_source: str,
    consent_text: str = "",
    actor=None,
    context: ConsentContext = ConsentContext(),
) -> Contact:
    """Staff record new consent: refused while the person's own opt-out stands or the number is on a
    do-not-call or manual list; lifts an opt-out that staff made (audited)."""
    if not consent_source:
        raise ApplicationError("consent evidence is required to subscribe a contact", field="consent_source")
    e164 = str(contact.phone_number)
    _opt_out_lift_by_staff(contact=contact, source=consent_source, actor=actor, context=context)
    blocking = suppression_reasons_blocking_opt_in(e164=e164)
    if blocking:
        raise ApplicationError(f"{contact.phone_number} is suppressed ({', '.join(blocking)}) and cannot be subscribed")
    _contact_subscribe(contact, consent_source=consent_source, consent_text=consent_text or contact.consent_text)
    staff_consent_event_record(
        context=context,
        contact=contact,
        phone_number=e164,
        kind=ConsentEvent.Kind.CONSENT_GIVEN,
        source=consent_source,
        text=consent_text,
        actor=actor,
    )
    audit_record(actor=actor, action="contact.opted_in", target=contact, data={"source": consent_source})
    return contact


def contacts_opt_out(*, contacts: list[Contact], reason: str, actor) -> int:
    """Opt out each contact as contact_opt_out does (status, suppression, audit), with staff's reason."""
    if not reason.strip():
        raise ApplicationError("say why these contacts are opted out", field="reason")
    for contact in contacts:
        contact_opt_out(
            contact=contact,
            source=f"staff: {reason.strip()}"[:255],
            actor=actor,
            context=ConsentContext(method=ConsentEvent.Method.ADMIN),
        )
    return len(contacts)
