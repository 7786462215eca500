"""Quiet hours: a recipient may be texted only inside the window of their own local time.

Which clock: the zone the person or an import *gave* (the contact's timezone). Without one, the zones the
number's area may be in (contacts.phones.number_zones), all of them: the message leaves only while the window
is open in every one (their intersection). A guess of one zone among several would text some people at
night. A North American toll-free number may ring anywhere from Guam to Newfoundland: with the 08:00-21:00
window, their clocks agree for an hour and a half a day. When the zones leave no common window at all (the
same number under a 09:00-18:00 window), the send is skipped rather than sent at a guessed hour.

Which window: the baseline QUIET_HOURS_START-QUIET_HOURS_END, narrowed by every rule of the table below that
applies to the number (its country, and for a US number the state of its area code); the strictest wins,
since each must hold. QUIET_HOURS_RULES in the settings changes or removes entries.

Dispatch asks once per send, so everything here is cached per number prefix, per rule and per zone set and
day: a wave of sends to the same few areas costs a few dictionary look-ups each.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings

from campaigns.quiet_hours_rules import DEFAULT_QUIET_HOURS_RULES
from contacts.phones import number_subdivisions, number_zones

# Plivo's message_expiry bounds, in seconds (Plivo support, "Message Expiry": 5 to 10,799; default 10,800).
PLIVO_MIN_EXPIRY_SECONDS = 5
PLIVO_MAX_EXPIRY_SECONDS = 10_799

_DAY = 24 * 60
# How many local days of windows are computed around `now`: enough to find the next one from any hour.
_HORIZON_DAYS = 4

Minutes = tuple[tuple[int, int], ...]  # parts of a local day, in minutes from midnight: ((480, 1260),)


@dataclass(frozen=True, slots=True)
class QuietHoursVerdict:
    """What quiet hours say about texting one recipient at one moment."""

    zones: tuple[str, ...]  # the zones whose clocks decide (one when given)
    uncertain: bool  # no zone given, and the number may be in several
    open_until: datetime | None  # inside the window now: when it closes (UTC)
    next_window: datetime | None  # outside it: when the next one opens (UTC)

    @property
    def is_open(self) -> bool:
        return self.open_until is not None

    @property
    def no_common_window(self) -> bool:
        """The zones never share a moment inside the window: nobody may text this number at all."""
        return self.open_until is None and self.next_window is None


def quiet_hours_verdict(
    *, now: datetime, timezone_name: str, e164: str, country: str = "", min_left: timedelta | None = None
) -> QuietHoursVerdict:
    """Whether the recipient may be texted at `now` and until when, else when they may be.

    A window that closes within `min_left` (default QUIET_HOURS_MIN_WINDOW_LEFT_SECONDS) counts as closed:
    the message waits for the next window rather than risk arriving after this one."""
    return quiet_hours_verdicts(now=now, min_left=min_left)(timezone_name=timezone_name, e164=e164, country=country)


def quiet_hours_verdicts(*, now: datetime, min_left: timedelta | None = None) -> Callable[..., QuietHoursVerdict]:
    """quiet_hours_verdict for many recipients at the same `now` (a dispatch chunk): a function of
    (timezone_name, e164, country). Recipients whose clocks and window are the same share one verdict,
    worked out once, and the rules in force are read once."""
    key = _rules_key()
    if min_left is None:
        min_left = timedelta(seconds=settings.QUIET_HOURS_MIN_WINDOW_LEFT_SECONDS)
    windows: dict[tuple[str, tuple[str, ...]], Minutes] = {}
    verdicts: dict[tuple[tuple[str, ...], Minutes], QuietHoursVerdict] = {}

    def verdict(*, timezone_name: str, e164: str, country: str = "") -> QuietHoursVerdict:
        zones = recipient_zones(timezone_name=timezone_name, e164=e164)
        area = (country, number_subdivisions(e164))
        window = windows.get(area)
        if window is None:
            window = windows[area] = _window(country.upper(), area[1], key)
        found = verdicts.get((zones, window))
        if found is None:
            found = verdicts[zones, window] = _verdict(now=now, zones=zones, window=window, min_left=min_left, key=key)
        return found

    return verdict


def _verdict(
    *, now: datetime, zones: tuple[str, ...], window: Minutes, min_left: timedelta, key: tuple
) -> QuietHoursVerdict:
    uncertain = len(zones) > 1
    if not window:
        # The settings and rules leave no moment at all, whatever the zone: everyone waits (not a skip, which
        # would be final), and is looked at again a day later.
        return QuietHoursVerdict(zones=zones, uncertain=uncertain, open_until=None, next_window=now + timedelta(days=1))
    open_until = next_window = None
    for start, end in _common_windows(zones, window, now.astimezone(UTC).date(), key):
        if end <= now:
            continue
        if start <= now and end - now >= min_left:
            open_until = end
            break
        if start > now:
            next_window = start
            break
    return QuietHoursVerdict(zones=zones, uncertain=uncertain, open_until=open_until, next_window=next_window)


def recipient_zones(*, timezone_name: str, e164: str) -> tuple[str, ...]:
    """The zones whose clocks decide for a recipient: the one given, else every zone the number may be in,
    else TIME_ZONE. Local-time sending reads the same clocks."""
    given = _zone(timezone_name)
    if given is not None:
        return (given.key,)
    return number_zones(e164) or (settings.TIME_ZONE,)


def message_expiry_seconds(*, now: datetime, open_until: datetime) -> int:
    """How long the provider may hold a message sent at `now` so that it cannot arrive after `open_until`;
    within Plivo's bounds (never above the time left, so a message that may not wait gets the minimum)."""
    left = int((open_until - now).total_seconds())
    return max(PLIVO_MIN_EXPIRY_SECONDS, min(left, PLIVO_MAX_EXPIRY_SECONDS))


def quiet_window(*, country: str, e164: str) -> Minutes:
    """The local window for a number: the baseline narrowed by its country's and its state's rules."""
    return _window(country.upper(), number_subdivisions(e164), _rules_key())


def quiet_hours_rules() -> dict[str, tuple[time, time]]:
    """The rule table in force: the documented defaults with QUIET_HOURS_RULES applied (null removes one)."""
    return _rules(_rules_key())


# --- cached computation ---------------------------------------------------------------------------------


def _rules_key() -> tuple:
    # Settings may change (tests, a reload): the caches are keyed by what they were computed from.
    overrides = getattr(settings, "QUIET_HOURS_RULES", {}) or {}
    return (
        settings.QUIET_HOURS_START,
        settings.QUIET_HOURS_END,
        tuple(sorted((key, tuple(value) if value else None) for key, value in overrides.items())),
    )


@lru_cache(maxsize=64)
def _rules(key: tuple) -> dict[str, tuple[time, time]]:
    table: dict[str, tuple] = dict(DEFAULT_QUIET_HOURS_RULES)
    for name, value in key[2]:
        if value is None:
            table.pop(name, None)
        else:
            table[name] = value
    return {name: (_clock(start), _clock(end)) for name, (start, end) in table.items()}


def _clock(value) -> time:
    return value if isinstance(value, time) else time.fromisoformat(value)


def _minutes(value: time) -> int:
    # Up to the next whole minute: 23:59:59.999 ends the day, and a window is never widened by rounding.
    return value.hour * 60 + value.minute + (1 if value.second or value.microsecond else 0)


def _day_parts(start: time, end: time) -> Minutes:
    s, e = _minutes(start), _minutes(end)
    if s == e:
        return ()  # a window of no length: no moment is allowed
    if s < e:
        return ((s, e),)
    return ((0, e), (s, _DAY))  # a window across midnight, e.g. 20:00-02:00


def _intersect(a: Minutes, b: Minutes) -> Minutes:
    parts = []
    for a_start, a_end in a:
        for b_start, b_end in b:
            start, end = max(a_start, b_start), min(a_end, b_end)
            if start < end:
                parts.append((start, end))
    return tuple(sorted(parts))


@lru_cache(maxsize=4096)
def _window(country: str, subdivisions: tuple[str, ...], key: tuple) -> Minutes:
    rules = _rules(key)
    window = _day_parts(key[0], key[1])
    for name in (country, *subdivisions):
        if name and name in rules:
            window = _intersect(window, _day_parts(*rules[name]))
    return window


@lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _zone_windows(zone: ZoneInfo, window: Minutes, around: date) -> list[tuple[datetime, datetime]]:
    """The window's instants (UTC) over the local days around the UTC date `around`, adjacent parts joined."""
    spans: list[tuple[datetime, datetime]] = []
    for offset in range(-1, _HORIZON_DAYS):
        day = around + timedelta(days=offset)
        for start, end in window:
            # Built from local wall times; a time inside a DST gap normalises forward, and comparing in UTC
            # keeps a fold from misleading.
            span_start = _local(day, start, zone)
            span_end = _local(day, end, zone)
            if span_start < span_end:
                spans.append((span_start, span_end))
    return _joined(spans)


def _local(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    extra, minutes = divmod(minutes, _DAY)
    local = datetime.combine(day + timedelta(days=extra), time(minutes // 60, minutes % 60), tzinfo=zone)
    return local.astimezone(UTC)


def _joined(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    joined: list[tuple[datetime, datetime]] = []
    for start, end in sorted(spans):
        if joined and start <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(end, joined[-1][1]))
        else:
            joined.append((start, end))
    return joined


@lru_cache(maxsize=8192)
def _common_windows(
    zones: tuple[str, ...], window: Minutes, around: date, key: tuple
) -> tuple[tuple[datetime, datetime], ...]:
    """The instants inside the window in every zone at once, over the days around `around`."""
    common: list[tuple[datetime, datetime]] | None = None
    for name in zones:
        zone = _zone(name) or ZoneInfo("UTC")
        spans = _zone_windows(zone, window, around)
        if common is None:
            common = spans
            continue
        common = [
            (max(a_start, b_start), min(a_end, b_end))
            for a_start, a_end in common
            for b_start, b_end in spans
            if max(a_start, b_start) < min(a_end, b_end)
        ]
    return tuple(sorted(common or ()))
