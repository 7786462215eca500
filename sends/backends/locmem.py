"""An in-memory backend for tests: every message lands in `outbox`, which an autouse fixture empties."""

import uuid

from sends.backends.base import BaseSmsBackend, OutboundMessage, SendResult

outbox: list[OutboundMessage] = []
_statuses: dict[str, str] = {}


class SmsBackend(BaseSmsBackend):
    max_destinations_per_request = 1000

    def send_message(self, message: OutboundMessage) -> list[SendResult]:
        outbox.append(message)
        results = []
        for destination in message.destinations:
            message_uuid = str(uuid.uuid4())
            _statuses[message_uuid] = "queued"
            results.append(SendResult(destination=destination, message_uuid=message_uuid))
        return results

    def fetch_message_status(self, message_uuid: str) -> str | None:
        return _statuses.get(message_uuid)


def reset() -> None:
    outbox.clear()
    _statuses.clear()
