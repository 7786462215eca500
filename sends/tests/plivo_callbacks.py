"""Plivo callbacks as Plivo sends them: its field names, numbers without '+', signed with the SDK's helpers."""

import base64
import hashlib
import hmac
import secrets
import uuid
from urllib.parse import urlencode

import pytest
from plivo.utils import validate_signature
from plivo.utils.signature_v3 import construct_get_url, construct_post_url, get_signature_v3

AUTH_TOKEN = "ZGQ2YjM0NTk4ZmY4NmRkNGIwNjI4ZTJiN2NiMTJl"  # the shape of a Plivo auth token, used only in tests
STATUS_PATH = "/webhooks/plivo/status/"
INBOUND_PATH = "/webhooks/plivo/inbound/"


def plivo_number(e164: str) -> str:
    return e164.lstrip("+")


def status_payload(
    *,
    message_uuid: str,
    status: str,
    to: str,
    sender: str = "+14155550100",
    error_code: str = "",
    units: int = 1,
    rate: str = "0.00550",
    sequence: int = 1,
) -> dict[str, str]:
    amount = f"{float(rate) * units:.5f}"
    return {
        "From": plivo_number(sender),
        "To": plivo_number(to),
        "MessageUUID": message_uuid,
        "ParentMessageUUID": message_uuid,
        "PartInfo": "1 of 1",
        "Status": status,
        "Type": "sms",
        "Units": str(units),
        "TotalRate": rate,
        "TotalAmount": amount,
        "MCC": "310",
        "MNC": "410",
        "ErrorCode": error_code,
        "Sequence": str(sequence),
        "MessageTime": "2026-11-23 10:00:00.000000",
        "QueuedTime": "2026-11-23 10:00:00.100000",
        "SentTime": "2026-11-23 10:00:01.000000" if status != "queued" else "",
        "DeliveryReportTime": "2026-11-23 10:00:04.000000" if status in ("delivered", "undelivered") else "",
        "PowerpackUUID": "",
        "requester_ip": "203.0.113.7",
    }


def inbound_payload(
    *, sender: str, to: str = "+14155550100", text: str, message_uuid: str | None = None, intent: str = ""
) -> dict[str, str]:
    return {
        "From": plivo_number(sender),
        "To": plivo_number(to),
        "Text": text,
        "Type": "sms",
        "MessageUUID": message_uuid or str(uuid.uuid4()),
        "Units": "1",
        "TotalRate": "0.00000",
        "TotalAmount": "0.00000",
        "MessageIntent": intent,
        "PowerpackUUID": "",
    }


def nonce() -> str:
    return str(secrets.randbelow(10**20)).zfill(20)


def sign_v2(*, url: str, nonce: str, auth_token: str = AUTH_TOKEN) -> str:
    """V2 as Plivo documents it; every signature made here is checked by the SDK's own validator."""
    base_url = url.split("?", 1)[0]
    signature = base64.b64encode(hmac.new(auth_token.encode(), (base_url + nonce).encode(), hashlib.sha256).digest())
    assert validate_signature(url, nonce, signature.decode(), auth_token)
    return signature.decode()


def sign_v3(*, method: str, url: str, params: dict, nonce: str, auth_token: str = AUTH_TOKEN) -> str:
    """V3 from the SDK's helpers: the base string of plivo.utils.signature_v3, its get_signature_v3."""
    if method == "GET":
        base_url = construct_get_url(url, {}).decode()
    else:
        base_url = construct_post_url(url, dict(params)).decode()
    return get_signature_v3(auth_token.encode(), base_url, nonce.encode()).decode()


def signed_headers(
    *,
    url: str,
    params: dict,
    method: str = "POST",
    versions: tuple[str, ...] = ("v2", "ma-v2", "v3"),
    auth_token: str = AUTH_TOKEN,
) -> dict[str, str]:
    headers = {}
    if "v2" in versions or "ma-v2" in versions:
        v2_nonce = nonce()
        headers["X-Plivo-Signature-V2-Nonce"] = v2_nonce
        if "v2" in versions:
            headers["X-Plivo-Signature-V2"] = sign_v2(url=url, nonce=v2_nonce, auth_token=auth_token)
        if "ma-v2" in versions:
            headers["X-Plivo-Signature-Ma-V2"] = sign_v2(url=url, nonce=v2_nonce, auth_token=auth_token)
    if "v3" in versions:
        v3_nonce = nonce()
        headers["X-Plivo-Signature-V3-Nonce"] = v3_nonce
        headers["X-Plivo-Signature-V3"] = sign_v3(
            method=method, url=url, params=params, nonce=v3_nonce, auth_token=auth_token
        )
    return headers


def post_callback(client, path: str, params: dict, *, base_url: str = "http://testserver", headers=None, **sign):
    """POST a form-encoded callback through Django's test client, signed for `base_url` + path."""
    headers = signed_headers(url=base_url + path, params=params, **sign) if headers is None else headers
    return client.post(path, data=urlencode(params), content_type="application/x-www-form-urlencoded", headers=headers)


def get_callback(client, path: str, params: dict, *, base_url: str = "http://testserver", **sign):
    query = urlencode(params)
    headers = signed_headers(url=f"{base_url}{path}?{query}", params={}, method="GET", **sign)
    return client.get(f"{path}?{query}", headers=headers)


@pytest.fixture
def plivo_signing(settings):
    """The app checks signatures with the token the test callbacks are signed with."""
    settings.PLIVO_AUTH_TOKEN = AUTH_TOKEN
    settings.PUBLIC_BASE_URL = "http://testserver"
    return AUTH_TOKEN


def record_and_drain(payload: dict[str, str]):
    """Store a status callback as the webhook does, then drain the pending reports as the worker does; the
    outcome of this callback (DUPLICATE when the webhook had stored it already)."""
    from sends.models import DeliveryReport
    from sends.services.delivery_reports import ReportOutcome, delivery_report_record, delivery_reports_drain

    if delivery_report_record(payload=payload) is ReportOutcome.DUPLICATE:
        return ReportOutcome.DUPLICATE
    outcomes = delivery_reports_drain()
    stored = DeliveryReport.objects.get(message_uuid=payload["MessageUUID"], status=payload["Status"].strip().lower())
    return outcomes[stored.pk]
