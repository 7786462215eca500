"""Where Plivo calls us back. The paths are public: operators paste them into Plivo's console."""

from django.conf import settings

STATUS_WEBHOOK_PATH = "/webhooks/plivo/status/"
INBOUND_WEBHOOK_PATH = "/webhooks/plivo/inbound/"


def status_callback_url() -> str:
    """The absolute URL Plivo posts delivery reports to, as the world reaches this site."""
    return f"{settings.PUBLIC_BASE_URL}{STATUS_WEBHOOK_PATH}"
