"""Segments: saved rule sets over contacts (contacts.segment_rules), created, changed and deleted by staff."""

from collections.abc import Callable

from django.db import transaction

from audit.services import audit_record, user_or_none
from contacts.models import Segment
from contacts.segment_rules import segment_rules_clean
from smscampaigns.errors import ApplicationError

# Why a segment may not be deleted now, asked of the apps that use segments (campaigns registers one from its
# AppConfig.ready: a segment in the audience of a campaign that has not finished), without contacts importing
# them. Each guard answers a sentence, or "" when it has no objection.
SEGMENT_DELETE_GUARDS: list[Callable[[Segment], str]] = []


def segment_delete_guard_register(guard: Callable[[Segment], str]) -> None:
    if guard not in SEGMENT_DELETE_GUARDS:
        SEGMENT_DELETE_GUARDS.append(guard)


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
    """Delete a segment no app objects to (SEGMENT_DELETE_GUARDS); finished and draft campaigns lose it from
    their audience and their exclusions."""
    objections = [objection for guard in SEGMENT_DELETE_GUARDS if (objection := guard(segment))]
    if objections:
        raise ApplicationError(f"segment {segment.name!r} cannot be deleted: {'; '.join(objections)}", code="in_use")
    audit_record(actor=actor, action="segment.deleted", target=segment)
    segment.delete()
