"""Reading the form fields of Plivo's callbacks (numbers without '+', amounts as strings) into our types.

Each parser raises ApplicationError naming the field, so that a malformed callback is answered with a
clear 400 instead of a half-recorded row.
"""

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from contacts.phones import normalize_phone
from smscampaigns.errors import ApplicationError


def plivo_required(payload: Mapping[str, str], name: str) -> str:
    value = (payload.get(name) or "").strip()
    if not value:
        raise ApplicationError(f"{name} is required in a Plivo callback", field=name)
    return value


def plivo_int(payload: Mapping[str, str], name: str) -> int | None:
    raw = (payload.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise ApplicationError(f"{name} must be a whole number, got {raw!r}", field=name)
    return int(raw)


def plivo_decimal(payload: Mapping[str, str], name: str) -> Decimal | None:
    raw = (payload.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ApplicationError(f"{name} must be a decimal amount, got {raw!r}", field=name) from None
    if not value.is_finite() or value < 0:
        raise ApplicationError(f"{name} must be a decimal amount of zero or more, got {raw!r}", field=name)
    return value


def plivo_number_e164(raw: str) -> str | None:
    """E.164 for a phone number as Plivo writes it ("14155550123"); None for a short code or a sender name."""
    text = (raw or "").strip()
    if not text:
        return None
    candidate = text if text.startswith("+") else f"+{text}"
    try:
        return normalize_phone(candidate).e164
    except ApplicationError:
        return None


def plivo_sender(raw: str) -> str:
    """One of our numbers as a reply's sender: E.164 when it is a phone number, else as given (short code)."""
    return plivo_number_e164(raw) or (raw or "").strip()
