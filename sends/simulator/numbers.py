"""What the simulator knows of numbers: Plivo's Lookup API answers and the account's Powerpacks.

Lookup (GET https://lookup.plivo.com/v1/Number/{number}?type=carrier, Plivo's documented shape):
  200 {"api_id", "phone_number", "country": {"name", "iso2", "iso3"},
       "format": {"e164", "national", "international", "rfc3966"},
       "carrier": {"mobile_country_code", "mobile_network_code", "name", "type", "ported"},
       "resource_uri"}
  carrier.type is fixed, mobile, voip, toll-free or unknown; carrier.ported yes, no or unknown (US/Canada
  only). Errors {"api_id", "error_code", "message"}; an invalid number is a 404.

The answer is a function of the number alone, so tests know it in advance: toll-free and (outside the
+1 plan) fixed or mobile lines as phonenumbers classifies them; on the +1 plan, which phonenumbers cannot
split, the last digit decides: 7 or 8 a fixed line, 9 VoIP, any other mobile. `lookup_line_types` in the
faults overrides the type of given numbers.

Powerpack: a pool of the account's numbers Plivo picks the sender from when a message names
`powerpack_uuid` instead of `src`. Set with POST /_sim/powerpacks {"uuid", "numbers", "sticky_sender",
"local_connect"}; sticky sender keeps each destination on the number it first got, local connect prefers a
number with the destination's area code.
"""

import hashlib
import threading
import uuid
from dataclasses import dataclass, field

import phonenumbers
from phonenumbers import PhoneNumberType, geocoder

from sends.simulator.state import FaultError, digits

LINE_TYPES = ("fixed", "mobile", "voip", "toll-free", "unknown")
# Plivo's error code for a number it cannot parse as a phone number.
INVALID_LOOKUP_ERROR_CODE = 20404
CARRIERS = ("Verizon Wireless", "T-Mobile USA, Inc.", "AT&T Mobility", "US Cellular", "Bandwidth.com CLEC")
_MOBILE_CODES = {"US": ("310", "004"), "CA": ("302", "220"), "GB": ("234", "015")}
_TYPES = {
    PhoneNumberType.TOLL_FREE: "toll-free",
    PhoneNumberType.FIXED_LINE: "fixed",
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.VOIP: "voip",
}


def _stable_index(key: str, size: int) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % size


def line_type_of(parsed: phonenumbers.PhoneNumber) -> str:
    kind = phonenumbers.number_type(parsed)
    if kind in _TYPES:
        return _TYPES[kind]
    if kind == PhoneNumberType.FIXED_LINE_OR_MOBILE:
        last = str(parsed.national_number)[-1]
        return "fixed" if last in "78" else "voip" if last == "9" else "mobile"
    return "unknown"


def lookup_answer(number: str, overrides: dict[str, str]) -> dict | None:
    """The 200 body for `number` (digits, with or without "+"), None when it is no valid phone number."""
    try:
        parsed = phonenumbers.parse("+" + number.lstrip("+"))
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    region = phonenumbers.region_code_for_number(parsed) or ""
    line_type = overrides.get(e164.lstrip("+")) or line_type_of(parsed)
    mcc, mnc = _MOBILE_CODES.get(region, ("", "")) if line_type == "mobile" else ("", "")
    ported = ("yes" if int(e164[-2]) % 3 == 0 else "no") if region in ("US", "CA") else "unknown"
    return {
        "api_id": str(uuid.uuid1()),
        "phone_number": e164,
        "country": {
            "name": geocoder.country_name_for_number(parsed, "en"),
            "iso2": region,
            "iso3": _ISO3.get(region, ""),
        },
        "format": {
            "e164": e164,
            "national": phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL),
            "international": phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
            "rfc3966": phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.RFC3966),
        },
        "carrier": {
            "mobile_country_code": mcc,
            "mobile_network_code": mnc,
            "name": CARRIERS[_stable_index(e164, len(CARRIERS))] if line_type != "unknown" else "",
            "type": line_type,
            "ported": ported,
        },
        "resource_uri": f"/v1/Number/{e164}?type=carrier",
    }


_ISO3 = {"US": "USA", "CA": "CAN", "GB": "GBR", "FR": "FRA", "DE": "DEU", "AU": "AUS", "IN": "IND", "MX": "MEX"}


@dataclass
class Powerpack:
    uuid: str
    numbers: list[str]  # digits, as Plivo keys numbers
    sticky_sender: bool = True
    local_connect: bool = True
    sticky: dict[str, str] = field(default_factory=dict)  # destination -> number it was sent from

    def to_payload(self) -> dict:
        return {
            "uuid": self.uuid,
            "numbers": ["+" + n for n in self.numbers],
            "sticky_sender": self.sticky_sender,
            "local_connect": self.local_connect,
        }


class Powerpacks:
    """The account's Powerpacks, and the sender each picks for a destination."""

    def __init__(self):
        self._lock = threading.Lock()
        self._packs: dict[str, Powerpack] = {}

    def replace(self, packs: list[Powerpack]) -> None:
        with self._lock:
            self._packs = {pack.uuid: pack for pack in packs}

    def payload(self) -> list[dict]:
        with self._lock:
            return [pack.to_payload() for pack in self._packs.values()]

    def known(self, pack_uuid: str) -> bool:
        with self._lock:
            return pack_uuid in self._packs

    def pick(self, pack_uuid: str, destination: str) -> str:
        """The number (digits) the Powerpack sends to `destination` (digits) from."""
        with self._lock:
            pack = self._packs[pack_uuid]
            if pack.sticky_sender and destination in pack.sticky:
                return pack.sticky[destination]
            candidates = pack.numbers
            if pack.local_connect and destination.startswith("1"):
                local = [n for n in pack.numbers if n.startswith("1") and n[1:4] == destination[1:4]]
                candidates = local or candidates
            chosen = candidates[_stable_index(destination, len(candidates))]
            if pack.sticky_sender:
                pack.sticky[destination] = chosen
            return chosen


def powerpacks_from_payload(payload) -> list[Powerpack]:
    """POST /_sim/powerpacks: {"powerpacks": [{"uuid", "numbers", "sticky_sender", "local_connect"}]}."""
    items = payload.get("powerpacks") if isinstance(payload, dict) else None
    if not isinstance(items, list):
        raise FaultError('the body must be {"powerpacks": [{"uuid", "numbers", ...}]}')
    packs = []
    for index, item in enumerate(items):
        where = f"powerpacks[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("uuid"), str) or not item["uuid"]:
            raise FaultError(f"{where}: `uuid` is required (a string)")
        numbers = item.get("numbers")
        if not isinstance(numbers, list) or not numbers or not all(isinstance(n, str) for n in numbers):
            raise FaultError(f"{where}: `numbers` must be a non-empty list of phone numbers")
        flags = {name: item.get(name, True) for name in ("sticky_sender", "local_connect")}
        if not all(isinstance(value, bool) for value in flags.values()):
            raise FaultError(f"{where}: `sticky_sender` and `local_connect` must be true or false")
        packs.append(Powerpack(uuid=item["uuid"], numbers=[digits(n) for n in numbers], **flags))
    return packs
