"""Contacts: create, change, delete; a new contact starts subscribed or not by contacts.services.consent."""

from collections.abc import Iterable
from dataclasses import asdict

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from contacts.attributes import attributes_validate
from contacts.custom_fields import attributes_typed
from contacts.importer import (
    BATCH_SIZE,
)
from contacts.models import (
    ConsentEvent,
    Contact,
    ContactList,
    ContactListMembership,
    Suppression,
    Tag,
    is_timezone_name,
)
from contacts.phones import NormalizedNumber, normalize_phone
from contacts.selectors import batched, custom_fields_by_key
from contacts.services.consent import ConsentContext, initial_consent, staff_consent_event_record
from contacts.services.custom_fields import contact_field_values_write
from contacts.services.tags import contact_tags_set
from smscampaigns.errors import ApplicationError


@transaction.atomic
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
    tags: list[Tag] | None = None,
    region: str | None = None,
    actor=None,
    context: ConsentContext = ConsentContext(),
) -> Contact:
    """Create a contact; subscribed only when consent evidence is given and the number is not suppressed.

    A number that opted out before it was a contact is stored all the same (names, attributes, lists), as
    opted out with that opt-out's evidence: when the person texts START they are subscribed on those lists.
    """
    fields = custom_fields_by_key()
    attributes = _attributes_typed(attributes or {}, fields)
    number = contact_details_validate(
        phone_number=phone_number, timezone_name=timezone_name, attributes=attributes, region=region
    )
    suppressions = {s.reason: s for s in Suppression.objects.filter(phone_number=number.e164)}
    initial = initial_consent(
        consent_source=consent_source,
        consent_text=consent_text,
        consented_at=consented_at,
        suppressed=bool(suppressions),
        opt_out=suppressions.get(Suppression.Reason.OPT_OUT),
        now=timezone.now(),
    )
    contact = Contact.objects.create(
        phone_number=number.e164,
        country=number.region,
        first_name=first_name,
        last_name=last_name,
        # Only a zone the person gave is stored; quiet hours derive the number's zones at send time.
        timezone=timezone_name,
        attributes=attributes,
        **asdict(initial),
    )
    contact_field_values_write(attributes_by_contact={contact.pk: attributes}, fields=fields)
    if lists:
        contact_lists_add(contact=contact, contact_lists=lists)
    if tags:
        contact_tags_set(contact=contact, tags=tags)
    if initial.subscribed:
        staff_consent_event_record(
            context=context,
            contact=contact,
            phone_number=number.e164,
            kind=ConsentEvent.Kind.CONSENT_GIVEN,
            source=initial.consent_source,
            text=initial.consent_text,
            actor=actor,
        )
    if actor is not None:
        audit_record(actor=actor, action="contact.created", target=contact)
    return contact


def contact_lists_add(*, contact: Contact, contact_lists: list[ContactList]) -> None:
    ContactListMembership.objects.bulk_create(
        [ContactListMembership(contact=contact, contact_list=cl) for cl in contact_lists], ignore_conflicts=True
    )


def contact_details_validate(
    *,
    phone_number: str | None = None,
    timezone_name: str | None = None,
    attributes: dict | None = None,
    contact: Contact | None = None,
    region: str | None = None,
) -> NormalizedNumber | None:
    """Check details as contact_create and contact_update do, writing nothing; the number normalised if given.

    `contact` is the one being changed (its own number is not a duplicate). Forms call it to show the error
    beside the field instead of failing on save.
    """
    number = None
    if phone_number is not None:
        number = normalize_phone(phone_number, region=region)
        others = Contact.objects.filter(phone_number=number.e164)
        if contact is not None:
            others = others.exclude(pk=contact.pk)
        if others.exists():
            raise ApplicationError(f"a contact with number {number.e164} already exists", field="phone_number")
    if timezone_name and not is_timezone_name(timezone_name):
        raise ApplicationError(f"{timezone_name!r} is not an IANA time zone such as America/New_York", field="timezone")
    if attributes is not None and not isinstance(attributes, dict):
        # Messages are personalised by name ({{ city }}): a list or a bare value has no names.
        raise ApplicationError('attributes must be names and values, e.g. {"city": "Lyon"}', field="attributes")
    # Attributes stored before a limit was lowered stay editable as long as they are left as they are.
    if attributes is not None and (contact is None or attributes != contact.attributes):
        attributes_typed(attributes, custom_fields_by_key())
        attributes_validate(attributes)
    return number


def _attributes_typed(attributes, fields) -> dict:
    if not isinstance(attributes, dict):
        raise ApplicationError('attributes must be names and values, e.g. {"city": "Lyon"}', field="attributes")
    return attributes_typed(attributes, fields)


_UPDATABLE_CONTACT_FIELDS = ("first_name", "last_name", "timezone", "attributes")


@transaction.atomic
def contact_update(
    *,
    contact: Contact,
    phone_number: str | None = None,
    lists: list[ContactList] | None = None,
    tags: list[Tag] | None = None,
    region: str | None = None,
    actor=None,
    **fields,
) -> Contact:
    """Change a contact's details; consent and status change only through opt-in and opt-out."""
    unknown = set(fields) - set(_UPDATABLE_CONTACT_FIELDS)
    if unknown:
        raise ApplicationError(f"these fields cannot be changed here: {', '.join(sorted(unknown))}")
    custom_fields = custom_fields_by_key()
    if fields.get("attributes") is not None and fields["attributes"] != contact.attributes:
        fields["attributes"] = _attributes_typed(fields["attributes"], custom_fields)
    number = contact_details_validate(
        phone_number=phone_number,
        timezone_name=fields.get("timezone"),
        attributes=fields.get("attributes"),
        contact=contact,
        region=region,
    )
    changed = [name for name, value in fields.items() if getattr(contact, name) != value]
    for name in changed:
        setattr(contact, name, fields[name])
    if number is not None and number.e164 != contact.phone_number:
        contact.phone_number, contact.country = number.e164, number.region
        changed += ["phone_number", "country"]
        if "timezone" not in fields and contact.timezone:
            # The zone went with the old number (a person given one for a Los Angeles number and now on a
            # London one would be texted at night): the new number's zones are derived at send time.
            contact.timezone = ""
            changed.append("timezone")
    if changed:
        contact.save(update_fields=[*dict.fromkeys(changed), "updated_at"])
    if "attributes" in changed:
        contact_field_values_write(attributes_by_contact={contact.pk: contact.attributes}, fields=custom_fields)
    if lists is not None:
        ContactListMembership.objects.filter(contact=contact).exclude(contact_list__in=lists).delete()
        contact_lists_add(contact=contact, contact_lists=lists)
    if tags is not None:
        contact_tags_set(contact=contact, tags=tags)
        changed.append("tags")
    audit_record(actor=actor, action="contact.updated", target=contact, data={"fields": changed})
    return contact


@transaction.atomic
def contact_delete(*, contact: Contact, actor=None) -> None:
    """Erase a contact; its sends keep the number they went to, and suppressions stay in force."""
    audit_record(actor=actor, action="contact.deleted", target=contact)
    contact.delete()


def contact_timezones_clear(*, contact_ids: Iterable[int], reason: str, actor=None) -> int:
    """Clear the stored timezone of these contacts (quiet hours then hold in every zone their number may be
    in); each change audited with `reason`. Returns how many were cleared."""
    cleared = 0
    for batch in batched(contact_ids, BATCH_SIZE):
        with transaction.atomic():
            contacts = list(Contact.objects.filter(pk__in=batch).exclude(timezone="").select_for_update())
            for contact in contacts:
                audit_record(
                    actor=actor,
                    action="contact.timezone_cleared",
                    target=contact,
                    data={"timezone": contact.timezone, "reason": reason},
                )
            cleared += Contact.objects.filter(pk__in=[c.pk for c in contacts]).update(
                timezone="", updated_at=timezone.now()
            )
    return cleared
