"""Phone numbers: parse anything a person types into E.164, and say why when it cannot be done."""

from dataclasses import dataclass

import phonenumbers
from django.conf import settings
from phonenumbers import NumberParseException, PhoneNumberFormat
from phonenumbers import timezone as number_timezones

from smscampaigns.errors import ApplicationError

_PARSE_ERRORS = {
    NumberParseException.INVALID_COUNTRY_CODE: "no country code, and no default region to assume",
    NumberParseException.NOT_A_NUMBER: "not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the international prefix",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_LONG: "too long",
}

_VALIDATION_REASONS = {
    phonenumbers.ValidationResult.TOO_SHORT: "too short for its country",
    phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "a local number without its area code",
    phonenumbers.ValidationResult.TOO_LONG: "too long for its country",
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
    phonenumbers.ValidationResult.INVALID_LENGTH: "wrong length for its country",
}


@dataclass(frozen=True)
class NormalizedNumber:
    e164: str
    region: str  # ISO 3166 alpha-2, e.g. "US"
    timezone: str  # IANA name derived from the number; "" when it cannot be told


def normalize_phone(raw: str, *, region: str | None = None) -> NormalizedNumber:
    """Parse `raw` (any format) into E.164, or raise ApplicationError saying why it is not a number."""
    text = (raw or "").strip()
    if not text:
        raise ApplicationError("phone number is empty", field="phone_number")
    default_region = (region or settings.DEFAULT_PHONE_REGION or "").upper() or None
    try:
        number = phonenumbers.parse(text, default_region)
    except NumberParseException as exc:
        reason = _PARSE_ERRORS.get(exc.error_type, str(exc))
        raise ApplicationError(f"{text!r} is not a valid phone number: {reason}", field="phone_number") from None
    if not phonenumbers.is_valid_number(number):
        possible = phonenumbers.is_possible_number_with_reason(number)
        reason = _VALIDATION_REASONS.get(possible, "no such number can exist in its numbering plan")
        raise ApplicationError(f"{text!r} is not a valid phone number: {reason}", field="phone_number")
    return NormalizedNumber(
        e164=phonenumbers.format_number(number, PhoneNumberFormat.E164),
        region=phonenumbers.region_code_for_number(number) or "",
        timezone=timezone_for_number(number),
    )


def timezone_for_number(number: phonenumbers.PhoneNumber) -> str:
    """The IANA timezone of a number's area, or "" when the number spans several and none is implied."""
    zones = [z for z in number_timezones.time_zones_for_number(number) if z != "Etc/Unknown"]
    # A number whose area spans several zones (e.g. a US toll-free number) still gets the first one:
    # quiet hours then apply in a plausible local time rather than in UTC.
    return zones[0] if zones else ""
