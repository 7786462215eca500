"""Event webhooks through a real Celery worker and its beat: the event is stored with its cause, and the
worker delivers it after the commit without anyone asking, signed, to a real HTTP receiver."""

import pytest

from integrations.models import WebhookDelivery, WebhookEndpoint
from sends.services.delivery_reports import delivery_report_record
from sends.tests.conftest import wait_for
from sends.tests.factories import sent_send
from sends.tests.plivo_callbacks import status_payload

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_worker_delivers_events_after_the_commit_and_retries_a_failure(workers, receiver):
    endpoint = WebhookEndpoint.objects.create(url=receiver.url, events=["send.delivered", "send.failed"])
    receiver.secret = endpoint.secret
    receiver.statuses = [503]
    workers.start("w1", WEBHOOK_RETRY_BASE_SECONDS="1", WEBHOOK_SWEEP_SECONDS="0.5")
    sends = [sent_send() for _ in range(3)]
    for send, status in zip(sends, ["delivered", "undelivered", "delivered"], strict=True):
        delivery_report_record(
            payload=status_payload(message_uuid=send.provider_message_uuid, status=status, to=send.to_number)
        )
    wait_for(
        lambda: WebhookDelivery.objects.filter(status=WebhookDelivery.Status.DELIVERED).count() == 3,
        timeout=60,
        message=lambda: (
            f"three deliveries; receiver saw {[(r['body']['type'], r['answered']) for r in receiver.requests]}"
        ),
        workers=workers,
    )
    assert all(request["signed"] for request in receiver.requests)
    delivered = {r["body"]["object"]["id"]: r["body"]["type"] for r in receiver.requests if r["answered"] == 200}
    assert delivered == {sends[0].pk: "send.delivered", sends[1].pk: "send.failed", sends[2].pk: "send.delivered"}
    assert [r["answered"] for r in receiver.requests].count(503) == 1
