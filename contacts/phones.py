"""Phone numbers: parse anything a person types into E.164, and say why when it cannot be done.

`normalize_phone` runs once per row of a contact import, so it is written for speed: phonenumbers'
public helpers (`is_valid_number`, `region_code_for_number`, `time_zones_for_number`) each work out the
number's region and type again; here that is done once and reused, which halves the cost per number
(bench/bench_import.py measures it beside phonenumbers alone). The result is the same as the public
helpers give: contacts/tests/test_phones.py checks that on numbers from many countries.
"""

from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from django.conf import settings
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumberType
from phonenumbers import timezone as number_timezones

# Private in phonenumbers but stable for years; the version is pinned in pyproject.toml and the
# equivalence test fails if an upgrade changes its meaning.
from phonenumbers.phonenumberutil import _number_type_helper

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

_UNKNOWN_ZONE = "Etc/Unknown"


@dataclass(frozen=True, slots=True)
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
    # What is_valid_number does, keeping the region and the number type it finds on the way.
    country_code = number.country_code
    number_region = phonenumbers.region_code_for_number(number)
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, number_region)
    national = phonenumbers.national_significant_number(number)
    number_type = PhoneNumberType.UNKNOWN if metadata is None else _number_type_helper(national, metadata)
    if number_type == PhoneNumberType.UNKNOWN:
        possible = phonenumbers.is_possible_number_with_reason(number)
        reason = _VALIDATION_REASONS.get(possible, "no such number can exist in its numbering plan")
        raise ApplicationError(f"{text!r} is not a valid phone number: {reason}", field="phone_number")
    e164 = f"+{country_code}{national}"
    if phonenumbers.is_number_type_geographical(number_type, country_code):
        zone = _zone_for_prefix(e164[1 : 1 + number_timezones.TIMEZONE_LONGEST_PREFIX])
    else:
        zone = _zone_for_country_code(country_code)
    # Non-geographic numbers (+800 ...) belong to region "001", which is no country.
    country = number_region if number_region and number_region.isalpha() else ""
    return NormalizedNumber(e164=e164, region=country, timezone=zone)


def timezone_for_number(number: phonenumbers.PhoneNumber) -> str:
    """The IANA timezone of a number's area, or "" when the number spans several and none is implied."""
    return _first_zone(number_timezones.time_zones_for_number(number))


def _first_zone(zones) -> str:
    # A number whose area spans several zones (e.g. a US toll-free number) still gets the first one:
    # quiet hours then apply in a plausible local time rather than in UTC.
    zones = [z for z in zones if z != _UNKNOWN_ZONE]
    return zones[0] if zones else ""


@lru_cache(maxsize=65536)
def _zone_for_prefix(digits: str) -> str:
    # The longest-prefix match of phonenumbers' time_zones_for_geographical_number, on the leading digits
    # only (all it reads), so area codes shared by many rows are looked up once.
    for length in range(len(digits), 0, -1):
        zones = number_timezones.TIMEZONE_DATA.get(digits[:length])
        if zones is not None:
            return _first_zone(zones)
    return ""


@lru_cache(maxsize=1024)
def _zone_for_country_code(country_code: int) -> str:
    return _first_zone(number_timezones.TIMEZONE_DATA.get(str(country_code), ()))
