from decimal import Decimal

import pytest

from campaigns.segments import GSM7, UCS2, estimate_cost, segment_info


@pytest.mark.parametrize(
    ("text", "encoding", "segments", "units"),
    [
        ("", GSM7, 0, 0),
        ("a" * 160, GSM7, 1, 160),
        ("a" * 161, GSM7, 2, 161),
        ("a" * 306, GSM7, 2, 306),
        ("a" * 307, GSM7, 3, 307),
        ("€" * 80, GSM7, 1, 160),  # extension characters count double
        ("€" * 81, GSM7, 2, 162),
        ("a" * 152 + "€", GSM7, 1, 154),  # still one segment: 154 <= 160
        ("a" * 159 + "{", GSM7, 2, 161),
        ("é" * 160, GSM7, 1, 160),  # é is in the basic GSM alphabet
        ("a" * 70 + "’", UCS2, 2, 71),
        ("a" * 69 + "’", UCS2, 1, 70),
        ("🎉" * 35, UCS2, 1, 70),  # an emoji is two UTF-16 units
        ("🎉" * 36, UCS2, 2, 72),  # 33 pairs fit in 67 units (one left unused), the other 3 in a second
        ("a" * 1600, GSM7, 11, 1600),  # 1,600 / 153 = 10.46
        ("ü" * 1600, GSM7, 11, 1600),
        ("ж" * 1600, UCS2, 24, 1600),  # 1,600 / 67 = 23.9
    ],
)
def test_segment_counts_match_hand_checked_cases(text, encoding, segments, units):
    info = segment_info(text)
    assert (info.encoding, info.segments, info.units) == (encoding, segments, units)


def test_escape_sequence_is_never_split_across_segments():
    # 306 septets would fill exactly two split segments, but the escape pair cannot take the one septet
    # left at the end of the first, so it moves on and the last "a" spills into a third segment.
    info = segment_info("a" * 152 + "€" + "a" * 152)
    assert info.units == 306
    assert info.segments == 3


def test_the_characters_that_force_ucs2_are_named_with_the_cost():
    info = segment_info("We’re open today! " + "x" * 60)
    assert info.ucs2_characters == ("’",)
    assert info.segments == 2
    assert info.segments_if_gsm7 == 1
    assert info.forces_ucs2_note == "’ forces UCS-2: 2 segments instead of 1"


def test_gsm_text_has_no_note():
    assert segment_info("Hello there").forces_ucs2_note == ""


def test_cost_estimate_uses_the_country_price_or_the_default(settings):
    settings.SMS_PRICE_PER_SEGMENT = {"US": Decimal("0.0055"), "*": Decimal("0.05")}
    assert estimate_cost(segments=2, country="US", recipients=1000) == Decimal("11.0000")
    assert estimate_cost(segments=1, country="BR") == Decimal("0.05")


def test_an_invisible_character_that_forces_ucs2_is_named_by_its_code():
    info = segment_info("Sale\u00a0today")
    assert info.forces_ucs2_note == "U+00A0 NO-BREAK SPACE forces UCS-2 (1 segment either way)"
