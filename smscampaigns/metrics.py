"""GET /metrics in Prometheus' text format, read at scrape time from the counters and rollups the product keeps
(never by counting sends), so that every web process answers the same and no multiprocess set-up is needed.
Part of the configuration, beside /healthz: it reads every app.

Served only to a request with `Authorization: Bearer <METRICS_TOKEN>` or from an address in
METRICS_ALLOWED_NETWORKS; with neither setting, /metrics does not exist (404).
"""

import hmac
import ipaddress
import statistics

import redis
import structlog
from django.conf import settings
from django.db.models import Count, Sum
from django.http import HttpResponse, HttpResponseNotFound
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from campaigns.models import Campaign
from contacts.models import ContactImport
from insights.models import DailyCampaignStats
from integrations.models import WebhookAttempt, WebhookDelivery
from sends.models import DeliveryReport
from smscampaigns.client_address import client_address

log = structlog.get_logger(__name__)

SEND_COUNTERS = {
    "queued": "queued_count",
    "sent": "sent_count",
    "delivered": "delivered_count",
    "undelivered": "undelivered_count",
    "failed": "failed_count",
    "skipped": "skipped_count",
    "unknown": "unknown_count",
}
RECENT_REPORTS = 200
CELERY_QUEUE = "celery"


class ProductCollector:
    def collect(self):
        yield from self._sends()
        yield from self._queue()
        yield from self._report_lag()
        yield from self._webhooks()
        yield from self._imports()

    def _sends(self):
        sums = Campaign.objects.aggregate(**{status: Sum(field) for status, field in SEND_COUNTERS.items()})
        by_status = GaugeMetricFamily(
            "smscampaigns_sends", "Sends by current status (all campaigns)", labels=["status"]
        )
        for status, value in sums.items():
            by_status.add_metric([status], value or 0)
        yield by_status
        totals = DailyCampaignStats.objects.aggregate(
            sent=Sum("sent"), delivered=Sum("delivered"), failed=Sum("failed")
        )
        outcomes = CounterMetricFamily(
            "smscampaigns_messages",
            "Messages by what happened to them; rate() of sent is the dispatch rate",
            labels=["outcome"],
        )
        for outcome, value in totals.items():
            outcomes.add_metric([outcome], value or 0)
        yield outcomes

    def _queue(self):
        depth = GaugeMetricFamily(
            "smscampaigns_queue_length", "Tasks waiting in the broker, and sends waiting to go out", labels=["queue"]
        )
        depth.add_metric(["sends"], Campaign.objects.aggregate(n=Sum("queued_count"))["n"] or 0)
        if settings.REDIS_URL:
            client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
            try:
                depth.add_metric(["celery"], client.llen(CELERY_QUEUE))
            except redis.RedisError as exc:
                log.warning("metrics_queue_unreadable", error=exc.__class__.__name__)
            finally:
                client.close()
        yield depth

    def _report_lag(self):
        lags = [
            (received - sent).total_seconds()
            for received, sent in DeliveryReport.objects.filter(send__sent_at__isnull=False)
            .order_by("-id")
            .values_list("received_at", "send__sent_at")[:RECENT_REPORTS]
        ]
        lag = GaugeMetricFamily(
            "smscampaigns_delivery_report_lag_seconds",
            f"From hand-over to Plivo to the delivery report, over the last {RECENT_REPORTS} reports",
            labels=["quantile"],
        )
        if lags:
            lag.add_metric(["0.5"], statistics.median(lags))
            lag.add_metric(["1"], max(lags))
        yield lag

    def _webhooks(self):
        deliveries = GaugeMetricFamily(
            "smscampaigns_webhook_deliveries", "Event webhook deliveries by status", labels=["status"]
        )
        for row in WebhookDelivery.objects.values("status").annotate(n=Count("id")).order_by():
            deliveries.add_metric([row["status"]], row["n"])
        yield deliveries
        attempts = CounterMetricFamily(
            "smscampaigns_webhook_attempts", "Event webhook requests by outcome", labels=["outcome"]
        )
        answered = WebhookAttempt.objects.filter(response_status__gte=200, response_status__lt=300).count()
        attempts.add_metric(["success"], answered)
        attempts.add_metric(["failure"], WebhookAttempt.objects.count() - answered)
        yield attempts

    def _imports(self):
        running = ContactImport.objects.filter(status=ContactImport.Status.RUNNING)
        progress = GaugeMetricFamily(
            "smscampaigns_import_progress_ratio",
            "Share of each running contact import's file read",
            labels=["import_id"],
        )
        rows = GaugeMetricFamily(
            "smscampaigns_import_rows_read", "Rows read by each running import", labels=["import_id"]
        )
        for pk, done, total, read in running.values_list("pk", "bytes_done", "bytes_total", "rows_read"):
            progress.add_metric([str(pk)], done / total if total else 0.0)
            rows.add_metric([str(pk)], read)
        yield progress
        yield rows


def _allowed(request) -> bool:
    token = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    if settings.METRICS_ALLOWED_NETWORKS:
        try:
            address = ipaddress.ip_address(client_address(request))
        except ValueError:
            return False
        return any(address in ipaddress.ip_network(net, strict=False) for net in settings.METRICS_ALLOWED_NETWORKS)
    return False


def metrics_view(request):
    if not (settings.METRICS_TOKEN or settings.METRICS_ALLOWED_NETWORKS):
        return HttpResponseNotFound("Not found.\n")
    if not _allowed(request):
        return HttpResponse("Forbidden: a metrics token or an allowed network is required.\n", status=403)
    registry = CollectorRegistry()
    registry.register(ProductCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
