"""Writes to contacts, lists and suppressions. Every rule about consent is enforced here."""

from zoneinfo import available_timezones

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
    _validate_timezone(timezone_name)
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


def _validate_timezone(name: str) -> None:
    # Quiet hours are computed in this zone: an unknown name would make them silently wrong.
    if name and name not in available_timezones():
        raise ApplicationError(f"{name!r} is not an IANA time zone such as America/New_York", field="timezone")


_UPDATABLE_CONTACT_FIELDS = ("first_name", "last_name", "timezone", "attributes")


@transaction.atomic
def contact_update(
    *,
    contact: Contact,
    phone_number: str | None = None,
    lists: list[ContactList] | None = None,
    region: str | None = None,
    actor=None,
    **fields,
) -> Contact:
    """Change a contact's details; consent and status change only through opt-in and opt-out."""
    unknown = set(fields) - set(_UPDATABLE_CONTACT_FIELDS)
    if unknown:
        raise ApplicationError(f"these fields cannot be changed here: {', '.join(sorted(unknown))}")
    if "timezone" in fields:
        _validate_timezone(fields["timezone"])
    changed = [name for name, value in fields.items() if getattr(contact, name) != value]
    for name in changed:
        setattr(contact, name, fields[name])
    if phone_number is not None:
        number = normalize_phone(phone_number, region=region)
        if number.e164 != contact.phone_number:
            if Contact.objects.filter(phone_number=number.e164).exclude(pk=contact.pk).exists():
                raise ApplicationError(f"a contact with number {number.e164} already exists", field="phone_number")
            contact.phone_number, contact.country = number.e164, number.region
            changed += ["phone_number", "country"]
            if "timezone" not in fields:
                contact.timezone = number.timezone
                changed.append("timezone")
    if changed:
        contact.save(update_fields=[*dict.fromkeys(changed), "updated_at"])
    if lists is not None:
        ContactListMembership.objects.filter(contact=contact).exclude(contact_list__in=lists).delete()
        contact_lists_add(contact=contact, contact_lists=lists)
    audit_record(actor=actor, action="contact.updated", target=contact, data={"fields": changed})
    return contact


@transaction.atomic
def contact_delete(*, contact: Contact, actor=None) -> None:
    """Erase a contact; its sends keep the number they went to, and suppressions stay in force."""
    audit_record(actor=actor, action="contact.deleted", target=contact)
    contact.delete()


def _validate_list_name(name: str, *, exclude_pk: int | None = None) -> None:
    if not name.strip():
        raise ApplicationError("a list needs a name", field="name")
    if ContactList.objects.filter(name=name).exclude(pk=exclude_pk).exists():
        raise ApplicationError(f"a list named {name!r} already exists", field="name")


def contact_list_create(*, name: str, description: str = "", actor=None) -> ContactList:
    _validate_list_name(name)
    contact_list = ContactList.objects.create(name=name, description=description)
    audit_record(actor=actor, action="contact_list.created", target=contact_list)
    return contact_list


def contact_list_update(
    *, contact_list: ContactList, name: str | None = None, description: str | None = None, actor=None
) -> ContactList:
    if name is not None:
        _validate_list_name(name, exclude_pk=contact_list.pk)
        contact_list.name = name
    if description is not None:
        contact_list.description = description
    contact_list.save()
    audit_record(actor=actor, action="contact_list.updated", target=contact_list)
    return contact_list


@transaction.atomic
def contact_list_delete(*, contact_list: ContactList, actor=None) -> None:
    """Delete a list (its memberships go with it; the contacts stay)."""
    audit_record(actor=actor, action="contact_list.deleted", target=contact_list)
    contact_list.delete()


@transaction.atomic
def contact_list_members_change(
    *, contact_list: ContactList, add: list[Contact], remove: list[Contact], actor=None
) -> tuple[int, int]:
    """Add and remove contacts in bulk; returns (added, removed), not counting those already in that state."""
    overlap = {c.pk for c in add} & {c.pk for c in remove}
    if overlap:
        ids = ", ".join(str(pk) for pk in sorted(overlap))
        raise ApplicationError(f"contacts {ids} are both added and removed", field="remove")
    removed, _ = ContactListMembership.objects.filter(contact_list=contact_list, contact__in=remove).delete()
    already = set(
        ContactListMembership.objects.filter(contact_list=contact_list, contact__in=add).values_list(
            "contact_id", flat=True
        )
    )
    new = [ContactListMembership(contact=c, contact_list=contact_list) for c in add if c.pk not in already]
    ContactListMembership.objects.bulk_create(new, ignore_conflicts=True)
    audit_record(
        actor=actor,
        action="contact_list.members_changed",
        target=contact_list,
        data={"added": len(new), "removed": removed},
    )
    return len(new), removed


def suppression_remove(*, suppression: Suppression, actor=None) -> None:
    """Lift one suppression; a contact it had unsubscribed stays unsubscribed until it opts in again."""
    with transaction.atomic():
        audit_record(actor=actor, action="suppression.removed", target=suppression, data={"reason": suppression.reason})
        suppression.delete()
