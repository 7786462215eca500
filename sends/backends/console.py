"""Prints each message instead of sending it: for a look at what would go out."""

import sys
import threading
import uuid

from sends.backends.base import BaseSmsBackend, OutboundMessage, SendResult


class SmsBackend(BaseSmsBackend):
    max_destinations_per_request = 1000
    thread_safe = True  # each request prints under the lock

    def __init__(self, *, stream=None, **kwargs):
        super().__init__(**kwargs)
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()

    def send_message(self, message: OutboundMessage) -> list[SendResult]:
        results = [SendResult(destination=d, message_uuid=str(uuid.uuid4())) for d in message.destinations]
        with self._lock:
            for result in results:
                self.stream.write(
                    f"SMS {result.message_uuid} from {message.sender} to {result.destination}\n{message.body}\n"
                    f"{'-' * 72}\n"
                )
            self.stream.flush()
        return results

    def fetch_message_status(self, message_uuid: str) -> str | None:
        return None  # nothing was sent, so no provider knows the message
