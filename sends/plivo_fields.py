"""Reading the form fields of Plivo's callbacks (numbers without '+', amounts as strings) into our types.

Each parser raises ApplicationError naming the field, so that a malformed callback is answered with a
clear 400 (which Plivo does not retry) instead of a half-recorded row or a database error on every retry.
Bounds come from the columns the values are stored in.
"""

import re
from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from contacts.phones import normalize_phone
from smscampaigns.errors import ApplicationError

# ASCII only: str.isdigit() and Decimal() also take "²", "٣" and full-width digits, which no gateway means.
_WHOLE_NUMBER = re.compile(r"[0-9]+")
_DECIMAL_AMOUNT = re.compile(r"[0-9]+(\.[0-9]*)?|\.[0-9]+")
_SHOWN = 40  # characters of a bad value quoted back: enough to recognise it, not a megabyte echoed


def _shown(raw: str) -> str:
    return repr(raw if len(raw) <= _SHOWN else raw[:_SHOWN] + "...")


def plivo_text(payload: Mapping[str, str], name: str, *, max_length: int | None = None, lower: bool = False) -> str:
    """The field stripped ("" when absent), lower case if asked; ApplicationError when longer than its column
    takes (measured after lower-casing, which lengthens some letters: "İ" becomes two characters)."""
    value = (payload.get(name) or "").strip()
    if lower:
        value = value.lower()
    if max_length is not None and len(value) > max_length:
        raise ApplicationError(
            f"{name} must be at most {max_length} characters, got {len(value)}: {_shown(value)}", field=name
        )
    return value


def plivo_required(payload: Mapping[str, str], name: str, *, max_length: int | None = None, lower: bool = False) -> str:
    value = plivo_text(payload, name, max_length=max_length, lower=lower)
    if not value:
        raise ApplicationError(f"{name} is required in a Plivo callback", field=name)
    return value


def plivo_int(payload: Mapping[str, str], name: str, *, max_value: int) -> int | None:
    raw = (payload.get(name) or "").strip()
    if not raw:
        return None
    if not _WHOLE_NUMBER.fullmatch(raw):
        raise ApplicationError(f"{name} must be a whole number in ASCII digits, got {_shown(raw)}", field=name)
    value = int(raw)
    if value > max_value:
        raise ApplicationError(f"{name} must be at most {max_value}, got {_shown(raw)}", field=name)
    return value


def plivo_decimal(payload: Mapping[str, str], name: str, *, max_digits: int, decimal_places: int) -> Decimal | None:
    """A non-negative amount ("0.00550"), rounded to `decimal_places`; it must fit `max_digits` digits."""
    raw = (payload.get(name) or "").strip()
    if not raw:
        return None
    if not _DECIMAL_AMOUNT.fullmatch(raw):
        raise ApplicationError(f"{name} must be a decimal amount of zero or more, got {_shown(raw)}", field=name)
    try:
        value = Decimal(raw).quantize(Decimal(1).scaleb(-decimal_places), rounding=ROUND_HALF_EVEN)
    except InvalidOperation:  # more digits than the decimal context holds
        value = None
    limit = Decimal(10) ** (max_digits - decimal_places)
    if value is None or value >= limit:
        raise ApplicationError(f"{name} must be less than {limit}, got {_shown(raw)}", field=name)
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
