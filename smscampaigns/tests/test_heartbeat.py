"""/healthz says whether a Celery worker and beat were seen within HEARTBEAT_MAX_AGE_SECONDS."""

import time

import pytest
from django.core.cache import cache

from sends.tests.conftest import wait_for, workers  # noqa: F401 (fixture)
from smscampaigns.heartbeat import KEYS

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_heartbeats():
    cache.delete_many(list(KEYS.values()))
    yield
    cache.delete_many(list(KEYS.values()))


def test_never_seen_is_said_and_the_web_stays_healthy(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["heartbeats"] == {
        "worker": {"seen": False, "age_seconds": None},
        "beat": {"seen": False, "age_seconds": None},
    }


def test_a_beat_silent_for_over_a_minute_is_not_seen(client, settings):
    cache.set(KEYS["worker"], time.time() - 5)
    cache.set(KEYS["beat"], time.time() - settings.HEARTBEAT_MAX_AGE_SECONDS - 5)
    beats = client.get("/healthz").json()["heartbeats"]
    assert beats["worker"]["seen"] is True
    assert beats["beat"]["seen"] is False
    assert beats["beat"]["age_seconds"] > settings.HEARTBEAT_MAX_AGE_SECONDS


@pytest.mark.django_db(transaction=True)
def test_a_running_worker_and_beat_are_seen(client, workers):  # noqa: F811
    workers.start("w1", HEARTBEAT_SECONDS="0.5")
    wait_for(
        lambda: all(b["seen"] for b in client.get("/healthz").json()["heartbeats"].values()),
        timeout=60,
        message=lambda: f"heartbeats; /healthz says {client.get('/healthz').json()}",
        workers=workers,
    )
