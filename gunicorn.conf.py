"""gunicorn settings for the production web service (docker-compose `web`)."""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
threads = int(os.environ.get("WEB_THREADS", "4"))
worker_class = "gthread"
# Plivo gives up on a webhook after 8 s; a request should never come close.
timeout = 30
graceful_timeout = 30
keepalive = 5
max_requests = 2000
max_requests_jitter = 200
accesslog = "-"
# The path without its query string, and no referrer: a query can hold a phone number (the admin's ?q=, the
# API's ?search=), and access logs are shipped as they are. Client address, time, request, status, size,
# duration in seconds, user agent.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(L)s "%(a)s"'
errorlog = "-"
# No gunicornc control socket: nothing here uses it, and by default it lives at one path per user
# ($HOME/.gunicorn/gunicorn.ctl) that a second gunicorn on the host takes over (unlinks and re-creates).
control_socket_disable = True
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def on_starting(server):
    """Refuse to start on missing or malformed settings with the one line that names the setting.

    Checked once in the master, before any worker is forked: a worker that fails to load the settings would
    only log a traceback per boot attempt.
    """
    import sys

    from django.core.exceptions import ImproperlyConfigured

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smscampaigns.settings")
    try:
        from django.conf import settings

        settings.SECRET_KEY  # noqa: B018 - reading one setting loads (and checks) them all
    except ImproperlyConfigured as exc:
        sys.exit(f"Configuration error: {exc}")
