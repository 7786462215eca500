"""GET /metrics: Prometheus' format, behind a token or a network, read from counters and rollups."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from campaigns.models import Campaign
from campaigns.tests.factories import CampaignFactory
from contacts.models import ContactImport
from insights.services import daily_campaign_stats_add
from integrations.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from sends.models import DeliveryReport
from sends.tests.factories import sent_send

pytestmark = pytest.mark.django_db
TOKEN = "metrics-token-for-tests"


def samples(response) -> dict:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def test_without_a_token_or_network_there_is_no_metrics_endpoint(client):
    assert client.get("/metrics").status_code == 404


def test_a_wrong_or_missing_token_is_refused(client, settings):
    settings.METRICS_TOKEN = TOKEN
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope").status_code == 403


def test_an_allowed_network_needs_no_token_and_another_is_refused(client, settings):
    settings.METRICS_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    assert client.get("/metrics").status_code == 200
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    assert client.get("/metrics").status_code == 403


def test_the_figures_come_from_counters_rollups_reports_webhooks_and_imports(client, settings):
    settings.METRICS_TOKEN = TOKEN
    campaign = CampaignFactory(status=Campaign.Status.SENDING, queued_count=7, delivered_count=3, failed_count=1)
    daily_campaign_stats_add(campaign_id=campaign.pk, deltas={"sent_count": 10, "delivered_count": 3}, cost=Decimal(1))
    send = sent_send()
    send.sent_at = timezone.now() - timedelta(seconds=30)
    send.save(update_fields=["sent_at"])
    DeliveryReport.objects.create(message_uuid="u-1", send=send, status="delivered", received_at=timezone.now())
    endpoint = WebhookEndpoint.objects.create(url="https://hooks.example.com/", events=["send.delivered"])
    event = WebhookEvent.objects.create(
        type="send.delivered", order_key="send:1", payload={}, occurred_at=timezone.now()
    )
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event=event, order_key="send:1")
    WebhookAttempt.objects.create(delivery=delivery, response_status=500)
    WebhookAttempt.objects.create(delivery=delivery, response_status=204)
    ContactImport.objects.create(
        source_name="a.csv", default_region="US", status=ContactImport.Status.RUNNING, bytes_total=200, bytes_done=50
    )
    figures = samples(client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", HTTP_HOST="10.1.2.3:8000"))
    assert figures[("smscampaigns_sends", (("status", "queued"),))] == 7
    assert figures[("smscampaigns_sends", (("status", "delivered"),))] == 3
    assert figures[("smscampaigns_messages_total", (("outcome", "sent"),))] == 10
    assert figures[("smscampaigns_queue_length", (("queue", "sends"),))] == 7
    assert 29 <= figures[("smscampaigns_delivery_report_lag_seconds", (("quantile", "1"),))] <= 60
    assert figures[("smscampaigns_webhook_deliveries", (("status", "pending"),))] == 1
    assert figures[("smscampaigns_webhook_attempts_total", (("outcome", "failure"),))] == 1
    assert figures[("smscampaigns_webhook_attempts_total", (("outcome", "success"),))] == 1
    [(_key, ratio)] = [(k, v) for k, v in figures.items() if k[0] == "smscampaigns_import_progress_ratio"]
    assert ratio == 0.25
