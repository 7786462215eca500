"""Writes each message as one JSON line to SMS_FILE_PATH instead of sending it (like Django's file-based
e-mail backend): a record every process can append to and anyone can read, for development and for
tests in which a separate worker process does the sending."""

import fcntl
import json
import os
import time
import uuid
from pathlib import Path

from django.conf import settings

from sends.backends.base import BaseSmsBackend, OutboundMessage, SendResult


class SmsBackend(BaseSmsBackend):
    max_destinations_per_request = 1000
    thread_safe = True  # each request opens the file and writes its line under a lock

    def __init__(self, *, file_path: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.path = Path(file_path or settings.SMS_FILE_PATH)

    def send_message(self, message: OutboundMessage) -> list[SendResult]:
        results = [SendResult(destination=d, message_uuid=str(uuid.uuid4())) for d in message.destinations]
        line = json.dumps(
            {
                "at": time.time(),
                "pid": os.getpid(),
                "sender": message.sender,
                "powerpack_uuid": message.powerpack_uuid,
                "body": message.body,
                "messages": {r.destination: r.message_uuid for r in results},
            }
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            fcntl.flock(out, fcntl.LOCK_EX)  # one whole line per request, whatever its length
            out.write(line + "\n")
        return results

    def fetch_message_status(self, message_uuid: str) -> str | None:
        if not self.path.is_file():
            return None
        with self.path.open(encoding="utf-8") as lines:
            for line in lines:
                if message_uuid in json.loads(line)["messages"].values():
                    return "sent"
        return None


def read_requests(path: str | os.PathLike) -> list[dict]:
    """Every request written so far, in order."""
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
