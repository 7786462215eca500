"""How event webhooks are signed: HMAC-SHA256 with the endpoint's secret over "<timestamp>.<body>".

Integrators verify with the snippet in the README (which `signature_verify` mirrors, and the tests run): the
timestamp is signed too, so that a captured request cannot be replayed later than the receiver tolerates.
"""

import hashlib
import hmac
import time

EVENT_ID_HEADER = "X-SMSCampaigns-Event-Id"
EVENT_TYPE_HEADER = "X-SMSCampaigns-Event-Type"
TIMESTAMP_HEADER = "X-SMSCampaigns-Timestamp"
SIGNATURE_HEADER = "X-SMSCampaigns-Signature"
SIGNATURE_VERSION = "v1"


def signature_compute(*, secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of "<timestamp>.<body>" with the secret."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_headers(*, secret: str, body: bytes, event_id: str, event_type: str, timestamp: int | None = None):
    """The headers of one signed request."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": "application/json",
        EVENT_ID_HEADER: event_id,
        EVENT_TYPE_HEADER: event_type,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: f"{SIGNATURE_VERSION}={signature_compute(secret=secret, timestamp=timestamp, body=body)}",
    }


def signature_verify(*, secret: str, body: bytes, timestamp: str, signature: str, tolerance: int = 300) -> bool:
    """What a receiver checks: a fresh timestamp and a matching v1 signature (several may be listed, comma
    separated, while a secret is rotated)."""
    try:
        sent_at = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(time.time() - sent_at) > tolerance:
        return False
    expected = signature_compute(secret=secret, timestamp=sent_at, body=body)
    return any(
        hmac.compare_digest(value.strip().removeprefix(f"{SIGNATURE_VERSION}="), expected)
        for value in signature.split(",")
        if value.strip().startswith(f"{SIGNATURE_VERSION}=")
    )
