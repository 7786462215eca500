from django.db import models
from django.db.models import QuerySet

from audit.models import AuditEvent


def audit_events_for(*, target: models.Model, actions: list[str] | None = None) -> QuerySet[AuditEvent]:
    """The trail of one object, newest first (served by the audit_target_idx index)."""
    events = AuditEvent.objects.filter(target_type=target._meta.label_lower, target_id=str(target.pk))
    if actions:
        events = events.filter(action__in=actions)
    return events.select_related("actor")
