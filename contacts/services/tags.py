"""Tags: labels staff put on contacts, added and removed in bulk (admin list, API, an import column)."""

import re
from collections.abc import Iterable

from django.db import IntegrityError, transaction

from audit.services import audit_record
from contacts.models import Contact, ContactTag, Tag
from contacts.selectors import tags_named
from smscampaigns.errors import ApplicationError

TAG_NAME_MAX_CHARS = Tag._meta.get_field("name").max_length
# An import cell holds several tags: "vip, walk-in; 2026-fair".
TAG_SEPARATORS = re.compile(r"[,;|]")
TAGS_PER_CONTACT_MOST = 100
BULK_BATCH = 2000


def tag_names_split(cell: str) -> list[str]:
    """The tag names in one import cell, in order, each once (ignoring case)."""
    names: dict[str, str] = {}
    for name in (part.strip() for part in TAG_SEPARATORS.split(cell)):
        if name:
            names.setdefault(name.lower(), name)
    return list(names.values())


def tag_name_problem(name: str) -> str | None:
    """What is wrong with a tag name (None when it may be one); the check of every path, the importer's too."""
    if not name.strip():
        return "a tag needs a name"
    if len(name) > TAG_NAME_MAX_CHARS:
        return f"a tag name is at most {TAG_NAME_MAX_CHARS} characters ({len(name):,} given)"
    if TAG_SEPARATORS.search(name):
        return f"{name!r}: a tag name cannot hold , ; or | (they separate tags in an import column)"
    if "\x00" in name:
        return "a tag name cannot hold a NUL character"
    return None


def tag_name_validate(*, name: str, tag: Tag | None = None) -> str:
    """The name stripped, if it may name a tag (`tag`: the one being renamed); writes nothing."""
    if problem := tag_name_problem(name):
        raise ApplicationError(problem, field="name")
    name = name.strip()
    same = tags_named([name]).get(name.lower())
    if same is not None and (tag is None or same.pk != tag.pk):
        raise ApplicationError(f"a tag named {same.name!r} already exists", field="name")
    return name


def tag_create(*, name: str, actor=None) -> Tag:
    name = tag_name_validate(name=name)
    try:
        with transaction.atomic():
            tag = Tag.objects.create(name=name)
    except IntegrityError:  # made by someone else since the check
        raise ApplicationError(f"a tag named {name!r} already exists", field="name") from None
    audit_record(actor=actor, action="tag.created", target=tag)
    return tag


def tag_update(*, tag: Tag, name: str, actor=None) -> Tag:
    tag.name = tag_name_validate(name=name, tag=tag)
    tag.save(update_fields=["name"])
    audit_record(actor=actor, action="tag.updated", target=tag, data={"name": tag.name})
    return tag


@transaction.atomic
def tag_delete(*, tag: Tag, actor=None) -> None:
    """Delete a tag; it goes from every contact that had it (the contacts stay)."""
    audit_record(actor=actor, action="tag.deleted", target=tag, data={"name": tag.name})
    tag.delete()


def tags_get_or_create(*, names: Iterable[str]) -> list[Tag]:
    """The tags of these names (matched ignoring case), creating those that do not exist yet."""
    wanted: dict[str, str] = {}
    for name in names:
        if problem := tag_name_problem(name):
            raise ApplicationError(problem, field="tags")
        wanted.setdefault(name.strip().lower(), name.strip())
    found = tags_named(wanted.values())
    missing = [name for folded, name in wanted.items() if folded not in found]
    if missing:
        # Another import may create the same tag at the same time: the unique index decides, then we read.
        Tag.objects.bulk_create([Tag(name=name) for name in missing], ignore_conflicts=True)
        found = tags_named(wanted.values())
    return [found[folded] for folded in wanted]


@transaction.atomic
def contacts_tag(*, tag: Tag, contact_ids: list[int], actor=None) -> int:
    """Put a tag on contacts (those that have it are left alone); audited on the tag; how many got it."""
    ids = list(dict.fromkeys(contact_ids))
    before = ContactTag.objects.filter(tag=tag, contact_id__in=ids).count()
    ContactTag.objects.bulk_create(
        [ContactTag(tag=tag, contact_id=pk) for pk in ids], ignore_conflicts=True, batch_size=BULK_BATCH
    )
    added = len(ids) - before
    audit_record(actor=actor, action="tag.contacts_added", target=tag, data={"count": added})
    return added


@transaction.atomic
def contacts_untag(*, tag: Tag, contact_ids: list[int], actor=None) -> int:
    """Take a tag off contacts; audited on the tag; how many had it."""
    removed, _ = ContactTag.objects.filter(tag=tag, contact_id__in=contact_ids).delete()
    audit_record(actor=actor, action="tag.contacts_removed", target=tag, data={"count": removed})
    return removed


def contact_tags_set(*, contact: Contact, tags: list[Tag]) -> None:
    """Make `tags` the contact's tags exactly (the contact's API and admin form edit the whole set)."""
    if len(tags) > TAGS_PER_CONTACT_MOST:
        raise ApplicationError(f"a contact has at most {TAGS_PER_CONTACT_MOST} tags", field="tags")
    ContactTag.objects.filter(contact=contact).exclude(tag__in=tags).delete()
    ContactTag.objects.bulk_create([ContactTag(contact=contact, tag=tag) for tag in tags], ignore_conflicts=True)
