"""Settings for the webhook benchmark's gunicorn: the real ones, with a URLconf that adds a trivial view."""

from smscampaigns.settings import *  # noqa: F403

ROOT_URLCONF = "bench.webhook_urls"
