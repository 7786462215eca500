"""Run the Plivo simulator in the foreground: `python manage.py plivo_simulator [--port 8999] [--app-url URL]`."""

import contextlib

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from sends.simulator import PlivoSimulator
from sends.simulator.state import is_valid_account_id


class Command(BaseCommand):
    help = "Serve a Plivo look-alike that the plivo SDK (and so the plivo SMS backend) can talk to offline."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=settings.SIMULATOR_PORT, help="default: SIMULATOR_PORT")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument(
            "--app-url",
            default=settings.PUBLIC_BASE_URL,
            help="where inbound-message webhooks go (default: PUBLIC_BASE_URL)",
        )

    def handle(self, *args, port, host, app_url, **options):
        auth_id, auth_token = settings.PLIVO_AUTH_ID, settings.PLIVO_AUTH_TOKEN
        if not is_valid_account_id(auth_id) or not auth_token:
            raise CommandError(
                f"PLIVO_AUTH_ID must be a Plivo auth id (20 characters: MA or SA then 18 capital letters or digits) "
                f"and PLIVO_AUTH_TOKEN must be set; got PLIVO_AUTH_ID={auth_id!r}"
            )
        if not app_url.startswith(("http://", "https://")):
            raise CommandError(f"--app-url must be an http(s) URL, got {app_url!r}")
        try:
            simulator = PlivoSimulator(auth_id=auth_id, auth_token=auth_token, app_url=app_url, host=host, port=port)
        except OSError as exc:
            raise CommandError(f"Cannot listen on {host}:{port}: {exc}") from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Plivo simulator on {simulator.url} (auth id {auth_id}); inbound texts go to {simulator.app_url}"
            )
        )
        with contextlib.suppress(KeyboardInterrupt):
            simulator.serve_forever()
