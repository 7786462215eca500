"""Segments: saved rule sets over contacts (contacts.segment_rules), created, changed and deleted by staff."""

from django.db import transaction

from audit.services import audit_record, user_or_none
from contacts.models import Segment
from contacts.segment_rules import segment_rules_clean
from smscampaigns.errors import ApplicationError


def segment_validate(*, name: str | None, rules=None, segment: Segment | None = None) -> dict | None:
    """Check a segment's name (its own, not blank) and its rules; the rules cleaned, or None when not given."""
    if name is not None:
        if not name.strip():
            raise ApplicationError("a segment needs a name", field="name")
        if Segment.objects.filter(name=name).exclude(pk=getattr(segment, "pk", None)).exists():
            raise ApplicationError(f"a segment named {name!r} already exists", field="name")
    return segment_rules_clean(rules) if rules is not None else None


def segment_create(*, name: str, rules, description: str = "", actor=None) -> Segment:
    cleaned = segment_validate(name=name, rules=rules)
    with transaction.atomic():
        segment = Segment.objects.create(
            name=name, description=description, rules=cleaned, created_by=user_or_none(actor)
        )
        audit_record(actor=actor, action="segment.created", target=segment, data={"rules": cleaned})
    return segment


def segment_update(
    *, segment: Segment, name: str | None = None, description: str | None = None, rules=None, actor=None
) -> Segment:
    """Change a segment; campaigns that use it reach whoever matches the new rules when they go."""
    cleaned = segment_validate(name=name, rules=rules, segment=segment)
    changed = []
    for field, value in (("name", name), ("description", description), ("rules", cleaned)):
        if value is not None and getattr(segment, field) != value:
            setattr(segment, field, value)
            changed.append(field)
    with transaction.atomic():
        segment.save()
        audit_record(
            actor=actor,
            action="segment.updated",
            target=segment,
            data={"fields": changed, **({"rules": cleaned} if "rules" in changed else {})},
        )
    return segment


@transaction.atomic
def segment_delete(*, segment: Segment, actor=None) -> None:
    """Delete a segment; campaigns lose it from their audience (and from their exclusions)."""
    audit_record(actor=actor, action="segment.deleted", target=segment)
    segment.delete()
