"""Heartbeats of the Celery worker and beat, for /healthz: beat schedules `smscampaigns.heartbeat` every
HEARTBEAT_SECONDS and notes when it sent it; a worker notes when it ran it. Both notes go to the cache that
every process shares (Redis, or the embedded file cache), so the web process can tell a stuck scheduler or no
worker at all from a quiet system."""

import time

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

HEARTBEAT_TASK = "smscampaigns.heartbeat.heartbeat"
KEYS = {"worker": "heartbeat:worker", "beat": "heartbeat:beat"}


def heartbeat_note(role: str) -> None:
    cache.set(KEYS[role], time.time(), timeout=24 * 3600)


@shared_task(name=HEARTBEAT_TASK, ignore_result=True)
def heartbeat() -> None:
    """Run by a worker: it is alive and takes tasks from the queue."""
    heartbeat_note("worker")


def heartbeats() -> dict[str, dict]:
    """Per role: seen within HEARTBEAT_MAX_AGE_SECONDS, and how long ago it was seen (None: never)."""
    now = time.time()
    result = {}
    for role, key in KEYS.items():
        try:
            seen_at = cache.get(key)
        except Exception as exc:  # the cache is down: the broker check says so already
            result[role] = {"seen": False, "age_seconds": None, "error": exc.__class__.__name__}
            continue
        age = None if seen_at is None else round(now - seen_at, 1)
        result[role] = {"seen": age is not None and age <= settings.HEARTBEAT_MAX_AGE_SECONDS, "age_seconds": age}
    return result
