from django.db import models

from audit.models import AuditEvent


def user_or_none(actor):
    """The actor when it is a saved user (for a foreign key), else None: the system, or an anonymous user."""
    return actor if getattr(actor, "pk", None) else None


def audit_record(*, actor, action: str, target: models.Model, data: dict | None = None) -> AuditEvent:
    """Append one entry to the audit trail; `actor` is a user, or None for the system itself."""
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditEvent.objects.create(
        actor=actor if is_user else None,
        actor_label=actor.get_username() if is_user else "system",
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        target_repr=str(target)[:255],
        data=data or {},
    )
