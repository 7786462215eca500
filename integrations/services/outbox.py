"""The outbox of event webhooks: domain events become WebhookEvent and WebhookDelivery rows in the transaction
of their cause; a worker is told after the commit. Nothing here talks to an endpoint."""

from collections.abc import Sequence

import structlog
from django.core.cache import cache
from django.db import transaction

from integrations.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from integrations.tasks import webhook_endpoint_deliver
from smscampaigns.domain_events import DomainEvent

log = structlog.get_logger(__name__)

# A worker is told about an endpoint at most this often; the beat's sweep catches anything in between.
KICK_INTERVAL_SECONDS = 1


def _active_endpoints() -> list[WebhookEndpoint]:
    return list(WebhookEndpoint.objects.filter(is_active=True).only("id", "events", "is_active"))


def webhook_events_record(*, events: Sequence[DomainEvent]) -> int:
    """Store the events that some active endpoint wants, with one delivery per such endpoint; how many
    deliveries. Called in the transaction of the events' cause, so they exist exactly if it commits."""
    endpoints = _active_endpoints()
    wanted = [(event, [e for e in endpoints if e.wants(event.type)]) for event in events]
    wanted = [(event, targets) for event, targets in wanted if targets]
    if not wanted:
        return 0
    rows = WebhookEvent.objects.bulk_create(
        [
            WebhookEvent(
                type=event.type, order_key=event.order_key[:64], payload=dict(event.data), occurred_at=event.occurred_at
            )
            for event, _ in wanted
        ]
    )
    deliveries = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(endpoint_id=endpoint.pk, event_id=row.pk, order_key=row.order_key)
            for row, (_, targets) in zip(rows, wanted, strict=True)
            for endpoint in targets
        ]
    )
    endpoint_ids = sorted({d.endpoint_id for d in deliveries})
    transaction.on_commit(lambda: webhook_endpoints_kick(endpoint_ids=endpoint_ids))
    return len(deliveries)


def webhook_endpoints_kick(*, endpoint_ids: list[int]) -> None:
    """Ask a worker to deliver to these endpoints (at most once a second each). Never raises: it runs after
    the commit of a send or a Plivo webhook, and the beat's sweep delivers whatever a lost kick left."""
    for endpoint_id in endpoint_ids:
        try:
            if cache.add(f"integrations:webhook-kick:{endpoint_id}", 1, timeout=KICK_INTERVAL_SECONDS):
                webhook_endpoint_deliver.delay(endpoint_id)
        except Exception as exc:  # the broker or cache is down: the sweep will do it
            log.warning("webhook_kick_failed", endpoint_id=endpoint_id, error=exc.__class__.__name__)


class WebhookOutbox:
    """The event sink (smscampaigns.domain_events) of event webhooks."""

    def wants(self, event_type: str) -> bool:
        return any(endpoint.wants(event_type) for endpoint in _active_endpoints())

    def receive(self, events: Sequence[DomainEvent]) -> None:
        webhook_events_record(events=events)


WEBHOOK_OUTBOX = WebhookOutbox()
