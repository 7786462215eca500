"""Phone numbers: parse anything a person types into E.164, and say why when it cannot be done.

`normalize_phone` runs once per row of a contact import, so it is written for speed: phonenumbers'
public helpers (`is_valid_number`, `region_code_for_number`) each work out the number's region and type
again, and where a calling code is shared (+1, +44, +61, +7) finding the region already computes the type;
here each is worked out once, which makes checking a number cheaper than `is_valid_number` after the parse
(bench/bench_import.py measures the import beside phonenumbers alone). The result is the same as the public
helpers give: contacts/tests/test_phones.py checks that on numbers from many countries. A number's zones are
not worked out here: only sending needs them (`number_zones`), and an import of a million rows would pay for
them and throw them away.
"""

from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from django.conf import settings
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, NumberParseException, PhoneMetadata, PhoneNumberType
from phonenumbers import timezone as number_timezones

# Private in phonenumbers but stable for years; the version is pinned in pyproject.toml and the
# equivalence test fails if an upgrade changes its meaning.
from phonenumbers.phonenumberutil import _number_type_helper, re_compile

from contacts.us_area_codes import US_AREA_CODE_STATES
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
    national = phonenumbers.national_significant_number(number)
    number_region, number_type = _region_and_type(country_code, national)
    if number_type == PhoneNumberType.UNKNOWN:
        possible = phonenumbers.is_possible_number_with_reason(number)
        reason = _VALIDATION_REASONS.get(possible, "no such number can exist in its numbering plan")
        raise ApplicationError(f"{text!r} is not a valid phone number: {reason}", field="phone_number")
    # Non-geographic numbers (+800 ...) belong to region "001", which is no country.
    country = number_region if number_region and number_region.isalpha() else ""
    return NormalizedNumber(e164=f"+{country_code}{national}", region=country)


def _region_and_type(country_code: int, national: str) -> tuple[str | None, int]:
    """region_code_for_number and the number's type in that region's plan (UNKNOWN: no valid number there),
    the type computed once: phonenumbers tells regions sharing a calling code apart by computing it."""
    regions = COUNTRY_CODE_TO_REGION_CODE.get(country_code)
    if regions is None:
        return None, PhoneNumberType.UNKNOWN
    if len(regions) == 1:
        region = regions[0]
    else:
        # _region_code_for_number_from_list: the first region whose leading digits match, or else in whose
        # plan the number has a type.
        region = None
        for candidate in regions:
            metadata = PhoneMetadata.metadata_for_region(candidate.upper(), None)
            if metadata is None:
                continue
            if metadata.leading_digits is not None:
                if re_compile(metadata.leading_digits).match(national):
                    region = candidate
                    break
            elif (number_type := _number_type_helper(national, metadata)) != PhoneNumberType.UNKNOWN:
                return candidate, number_type
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
    return region, PhoneNumberType.UNKNOWN if metadata is None else _number_type_helper(national, metadata)


def timezones_for_number(number: phonenumbers.PhoneNumber) -> tuple[str, ...]:
    """Every IANA zone a number's area may be in; () when phonenumbers cannot tell."""
    return _known_zones(number_timezones.time_zones_for_number(number))


@lru_cache(maxsize=65536)
def number_zones(e164: str) -> tuple[str, ...]:
    """Every IANA zone the number (E.164) may be in, as its numbering area says; () when it cannot be told."""
    try:
        return timezones_for_number(phonenumbers.parse(e164, None))
    except NumberParseException:
        return ()


def number_subdivisions(e164: str) -> tuple[str, ...]:
    """The ISO 3166-2 codes of the US state of a number's area code (("US-FL",); both states where the area
    code straddles two); () elsewhere, for numbers of no one state (toll-free) and for areas phonenumbers'
    geocoder names no state for."""
    if not e164.startswith("+1"):
        return ()
    return _us_states_of_area_code(e164[2:5])


@lru_cache(maxsize=1024)
def _us_states_of_area_code(area_code: str) -> tuple[str, ...]:
    return tuple(f"US-{code}" for code in US_AREA_CODE_STATES.get(area_code, "").split())


def _known_zones(zones) -> tuple[str, ...]:
    return tuple(z for z in zones if z != _UNKNOWN_ZONE)
