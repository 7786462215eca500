"""Celery tasks of event webhooks: ids in, one service call."""

from celery import shared_task

from integrations.services import delivery


@shared_task(acks_late=True)
def webhook_endpoint_deliver(endpoint_id: int) -> int:
    return delivery.webhook_endpoint_deliver(endpoint_id=endpoint_id)


@shared_task(acks_late=True)
def webhook_deliveries_sweep() -> list[int]:
    """The beat's round: a delivery task for every endpoint with something due (retries, lost kicks)."""
    endpoint_ids = delivery.webhook_endpoints_due()
    for endpoint_id in endpoint_ids:
        webhook_endpoint_deliver.delay(endpoint_id)
    return endpoint_ids
