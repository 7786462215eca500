"""Quiet hours: a recipient may be texted only between QUIET_HOURS_START and QUIET_HOURS_END of their own
local time (contact timezone, else the number's, else the server's)."""

from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from django.conf import settings

from contacts.phones import timezone_for_number


@lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


@lru_cache(maxsize=65536)
def _zone_of_number(e164: str) -> str:
    try:
        return timezone_for_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return ""


def named_zone(name: str) -> ZoneInfo | None:
    """The zone a contact's own timezone names; None when it is blank or names no zone, and then their number
    decides (recipient_zone)."""
    return _zone(name)


def recipient_zone(*, timezone_name: str, e164: str) -> ZoneInfo:
    """The zone whose clock decides quiet hours for this recipient."""
    return _zone(timezone_name) or _zone(_zone_of_number(e164)) or _zone(settings.TIME_ZONE) or ZoneInfo("UTC")


def _allowed(local: time, start: time, end: time) -> bool:
    if start <= end:
        return start <= local < end
    return local >= start or local < end  # a window across midnight, e.g. 20:00-02:00


def quiet_hours_next_window(*, now: datetime, zone: ZoneInfo) -> datetime | None:
    """None when `now` is inside the recipient's window; otherwise the UTC start of their next window."""
    start, end = settings.QUIET_HOURS_START, settings.QUIET_HOURS_END
    local = now.astimezone(zone)
    if _allowed(local.time().replace(tzinfo=None), start, end):
        return None
    for days in range(0, 3):
        candidate = datetime.combine(local.date() + timedelta(days=days), start, tzinfo=zone)
        # A start inside a DST gap normalises forward; compare in UTC so that folds cannot mislead.
        candidate_utc = candidate.astimezone(UTC)
        if candidate_utc > now:
            return candidate_utc
    raise AssertionError("unreachable: a window starts within two days")
