"""GET /healthz: is this process able to serve? 200 when every configured dependency answers, else 503.

Served by a middleware placed before every other, not by a URL: probes (the container's health check, a load
balancer) call the process by its own address, a Host that ALLOWED_HOSTS rightly refuses, and over plain HTTP,
which SECURE_SSL_REDIRECT would answer with a redirect.
"""

import structlog
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from smscampaigns.heartbeat import heartbeats

log = structlog.get_logger(__name__)


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_broker() -> None:
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    finally:
        client.close()


@never_cache
@require_GET
def healthz(request):
    checks = {"database": _check_database}
    if settings.REDIS_URL:
        checks["broker"] = _check_broker
    results = {}
    for name, check in checks.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:
            log.warning("health_check_failed", check=name, error=exc.__class__.__name__)
            results[name] = f"error: {exc.__class__.__name__}"
    healthy = all(value == "ok" for value in results.values())
    # Said, not judged: this process serves whatever the worker does; a monitor alerts on "seen": false.
    body = {"status": "ok" if healthy else "error", "checks": results, "heartbeats": heartbeats()}
    return JsonResponse(body, status=200 if healthy else 503)


class HealthCheckMiddleware:
    """Answer /healthz (and /metrics, for the same probes, with its own access check) before host validation
    and the HTTPS redirect; everything else passes through."""

    path = "/healthz"
    metrics_path = "/metrics"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path == self.path:
            return healthz(request)
        if request.path == self.metrics_path:
            from smscampaigns.metrics import metrics_view

            return metrics_view(request)
        return self.get_response(request)
