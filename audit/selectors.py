from datetime import datetime

from django.db import models
from django.db.models import QuerySet

from audit.models import AuditEvent


def audit_events_for(*, target: models.Model, actions: list[str] | None = None) -> QuerySet[AuditEvent]:
    """The trail of one object, newest first (served by the audit_target_idx index)."""
    events = AuditEvent.objects.filter(target_type=target._meta.label_lower, target_id=str(target.pk))
    if actions:
        events = events.filter(action__in=actions)
    return events.select_related("actor")


AUDIT_EXPORT_COLUMNS = [
    "id",
    "created_at",
    "actor_id",
    "actor_label",
    "action",
    "target_type",
    "target_id",
    "target_repr",
    "data",
]


def audit_events_for_export(*, since: datetime | None = None, until: datetime | None = None):
    """Rows of the trail from `since` (inclusive) to `until` (exclusive), oldest first, streamed from the database."""
    events = AuditEvent.objects.order_by("created_at", "id")
    if since is not None:
        events = events.filter(created_at__gte=since)
    if until is not None:
        events = events.filter(created_at__lt=until)
    return events.values_list(*AUDIT_EXPORT_COLUMNS).iterator(chunk_size=2000)
