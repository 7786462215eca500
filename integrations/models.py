import secrets
import uuid

from django.db import models
from django.utils import timezone

from smscampaigns import domain_events

EVENT_TYPE_CHOICES = [(name, name) for name in domain_events.EVENT_TYPES]


def endpoint_secret_generate() -> str:
    """A new signing secret: 32 random bytes, URL-safe, prefixed so that it is recognisable in a config file."""
    return f"whsec_{secrets.token_urlsafe(32)}"


class WebhookEndpoint(models.Model):
    """Where an integrator wants events: a URL, the secret the events are signed with, the event types wanted."""

    url = models.URLField(max_length=500, help_text="Events are POSTed here (https:// in production)")
    description = models.CharField(max_length=200, blank=True)
    secret = models.CharField(max_length=100, default=endpoint_secret_generate, help_text="Signs every event")
    events = models.JSONField(default=list, help_text="The event types sent to this endpoint")
    is_active = models.BooleanField(default=True)
    # Set by the first failed attempt after a success; an endpoint failing for WEBHOOK_DISABLE_AFTER_SECONDS
    # is disabled.
    failing_since = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=255, blank=True)
    # One worker delivers to an endpoint at a time (that keeps the order per object); it holds this lease.
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "event webhook endpoint"

    def __str__(self) -> str:
        return self.url

    def wants(self, event_type: str) -> bool:
        return self.is_active and event_type in self.events


class WebhookEvent(models.Model):
    """One event as integrators receive it (the body is built from `payload` the same way on every attempt)."""

    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    type = models.CharField(max_length=32, choices=EVENT_TYPE_CHOICES)
    order_key = models.CharField(max_length=64, help_text="Events with one key are delivered in order")
    payload = models.JSONField(help_text="The object the event is about")
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.type} {self.order_key}"


class WebhookDelivery(models.Model):
    """One event owed to one endpoint; retried with backoff until delivered or given up."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Given up"

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    order_key = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    replay_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replays")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            # The deliverer's question: an endpoint's pending deliveries in the order they were made.
            models.Index(
                fields=["endpoint", "id"], name="webhook_delivery_pending_idx", condition=models.Q(status="pending")
            ),
            # The beat's question: which endpoints have a delivery due.
            models.Index(
                fields=["next_attempt_at"], name="webhook_delivery_due_idx", condition=models.Q(status="pending")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} -> {self.endpoint_id} ({self.status})"


class WebhookAttempt(models.Model):
    """One HTTP request of a delivery and how the endpoint answered."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    attempted_at = models.DateTimeField(default=timezone.now)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=255, blank=True, help_text="Why it failed when there was no answer")
    response_excerpt = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.attempted_at:%Y-%m-%d %H:%M:%S} {self.response_status or self.error}"

    @property
    def succeeded(self) -> bool:
        return self.response_status is not None and 200 <= self.response_status < 300
