"""Quiet hours when the recipient's zone is given, when it is not (every zone the number may be in), and the
stricter local rules."""

import time
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time

from campaigns.quiet_hours import (
    PLIVO_MAX_EXPIRY_SECONDS,
    message_expiry_seconds,
    quiet_hours_rules,
    quiet_hours_verdict,
    quiet_hours_verdicts,
    quiet_window,
)

AU_MOBILE = "+61412345678"  # any of eight zones, Cocos (UTC+6:30) to Lord Howe (UTC+10:30)
TOLL_FREE = "+18005550199"  # every North American zone, Guam (UTC+10) to Samoa (UTC-11)
FLORIDA = "+13055550123"
NEW_YORK = "+12125550142"


def time_of(text: str) -> dt_time:
    return dt_time.fromisoformat(text)


def verdict(now, e164, timezone_name="", country=""):
    return quiet_hours_verdict(now=now, timezone_name=timezone_name, e164=e164, country=country)


def test_a_given_zone_alone_decides_and_is_certain():
    # 11:15 UTC in June: 21:15 in Sydney (closed), 19:15 in Perth (open).
    now = datetime(2026, 6, 1, 11, 15, tzinfo=UTC)
    perth = verdict(now, AU_MOBILE, "Australia/Perth", "AU")
    assert (perth.zones, perth.uncertain, perth.is_open) == (("Australia/Perth",), False, True)
    assert perth.open_until == datetime(2026, 6, 1, 13, 0, tzinfo=UTC)  # 21:00 in Perth


def test_without_a_given_zone_the_window_must_be_open_in_every_zone_of_the_number():
    """The first zone of phonenumbers' list (Adelaide, 20:45 here) once decided alone: Sydney is at 21:15."""
    now = datetime(2026, 6, 1, 11, 15, tzinfo=UTC)
    quiet = verdict(now, AU_MOBILE, country="AU")
    assert quiet.uncertain and len(quiet.zones) > 1
    assert not quiet.is_open and not quiet.no_common_window
    # The common window opens when it is 08:00 on Lord Howe Island (UTC+10:30), the easternmost of them,
    # and Cocos (UTC+6:30) is then at 04:00, outside: it opens at 08:00 in Cocos, 01:30 UTC.
    assert quiet.next_window == datetime(2026, 6, 2, 1, 30, tzinfo=UTC)
    later = verdict(quiet.next_window, AU_MOBILE, country="AU")
    # Open until 21:00 on Lord Howe, 10:30 UTC: nine hours, where each zone alone has thirteen.
    assert later.open_until == datetime(2026, 6, 2, 10, 30, tzinfo=UTC)


def test_a_toll_free_number_is_texted_only_in_the_hour_and_a_half_all_its_zones_share():
    """Guam (UTC+10) to Newfoundland (UTC-2:30) in June: 08:00 in Guam is 22:00 UTC, 21:00 in St John's 23:30."""
    quiet = verdict(datetime(2026, 6, 1, 18, 0, tzinfo=UTC), TOLL_FREE, country="US")
    assert quiet.uncertain and not quiet.is_open
    assert quiet.next_window == datetime(2026, 6, 1, 22, 0, tzinfo=UTC)
    assert verdict(quiet.next_window, TOLL_FREE, country="US").open_until == datetime(2026, 6, 1, 23, 30, tzinfo=UTC)


def test_zones_that_never_share_a_window_are_said_so(settings):
    settings.QUIET_HOURS_START, settings.QUIET_HOURS_END = time_of("09:00"), time_of("18:00")
    quiet = verdict(datetime(2026, 6, 1, 18, 0, tzinfo=UTC), TOLL_FREE, country="US")
    assert quiet.uncertain and quiet.no_common_window
    assert (quiet.open_until, quiet.next_window) == (None, None)


def test_a_given_zone_makes_even_a_toll_free_number_textable(settings):
    settings.QUIET_HOURS_START, settings.QUIET_HOURS_END = time_of("09:00"), time_of("18:00")
    quiet = verdict(datetime(2026, 6, 1, 18, 0, tzinfo=UTC), TOLL_FREE, "America/Chicago", "US")
    assert quiet.is_open and not quiet.uncertain


def test_florida_numbers_close_at_20_00_by_state_law():
    # 00:30 UTC on 2 June is 20:30 in New York and Miami: inside the federal 08:00-21:00, not Florida's 20:00.
    now = datetime(2026, 6, 2, 0, 30, tzinfo=UTC)
    assert verdict(now, NEW_YORK, "America/New_York", "US").is_open
    florida = verdict(now, FLORIDA, "America/New_York", "US")
    assert not florida.is_open
    assert florida.next_window == datetime(2026, 6, 2, 12, 0, tzinfo=UTC)  # 08:00 in Miami
    assert quiet_window(country="US", e164=FLORIDA) == ((8 * 60, 20 * 60),)


def test_the_strictest_rule_wins_whichever_it_comes_from(settings):
    settings.QUIET_HOURS_START = time_of("09:00")
    # The baseline (09:00) is stricter than Florida's 08:00 start; Florida's end is stricter than it.
    assert quiet_window(country="US", e164=FLORIDA) == ((9 * 60, 20 * 60),)
    settings.QUIET_HOURS_RULES = {"US": ["10:00", "19:00"]}
    assert quiet_window(country="US", e164=FLORIDA) == ((10 * 60, 19 * 60),)


def test_settings_change_and_remove_rules(settings):
    now = datetime(2026, 6, 2, 0, 30, tzinfo=UTC)  # 20:30 in Miami
    settings.QUIET_HOURS_RULES = {"US-FL": None, "GB": ["09:00", "20:00"]}
    assert "US-FL" not in quiet_hours_rules()
    assert verdict(now, FLORIDA, "America/New_York", "US").is_open
    # 20:30 in London on a June evening (UTC+1): inside the baseline, outside the new British rule.
    london = verdict(datetime(2026, 6, 1, 19, 30, tzinfo=UTC), "+442079460958", "Europe/London", "GB")
    assert not london.is_open


def test_a_window_about_to_close_counts_as_closed(settings):
    settings.QUIET_HOURS_MIN_WINDOW_LEFT_SECONDS = 300
    # 20:55 in New York: five minutes left, just enough; at 20:56, four: the message waits for the morning.
    at_20_55 = verdict(datetime(2026, 6, 2, 0, 55, tzinfo=UTC), NEW_YORK, "America/New_York", "US")
    assert at_20_55.open_until == datetime(2026, 6, 2, 1, 0, tzinfo=UTC)
    at_20_56 = verdict(datetime(2026, 6, 2, 0, 56, tzinfo=UTC), NEW_YORK, "America/New_York", "US")
    assert not at_20_56.is_open
    assert at_20_56.next_window == datetime(2026, 6, 2, 12, 0, tzinfo=UTC)


def test_message_expiry_ends_with_the_window_within_plivos_bounds():
    closes = datetime(2026, 6, 2, 1, 0, tzinfo=UTC)
    assert message_expiry_seconds(now=closes - timedelta(minutes=5), open_until=closes) == 300
    assert message_expiry_seconds(now=closes - timedelta(hours=9), open_until=closes) == PLIVO_MAX_EXPIRY_SECONDS
    assert message_expiry_seconds(now=closes - timedelta(seconds=2), open_until=closes) == 5


def test_verdicts_are_cheap_enough_for_the_dispatch_hot_path():
    numbers = [f"+1305555{n:04d}" for n in range(500)] + [f"+614123{n:05d}" for n in range(500)]
    now = datetime(2026, 6, 1, 18, 0, tzinfo=UTC)
    for number in numbers:  # the caches warm once per prefix and zone set
        verdict(now, number, country="US")
    started = time.perf_counter()
    for number in numbers:
        verdict(now + timedelta(seconds=1), number, country="US")
    assert time.perf_counter() - started < 0.5  # about 10 microseconds each on a quiet machine


def test_verdicts_asked_for_a_whole_chunk_are_each_recipients_own():
    """Dispatch asks once for a chunk of recipients, and those sharing clocks and window share one verdict:
    none may get another's, whether their zone, their state's rules or their country tell them apart."""
    recipients = [
        (AU_MOBILE, "", "AU"),
        (AU_MOBILE, "Australia/Perth", "AU"),
        (AU_MOBILE, "Australia/Sydney", "AU"),
        (TOLL_FREE, "", "US"),
        (FLORIDA, "", "US"),
        (FLORIDA, "America/New_York", "US"),
        (NEW_YORK, "", "US"),
        (NEW_YORK, "America/New_York", "US"),
        (NEW_YORK, "America/New_York", ""),
        (NEW_YORK, "Not/A_Zone", "us"),
        ("+33612345678", "", "FR"),
        ("+33612345678", "Europe/Paris", "FR"),
    ]
    for hour in range(0, 24, 1):
        now = datetime(2026, 6, 1, hour, 40, tzinfo=UTC)
        chunk = quiet_hours_verdicts(now=now)
        for e164, timezone_name, country in recipients * 2:
            alone = verdict(now, e164, timezone_name, country)
            assert chunk(timezone_name=timezone_name, e164=e164, country=country) == alone, (hour, e164, timezone_name)
