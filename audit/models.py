from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    """Who did what to which object, and when. Written by services; never edited or deleted.

    No permission to add, change or delete exists for anyone to be granted, and on PostgreSQL a trigger
    (migration 0002) refuses UPDATE and DELETE from any client, the admin and a database shell alike.
    """

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True, help_text="Who, as known when it happened")
    action = models.CharField(max_length=64, help_text="e.g. campaign.launched, contact.opted_out")
    target_type = models.CharField(max_length=64, help_text="app_label.model of the object acted on")
    target_id = models.CharField(max_length=64)
    target_repr = models.CharField(max_length=255, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        default_permissions = ("view",)
        indexes = [
            models.Index(fields=["target_type", "target_id", "-created_at"], name="audit_target_idx"),
            models.Index(fields=["action"], name="audit_action_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.actor_label or 'system'} {self.action} {self.target_repr}"
