"""Plivo's webhooks on their own path (sends.middleware.PlivoWebhookMiddleware): answered before the staff's
middleware, with the same answers and the headers the ordinary path gives."""

import uuid
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test import Client

from sends.models import DeliveryReport
from sends.tests.plivo_callbacks import plivo_signing, signed_headers, status_payload  # noqa: F401 (fixture)
from sends.webhook_paths import STATUS_WEBHOOK_PATH

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plivo_signing")]


def post_report(client: Client, message_uuid: str, **extra):
    params = status_payload(message_uuid=message_uuid, status="delivered", to="+14155550123")
    headers = signed_headers(url="http://testserver" + STATUS_WEBHOOK_PATH, params=params)
    return client.generic(
        "POST",
        STATUS_WEBHOOK_PATH,
        urlencode(params),
        content_type="application/x-www-form-urlencoded",
        headers=headers,
        **extra,
    )


def test_a_report_skips_the_staff_middleware_and_gets_the_site_headers():
    response = post_report(Client(), "fast-1")
    assert (response.status_code, response.json()) == (200, {"result": "accepted"})
    request = response.wsgi_request
    assert not hasattr(request, "session") and not hasattr(request, "user")
    assert "Content-Security-Policy" in response.headers and response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"  # SecurityMiddleware, which still runs
    assert response["Content-Length"] == str(len(response.content))
    assert DeliveryReport.objects.filter(message_uuid="fast-1", pending=True).exists()


def test_other_methods_and_hosts_are_answered_as_anywhere_else():
    assert Client().put(STATUS_WEBHOOK_PATH).status_code == 405
    assert post_report(Client(), "fast-2", HTTP_HOST="evil.example").status_code == 400
    assert not DeliveryReport.objects.filter(message_uuid="fast-2").exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a database server that goes away")
@pytest.mark.django_db(transaction=True)
def test_a_dead_database_connection_is_replaced_without_a_probe_per_request():
    client = Client()
    assert post_report(client, str(uuid.uuid4())).status_code == 200
    if connection.connection is not None:
        connection.connection.close()  # the server went away between two requests
    message_uuid = str(uuid.uuid4())
    assert post_report(client, message_uuid).status_code == 200
    assert DeliveryReport.objects.filter(message_uuid=message_uuid).count() == 1
