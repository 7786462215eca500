import phonenumbers
import pytest

from contacts.phones import normalize_phone, number_subdivisions, number_zones, timezones_for_number
from contacts.us_area_codes import US_AREA_CODE_STATES, area_code_states_from_geocoder
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
    assert number_zones(result.e164) == timezones_for_number(number)


def test_non_geographic_number_has_no_country():
    assert normalize_phone("+800 1234 5678").region == ""


def test_a_number_spanning_several_zones_keeps_them_all_not_the_first():
    """An Australian mobile, a Russian mobile and a North American toll-free number may each be in many zones;
    the first of phonenumbers' list was once taken as the person's zone."""
    assert {"Australia/Perth", "Australia/Sydney"} <= set(number_zones("+61412345678"))
    assert {"Europe/Moscow", "Asia/Vladivostok"} <= set(number_zones("+79161234567"))
    toll_free = number_zones("+18005550199")
    assert {"America/New_York", "Pacific/Honolulu", "Pacific/Guam"} <= set(toll_free)
    assert number_zones("+12125550142") == ("America/New_York",)


@pytest.mark.parametrize(
    ("e164", "subdivisions"),
    [
        ("+13055550123", ("US-FL",)),  # the geocoder names the state
        ("+12125550142", ("US-NY",)),  # the geocoder names a city: "New York, NY"
        ("+12065550123", ("US-WA",)),  # "Washington State"
        ("+14055550123", ("US-OK",)),
        ("+14105550123", ("US-MD",)),
        ("+12015550123", ("US-NJ", "US-NY")),  # one of its prefixes is in New York
        ("+18005550199", ()),  # toll-free: no state
        ("+16045550123", ()),  # Canada under +1
        ("+442079460958", ()),
    ],
)
def test_number_subdivisions_are_the_state_of_a_us_area_code(e164, subdivisions):
    assert number_subdivisions(e164) == subdivisions


def test_the_area_code_table_is_what_phonenumbers_geocoder_says():
    """Generated, not hand-written: after a phonenumbers upgrade, `python -m contacts.us_area_codes` prints the
    new table."""
    assert area_code_states_from_geocoder() == US_AREA_CODE_STATES
