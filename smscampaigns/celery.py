"""The Celery app: configured from Django settings (CELERY_*), tasks discovered in each app's tasks.py."""

import os
import sys
from pathlib import Path

from celery import Celery
from celery.signals import before_task_publish, setup_logging
from django.core.exceptions import ImproperlyConfigured

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smscampaigns.settings")

app = Celery("smscampaigns")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

try:
    broker_url = str(app.conf.broker_url)
except ImproperlyConfigured as exc:
    if Path(sys.argv[0]).name == "celery" or sys.argv[0].endswith(f"celery{os.sep}__main__.py"):
        # Worker and beat start here: one line that names the setting, as manage.py and gunicorn print it.
        sys.exit(f"Configuration error: {exc}")
    raise

if broker_url.startswith("filesystem://"):
    # The embedded broker is a folder; kombu expects it to exist before the first message.
    for key in ("data_folder_in", "data_folder_out", "processed_folder"):
        Path(app.conf.broker_transport_options[key]).mkdir(parents=True, exist_ok=True)


@setup_logging.connect
def use_the_project_logging(**kwargs) -> None:
    """Workers and beat log like the web: JSON lines through smscampaigns.logging, secrets redacted.

    Without this Celery replaces the root logger's handlers with its own plain format, which skips the redaction.
    The level is LOG_LEVEL, as for the web; the worker's --loglevel option no longer applies.
    """
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@before_task_publish.connect
def note_beat_heartbeat(sender=None, **kwargs) -> None:
    """Beat publishing the heartbeat task is beat's own heartbeat (smscampaigns/heartbeat.py). Only beat
    publishes it, so a worker's or the web's other tasks never count as beat being alive."""
    from smscampaigns.heartbeat import HEARTBEAT_TASK, heartbeat_note

    if sender == HEARTBEAT_TASK:
        heartbeat_note("beat")
