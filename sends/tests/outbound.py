"""One message through the configured SMS backend, as dispatch hands it over: for the backend and simulator tests."""

from sends.backends import get_connection
from sends.backends.base import OutboundMessage

SENDER = "+14155550100"


def send(destinations, *, body="Hello", url=None, **backend_kwargs):
    """`backend_kwargs` override the backend's settings (auth_token, api_url, read_timeout, ...)."""
    with get_connection(**backend_kwargs) as backend:
        return backend.send_message(
            OutboundMessage(sender=SENDER, destinations=destinations, body=body, status_callback_url=url)
        )
