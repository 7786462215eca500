"""An in-memory backend for tests: every message lands in `outbox`, which an autouse fixture empties."""

import uuid
from datetime import datetime

from django.utils import timezone

from sends.backends.base import BaseSmsBackend, OutboundMessage, ProviderMessage, SendResult

outbox: list[OutboundMessage] = []
_statuses: dict[str, str] = {}
# What a provider's message list would show, for reconciliation tests.
accepted: list[ProviderMessage] = []


def _digits(number: str) -> str:
    return number.lstrip("+")


class SmsBackend(BaseSmsBackend):
    max_destinations_per_request = 1000
    thread_safe = True  # appending to a list is atomic

    def send_message(self, message: OutboundMessage) -> list[SendResult]:
        outbox.append(message)
        results = []
        now = timezone.now()
        for destination in message.destinations:
            message_uuid = str(uuid.uuid4())
            _statuses[message_uuid] = "queued"
            accepted.append(ProviderMessage(message_uuid, _digits(destination), "queued", now))
            results.append(SendResult(destination=destination, message_uuid=message_uuid))
        return results

    def fetch_message_status(self, message_uuid: str) -> str | None:
        return _statuses.get(message_uuid)

    def find_messages(self, *, to_number: str, since: datetime, until: datetime) -> list[ProviderMessage]:
        key = _digits(to_number)
        return [m for m in accepted if m.to_number == key and since <= m.time <= until]


def reset() -> None:
    outbox.clear()
    _statuses.clear()
    accepted.clear()
