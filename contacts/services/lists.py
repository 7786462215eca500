"""Contact lists and their members."""

from django.db import transaction

from audit.services import audit_record
from contacts.importer import (
    BATCH_SIZE,
)
from contacts.models import (
    Contact,
    ContactList,
    ContactListMembership,
)
from contacts.services.subscriptions import subscription_requests_end_for_list
from smscampaigns.errors import ApplicationError


@transaction.atomic
def contact_list_add_contacts(*, contact_list: ContactList, contact_ids: list[int], actor=None) -> int:
    """Put contacts on a list (those already on it are left alone); audited on the list; how many were added."""
    memberships = [ContactListMembership(contact_id=pk, contact_list=contact_list) for pk in contact_ids]
    before = ContactListMembership.objects.filter(contact_list=contact_list, contact_id__in=contact_ids).count()
    ContactListMembership.objects.bulk_create(memberships, ignore_conflicts=True, batch_size=BATCH_SIZE)
    added = len(set(contact_ids)) - before
    audit_record(actor=actor, action="contact_list.contacts_added", target=contact_list, data={"count": added})
    return added


@transaction.atomic
def contact_list_remove_contacts(*, contact_list: ContactList, contact_ids: list[int], actor=None) -> int:
    """Take contacts off a list; audited on the list; how many were removed."""
    removed, _ = ContactListMembership.objects.filter(contact_list=contact_list, contact_id__in=contact_ids).delete()
    audit_record(actor=actor, action="contact_list.contacts_removed", target=contact_list, data={"count": removed})
    return removed


def contact_list_name_validate(*, name: str, contact_list: ContactList | None = None) -> None:
    """A list needs a name of its own (`contact_list`: the one being renamed); writes nothing."""
    if not name.strip():
        raise ApplicationError("a list needs a name", field="name")
    if ContactList.objects.filter(name=name).exclude(pk=getattr(contact_list, "pk", None)).exists():
        raise ApplicationError(f"a list named {name!r} already exists", field="name")


def contact_list_create(*, name: str, description: str = "", actor=None) -> ContactList:
    contact_list_name_validate(name=name)
    contact_list = ContactList.objects.create(name=name, description=description)
    audit_record(actor=actor, action="contact_list.created", target=contact_list)
    return contact_list


def contact_list_update(
    *, contact_list: ContactList, name: str | None = None, description: str | None = None, actor=None
) -> ContactList:
    if name is not None:
        contact_list_name_validate(name=name, contact_list=contact_list)
        contact_list.name = name
    if description is not None:
        contact_list.description = description
    contact_list.save()
    audit_record(actor=actor, action="contact_list.updated", target=contact_list)
    return contact_list


@transaction.atomic
def contact_list_delete(*, contact_list: ContactList, actor=None) -> None:
    """Delete a list (its memberships go with it; the contacts stay). Requests to join it that are still
    pending end; every request keeps its evidence."""
    subscription_requests_end_for_list(contact_list=contact_list)
    audit_record(actor=actor, action="contact_list.deleted", target=contact_list)
    contact_list.delete()


@transaction.atomic
def contact_list_members_change(
    *, contact_list: ContactList, add: list[Contact], remove: list[Contact], actor=None
) -> tuple[int, int]:
    """Add and remove contacts in one transaction; returns (added, removed), not counting those already so."""
    overlap = {c.pk for c in add} & {c.pk for c in remove}
    if overlap:
        ids = ", ".join(str(pk) for pk in sorted(overlap))
        raise ApplicationError(f"contacts {ids} are both added and removed", field="remove")
    removed = contact_list_remove_contacts(contact_list=contact_list, contact_ids=[c.pk for c in remove], actor=actor)
    added = contact_list_add_contacts(contact_list=contact_list, contact_ids=[c.pk for c in add], actor=actor)
    return added, removed
