"""A stand-in for the provider in in-process engine tests: the locmem outbox, plus errors on cue.

`script` holds, per destination number, the errors the provider gives that number on its next requests
(one entry consumed per request); numbers not in it are accepted. ANSWER_LOST plays a provider that took
the message but whose answer never came back (the request timed out on its way back). The engine is the code under test;
this only plays Plivo's part, where a real HTTP round-trip is beside the point.
"""

import uuid
from collections import defaultdict, deque

from django.utils import timezone

from sends.backends import locmem
from sends.backends.base import ErrorClass, OutboundMessage, ProviderMessage, SendError, SendResult

script: dict[str, deque[SendError]] = defaultdict(deque)

TRANSIENT = SendError(ErrorClass.TRANSIENT, "http_503", "provider unavailable")
PERMANENT = SendError(ErrorClass.PERMANENT, "invalid_number", "the number cannot receive SMS")
CREDIT = SendError(ErrorClass.ACCOUNT, "insufficient_credit", "the account is out of credit")
TIMEOUT = SendError(ErrorClass.TRANSIENT, "timeout", "Plivo did not answer in time")
ANSWER_LOST = SendError(ErrorClass.TRANSIENT, "timeout", "Plivo did not answer in time (it took the message)")


class SmsBackend(locmem.SmsBackend):
    def send_message(self, message: OutboundMessage) -> list[SendResult]:
        # An account error refuses the whole request, as the provider does.
        for destination in message.destinations:
            errors = script.get(destination)
            if errors and errors[0].error_class is ErrorClass.ACCOUNT:
                error = errors.popleft()
                return [SendResult(destination=d, error=error) for d in message.destinations]
        results = []
        accepted = []
        for destination in message.destinations:
            errors = script.get(destination)
            error = errors.popleft() if errors else None
            message_uuid = None
            if error is None or error is ANSWER_LOST:
                message_uuid = str(uuid.uuid4())
                locmem._statuses[message_uuid] = "queued"
                locmem.accepted.append(ProviderMessage(message_uuid, destination.lstrip("+"), "queued", timezone.now()))
                accepted.append(destination)
            answered = message_uuid if error is None else None  # ANSWER_LOST: taken, but no answer came back
            results.append(SendResult(destination=destination, message_uuid=answered, error=error))
        if accepted:
            locmem.outbox.append(
                OutboundMessage(
                    sender=message.sender,
                    destinations=accepted,
                    body=message.body,
                    status_callback_url=message.status_callback_url,
                )
            )
        return results


def reset() -> None:
    script.clear()


class EarlyCallbackSmsBackend(SmsBackend):
    """A provider so fast that its delivery report arrives before send_message has even returned, so before
    the dispatcher has committed the message uuid (Plivo and the simulator can both do this)."""

    def send_message(self, message: OutboundMessage) -> list[SendResult]:
        from sends.services.delivery_reports import delivery_report_record

        results = super().send_message(message)
        for result in results:
            if result.ok:
                payload = {
                    "MessageUUID": result.message_uuid,
                    "Status": "delivered",
                    "To": result.destination.lstrip("+"),
                    "From": message.sender.lstrip("+"),
                    "Units": "1",
                    "TotalAmount": "0.00550",
                }
                delivery_report_record(payload=payload)
        return results
