import pytest

pytestmark = pytest.mark.django_db


def test_healthz_reports_each_configured_check(client, settings):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"
    assert ("broker" in body["checks"]) == bool(settings.REDIS_URL)


def test_healthz_is_503_when_the_broker_is_unreachable(client, settings):
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"].startswith("error")
    assert response.json()["checks"]["database"] == "ok"


def test_healthz_is_503_when_the_database_is_unreachable(client, settings, monkeypatch):
    from django.db import OperationalError, connection

    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", refuse)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "error: OperationalError"


def test_healthz_answers_probes_by_any_host_and_over_plain_http(client, settings):
    # A container health check or load balancer calls the server by its address, without TLS.
    settings.ALLOWED_HOSTS = ["sms.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz", HTTP_HOST="10.0.3.7:8000").status_code == 200
    assert client.get("/admin/login/", HTTP_HOST="10.0.3.7:8000").status_code == 400  # the rest stays guarded
    assert client.get("/admin/login/", HTTP_HOST="sms.example.com").status_code == 301  # to https
