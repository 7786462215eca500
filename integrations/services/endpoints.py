"""Staff's writes on event webhook endpoints and deliveries: register, change, enable again, replay."""

from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from integrations.models import WebhookDelivery, WebhookEndpoint
from integrations.services.outbox import webhook_endpoints_kick
from smscampaigns import domain_events
from smscampaigns.errors import ApplicationError


def _endpoint_check(*, url: str, events: list[str]) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApplicationError("the URL must be an http:// or https:// address", field="url")
    unknown = sorted(set(events) - set(domain_events.EVENT_TYPES))
    if unknown:
        raise ApplicationError(f"unknown event types: {', '.join(unknown)}", field="events")
    if not events:
        raise ApplicationError("choose at least one event type", field="events")


@transaction.atomic
def webhook_endpoint_save(*, endpoint: WebhookEndpoint, actor) -> WebhookEndpoint:
    """Create or change an endpoint (URL, description, secret, events, active), audited."""
    events = [name for name in domain_events.EVENT_TYPES if name in set(endpoint.events or [])]
    _endpoint_check(url=endpoint.url, events=events)
    endpoint.events = events
    created = endpoint.pk is None
    if endpoint.is_active:
        endpoint.disabled_at, endpoint.disabled_reason = None, ""
    endpoint.save()
    audit_record(
        actor=actor,
        action="webhook_endpoint.created" if created else "webhook_endpoint.changed",
        target=endpoint,
        data={"url": endpoint.url, "events": events, "active": endpoint.is_active},
    )
    return endpoint


@transaction.atomic
def webhook_endpoints_enable(*, endpoints: list[WebhookEndpoint], actor) -> int:
    """Enable endpoints again: their waiting deliveries go out now, and their day of failures starts anew."""
    ids = [e.pk for e in endpoints if not e.is_active]
    WebhookEndpoint.objects.filter(pk__in=ids).update(
        is_active=True, failing_since=None, disabled_at=None, disabled_reason="", lease_until=None
    )
    WebhookDelivery.objects.filter(endpoint_id__in=ids, status=WebhookDelivery.Status.PENDING).update(
        next_attempt_at=timezone.now()
    )
    for endpoint in endpoints:
        if endpoint.pk in ids:
            audit_record(actor=actor, action="webhook_endpoint.enabled", target=endpoint)
    transaction.on_commit(lambda: webhook_endpoints_kick(endpoint_ids=ids))
    return len(ids)


@transaction.atomic
def webhook_deliveries_replay(*, deliveries: list[WebhookDelivery], actor) -> int:
    """Send these events again to their endpoints, as new deliveries (the old ones and their attempts stay)."""
    replays = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(endpoint_id=d.endpoint_id, event_id=d.event_id, order_key=d.order_key, replay_of=d)
            for d in deliveries
        ]
    )
    for replay in replays:
        audit_record(actor=actor, action="webhook_delivery.replayed", target=replay, data={"of": replay.replay_of_id})
    endpoint_ids = sorted({d.endpoint_id for d in replays})
    transaction.on_commit(lambda: webhook_endpoints_kick(endpoint_ids=endpoint_ids))
    return len(replays)


@transaction.atomic
def webhook_endpoint_delete(*, endpoint: WebhookEndpoint, actor) -> None:
    """Remove an endpoint with its deliveries and their attempts (the audit trail keeps that it existed)."""
    audit_record(actor=actor, action="webhook_endpoint.deleted", target=endpoint, data={"url": endpoint.url})
    endpoint.delete()
