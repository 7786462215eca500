import phonenumbers
import pytest

from contacts.phones import normalize_phone, timezone_for_number
from smscampaigns.errors import ApplicationError

NUMBERS = [
    ("(415) 555-0123", "US"),
    ("+1 800 555 0199", "US"),  # toll-free: not geographic, zones of the whole country
    ("+1 416 555 0123", "US"),  # Canada under +1
    ("+1 876 555 0123", "US"),  # Jamaica under +1
    ("+44 20 7946 0958", "US"),
    ("07700 900123", "GB"),
    ("+33 1 23 45 67 89", "US"),
    ("06 12 34 56 78", "FR"),
    ("+49 30 901820", "US"),
    ("+91 98765 43210", "US"),
    ("+55 11 91234-5678", "US"),
    ("+61 2 9374 4000", "US"),
    ("+81 3-1234-5678", "US"),
    ("+34 612 34 56 78", "US"),
    ("+52 55 1234 5678", "US"),
    ("+800 1234 5678", "US"),  # international freephone: no region
    ("+7 495 123-45-67", "US"),
    ("+86 10 1234 5678", "US"),
    ("+1 555 0100", "US"),
    ("+1555555010", "US"),
    ("+44 20 7946 09", "US"),
    ("+999 123456", "US"),
]


@pytest.mark.parametrize(("raw", "region"), NUMBERS)
def test_normalize_phone_agrees_with_phonenumbers_public_api(raw, region):
    """The shortcut through phonenumbers' internals gives what the slow public calls give."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        with pytest.raises(ApplicationError):
            normalize_phone(raw, region=region)
        return
    if not phonenumbers.is_valid_number(number):
        with pytest.raises(ApplicationError):
            normalize_phone(raw, region=region)
        return
    result = normalize_phone(raw, region=region)
    assert result.e164 == phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    expected_region = phonenumbers.region_code_for_number(number)
    assert result.region == (expected_region if expected_region.isalpha() else "")
    assert result.timezone == timezone_for_number(number)


def test_non_geographic_number_has_no_country():
    assert normalize_phone("+800 1234 5678").region == ""
