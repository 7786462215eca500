"""Delivering event webhooks: at least once, signed, with exponential backoff for up to a day, in order per
object; an endpoint that has failed for a day is disabled and staff are told."""

import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
import structlog
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import audit_record
from integrations.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from integrations.signing import signature_headers
from smscampaigns.roles import MANAGER

log = structlog.get_logger(__name__)
D = WebhookDelivery.Status

# An endpoint that fails this many requests in a row in one run is left alone until the next run.
CONSECUTIVE_FAILURES_PER_RUN = 5
RESPONSE_EXCERPT_BYTES = 500


def event_body(event: WebhookEvent) -> bytes:
    """The JSON body integrators receive: the event's id, type, time and the object it is about."""
    body = {
        "id": str(event.event_id),
        "type": event.type,
        "created_at": event.occurred_at.isoformat(),
        "object": event.payload,
    }
    return json.dumps(body, cls=DjangoJSONEncoder, separators=(",", ":")).encode()


def retry_delay(attempts: int) -> timedelta:
    """Exponential: WEBHOOK_RETRY_BASE_SECONDS doubled after each failed attempt, capped at the maximum."""
    seconds = settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, settings.WEBHOOK_RETRY_MAX_SECONDS))


@dataclass(frozen=True)
class AttemptResult:
    status: int | None
    error: str
    excerpt: str
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _post(*, endpoint: WebhookEndpoint, event: WebhookEvent) -> AttemptResult:
    body = event_body(event)
    headers = signature_headers(secret=endpoint.secret, body=body, event_id=str(event.event_id), event_type=event.type)
    started = time.monotonic()
    try:
        # No redirects: the signed request goes to the URL staff registered, nowhere else.
        with requests.post(
            endpoint.url,
            data=body,
            headers=headers,
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
            allow_redirects=False,
            stream=True,
        ) as response:
            excerpt = next(response.iter_content(RESPONSE_EXCERPT_BYTES), b"").decode(errors="replace")
            status, error = response.status_code, ""
    except requests.RequestException as exc:
        status, error, excerpt = None, f"{exc.__class__.__name__}: {exc}"[:255], ""
    return AttemptResult(
        status=status,
        error=error,
        excerpt=excerpt[:RESPONSE_EXCERPT_BYTES],
        duration_ms=int((time.monotonic() - started) * 1000),
    )


def webhook_delivery_attempt(*, delivery: WebhookDelivery, endpoint: WebhookEndpoint) -> bool:
    """Send one delivery now and record the attempt, the delivery's state and the endpoint's health."""
    result = _post(endpoint=endpoint, event=delivery.event)
    now = timezone.now()
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery,
            attempted_at=now,
            response_status=result.status,
            error=result.error,
            response_excerpt=result.excerpt,
            duration_ms=result.duration_ms,
        )
        delivery.attempts += 1
        delivery.last_attempt_at = now
        if result.succeeded:
            delivery.status = D.DELIVERED
            delivery.delivered_at = now
            WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=False).update(failing_since=None)
            endpoint.failing_since = None
        else:
            if now - delivery.created_at >= timedelta(seconds=settings.WEBHOOK_RETRY_FOR_SECONDS):
                delivery.status = D.FAILED
            else:
                delivery.next_attempt_at = now + retry_delay(delivery.attempts)
            _endpoint_failure_note(endpoint=endpoint, now=now, reason=result.error or f"HTTP {result.status}")
        delivery.save(update_fields=["attempts", "last_attempt_at", "status", "delivered_at", "next_attempt_at"])
    log.info(
        "webhook_attempt",
        endpoint_id=endpoint.pk,
        delivery_id=delivery.pk,
        event_type=delivery.event.type,
        status=result.status,
        error=result.error,
        outcome="delivered" if result.succeeded else delivery.status,
    )
    return result.succeeded


def _endpoint_failure_note(*, endpoint: WebhookEndpoint, now: datetime, reason: str) -> None:
    if endpoint.failing_since is None:
        WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(failing_since=now)
        endpoint.failing_since = now
    elif now - endpoint.failing_since >= timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER_SECONDS):
        webhook_endpoint_disable(
            endpoint=endpoint, reason=f"failing since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC; last: {reason}"
        )


def webhook_endpoint_disable(*, endpoint: WebhookEndpoint, reason: str) -> None:
    """Stop delivering to an endpoint (its pending deliveries wait for it to be enabled again) and tell staff:
    the audit trail, the admin's endpoint list, and an e-mail to the managers."""
    changed = WebhookEndpoint.objects.filter(pk=endpoint.pk, is_active=True).update(
        is_active=False, disabled_at=timezone.now(), disabled_reason=reason[:255]
    )
    endpoint.is_active = False
    if not changed:
        return
    audit_record(actor=None, action="webhook_endpoint.disabled", target=endpoint, data={"reason": reason[:255]})
    log.warning("webhook_endpoint_disabled", endpoint_id=endpoint.pk, reason=reason)
    recipients = list(
        get_user_model()
        .objects.filter(Q(is_superuser=True) | Q(groups__name=MANAGER), is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
        .distinct()
    )
    if recipients:
        transaction.on_commit(
            lambda: send_mail(
                subject=f"Event webhook endpoint disabled: {endpoint.url}"[:200],
                message=(
                    f"The endpoint {endpoint.url} has failed every delivery for a day and was disabled.\n"
                    f"Reason: {reason}\n\nIts undelivered events wait; enable it again in the admin once it answers."
                ),
                from_email=None,
                recipient_list=recipients,
                fail_silently=True,
            )
        )


def _lease_take(endpoint_id: int) -> bool:
    now = timezone.now()
    return bool(
        WebhookEndpoint.objects.filter(pk=endpoint_id, is_active=True)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=now + timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS))
    )


def _lease_release(endpoint_id: int) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint_id).update(lease_until=None)


def _deliver_batch(endpoint: WebhookEndpoint) -> tuple[int, bool]:
    """Attempt the endpoint's due deliveries, oldest first; a delivery waits while an earlier one for the same
    object is undelivered. Returns (attempts made, whether the run should go on)."""
    now = timezone.now()
    pending = (
        WebhookDelivery.objects.filter(endpoint=endpoint, status=D.PENDING)
        .select_related("event")
        .order_by("id")[: settings.WEBHOOK_BATCH_SIZE]
    )
    blocked: set[str] = set()
    attempted = failures_in_a_row = 0
    for delivery in pending:
        if delivery.order_key in blocked:
            continue
        if delivery.next_attempt_at > now:
            blocked.add(delivery.order_key)
            continue
        attempted += 1
        if webhook_delivery_attempt(delivery=delivery, endpoint=endpoint):
            failures_in_a_row = 0
            continue
        blocked.add(delivery.order_key)
        failures_in_a_row += 1
        if not endpoint.is_active or failures_in_a_row >= CONSECUTIVE_FAILURES_PER_RUN:
            return attempted, False
    return attempted, True


def webhook_endpoint_deliver(*, endpoint_id: int) -> int:
    """Deliver what is due to one endpoint (one worker at a time per endpoint); how many attempts were made."""
    if not _lease_take(endpoint_id):
        return 0
    total = 0
    deadline = time.monotonic() + settings.WEBHOOK_LEASE_SECONDS / 2
    try:
        while time.monotonic() < deadline:
            endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
            attempted, go_on = _deliver_batch(endpoint)
            total += attempted
            if not attempted or not go_on:
                break
    finally:
        _lease_release(endpoint_id)
    return total


def webhook_endpoints_due() -> list[int]:
    """Active endpoints with a delivery due now (the beat's sweep hands each to a worker)."""
    return list(
        WebhookDelivery.objects.filter(status=D.PENDING, next_attempt_at__lte=timezone.now(), endpoint__is_active=True)
        .values_list("endpoint_id", flat=True)
        .distinct()
        .order_by("endpoint_id")
    )
