"""What apps above sends hear of the webhooks: a text that came in, an automatic reply that went out, a
delivery report for a message that is no campaign send.

SMS_MESSAGE_LISTENERS names classes by dotted path (the two-way inbox is one); sends calls them and never
imports them, so the apps above it decide what to do with the messages without sends knowing them.
"""

from functools import lru_cache

from django.conf import settings
from django.utils.module_loading import import_string


class MessageListener:
    """Override what you need; each method runs inside the webhook's transaction unless it says otherwise."""

    def inbound_received(self, *, message) -> None:
        """A new inbound text (`sends.models.InboundMessage`) was recorded; not called for a retried callback."""

    def auto_reply_sent(self, *, message, body: str, result) -> None:
        """A confirmation or HELP text answered `message`: `result` is the backend's `SendResult`, or None when
        the backend raised. Runs after the webhook's transaction committed."""

    def delivery_report_unmatched(self, *, report) -> bool:
        """A status callback (`DeliveryReportData`, already stored) whose message is no campaign send, under
        that message uuid's lock (`delivery_report_lock`). True when the listener applied it."""
        return False


@lru_cache(maxsize=4)
def _listeners(paths: tuple[str, ...]) -> tuple[MessageListener, ...]:
    return tuple(import_string(path)() for path in paths)


def message_listeners() -> tuple[MessageListener, ...]:
    return _listeners(tuple(getattr(settings, "SMS_MESSAGE_LISTENERS", ())))
