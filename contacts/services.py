"""Writes to contacts, lists and suppressions. Every rule about consent is enforced here."""

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from contacts.models import Contact, ContactList, ContactListMembership, Suppression
from contacts.phones import normalize_phone
from smscampaigns.errors import ApplicationError


def contact_create(
    *,
    phone_number: str,
    first_name: str = "",
    last_name: str = "",
    timezone_name: str = "",
    attributes: dict | None = None,
    consent_source: str = "",
    consent_text: str = "",
    consented_at=None,
    lists: list[ContactList] | None = None,
    region: str | None = None,
    actor=None,
) -> Contact:
    """Create a contact; subscribed only when consent evidence is given and the number is not suppressed."""
    number = normalize_phone(phone_number, region=region)
    if Contact.objects.filter(phone_number=number.e164).exists():
        raise ApplicationError(f"a contact with number {number.e164} already exists", field="phone_number")
    suppressed = Suppression.objects.filter(phone_number=number.e164).exists()
    subscribe = bool(consent_source) and not suppressed
    contact = Contact.objects.create(
        phone_number=number.e164,
        country=number.region,
        first_name=first_name,
        last_name=last_name,
        timezone=timezone_name or number.timezone,
        attributes=attributes or {},
        status=Contact.Status.SUBSCRIBED if subscribe else Contact.Status.UNSUBSCRIBED,
        consent_source=consent_source,
        consent_text=consent_text,
        consented_at=(consented_at or timezone.now()) if consent_source else None,
    )
    if lists:
        contact_lists_add(contact=contact, contact_lists=lists)
    if actor is not None:
        audit_record(actor=actor, action="contact.created", target=contact)
    return contact


def contact_lists_add(*, contact: Contact, contact_lists: list[ContactList]) -> None:
    ContactListMembership.objects.bulk_create(
        [ContactListMembership(contact=contact, contact_list=cl) for cl in contact_lists], ignore_conflicts=True
    )


@transaction.atomic
def contact_opt_out(*, contact: Contact, source: str, actor=None) -> Contact:
    """Unsubscribe a contact and suppress the number, so no import or list can bring it back."""
    now = timezone.now()
    contact.status = Contact.Status.UNSUBSCRIBED
    contact.opted_out_at = now
    contact.opt_out_source = source
    contact.save(update_fields=["status", "opted_out_at", "opt_out_source", "updated_at"])
    suppression_add(
        phone_number=str(contact.phone_number), reason=Suppression.Reason.OPT_OUT, source=source, actor=actor
    )
    audit_record(actor=actor, action="contact.opted_out", target=contact, data={"source": source})
    return contact


@transaction.atomic
def contact_opt_in(*, contact: Contact, consent_source: str, consent_text: str = "", actor=None) -> Contact:
    """Re-subscribe with new consent evidence; lifts an opt-out suppression, never a do-not-call one."""
    if not consent_source:
        raise ApplicationError("consent evidence is required to subscribe a contact", field="consent_source")
    blocking = Suppression.objects.filter(phone_number=contact.phone_number).exclude(reason=Suppression.Reason.OPT_OUT)
    if blocking.exists():
        reasons = ", ".join(sorted(blocking.values_list("reason", flat=True)))
        raise ApplicationError(f"{contact.phone_number} is suppressed ({reasons}) and cannot be subscribed")
    Suppression.objects.filter(phone_number=contact.phone_number, reason=Suppression.Reason.OPT_OUT).delete()
    contact.status = Contact.Status.SUBSCRIBED
    contact.consented_at = timezone.now()
    contact.consent_source = consent_source
    contact.consent_text = consent_text or contact.consent_text
    contact.save(update_fields=["status", "consented_at", "consent_source", "consent_text", "updated_at"])
    audit_record(actor=actor, action="contact.opted_in", target=contact, data={"source": consent_source})
    return contact


def suppression_add(
    *, phone_number: str, reason: str, source: str = "", note: str = "", actor=None, region: str | None = None
) -> Suppression:
    """Suppress a number for a reason (idempotent: a second call returns the existing entry)."""
    if reason not in Suppression.Reason.values:
        raise ApplicationError(
            f"unknown suppression reason {reason!r}; use one of {', '.join(Suppression.Reason.values)}",
            field="reason",
        )
    number = normalize_phone(phone_number, region=region)
    suppression, created = Suppression.objects.get_or_create(
        phone_number=number.e164,
        reason=reason,
        defaults={"source": source, "note": note, "created_by": actor if getattr(actor, "pk", None) else None},
    )
    if created and actor is not None:
        audit_record(actor=actor, action="suppression.added", target=suppression, data={"reason": reason})
    return suppression
