"""Sending at each recipient's local time: when a recipient's share of a local-time campaign is due.

Which clock: the one quiet hours read (campaigns.quiet_hours): the zone the contact gave, else every zone the
number's area may be in, else TIME_ZONE. With several possible zones the latest of their instants is taken,
so that nobody gets the message before the chosen time on their own clock.

Which day: the recipient's local date at the campaign's launch. When the time has already passed that day,
the recipient goes the next day at that time or right away, as the campaign says (local_time_passed).
Everything is a pure function of the launch instant, so dispatch may ask again at any later pass (a retry,
a redelivered chunk) and gets the same answer.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from campaigns.models import Campaign
from campaigns.quiet_hours import recipient_zones

__all__ = ["LocalWave", "local_send_instant", "local_waves", "recipient_zones"]


@lru_cache(maxsize=65536)
def _zone_instant(zone_name: str, launched_at: datetime, at: time, passed: str) -> datetime:
    zone = ZoneInfo(zone_name)
    local_launch = launched_at.astimezone(zone)
    # fold=0 and normalising through UTC: a time inside a DST gap moves forward, as quiet hours do.
    instant = datetime.combine(local_launch.date(), at, tzinfo=zone).astimezone(UTC)
    if instant >= launched_at:
        return instant
    if passed == Campaign.LocalTimePassed.IMMEDIATELY:
        return launched_at
    return datetime.combine(local_launch.date() + timedelta(days=1), at, tzinfo=zone).astimezone(UTC)


def local_send_instant(*, campaign: Campaign, zones: tuple[str, ...], launched_at: datetime) -> datetime:
    """When a recipient whose clock is `zones` is due, for a local-time campaign launched at `launched_at`."""
    return max(
        _zone_instant(zone, launched_at.astimezone(UTC), campaign.local_send_time, campaign.local_time_passed)
        for zone in zones
    )


def campaign_launched_at(campaign: Campaign) -> datetime | None:
    """The instant the local times are counted from: the launch, else (not yet launched) the schedule."""
    return campaign.started_at or campaign.scheduled_at


@dataclass(frozen=True)
class LocalWave:
    """One time at which a share of a local-time campaign goes: its zones, their local time, the instant."""

    zones: tuple[str, ...]
    local_time: str  # "10:00", "10:00 next day" or "right away (time passed)"
    send_at: datetime  # UTC
    count: int

    @property
    def send_at_utc(self) -> str:
        return f"{self.send_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def local_waves(
    *, campaign: Campaign, counts: dict[tuple[str, ...], int], launched_at: datetime
) -> tuple[LocalWave, ...]:
    """The waves of a local-time campaign launched at `launched_at`, from recipients counted by their zones:
    one per instant and zones, in time order (a recipient of several possible zones is a wave of their own)."""
    waves: list[LocalWave] = []
    at = campaign.local_send_time.strftime("%H:%M")
    for zones, count in counts.items():
        send_at = local_send_instant(campaign=campaign, zones=zones, launched_at=launched_at)
        zone = ZoneInfo(zones[0])
        if send_at == launched_at.astimezone(UTC) and send_at.astimezone(zone).strftime("%H:%M") != at:
            label = "right away (time passed)"
        elif send_at.astimezone(zone).date() > launched_at.astimezone(zone).date():
            label = f"{at} next day"
        else:
            label = at
        waves.append(LocalWave(zones=zones, local_time=label, send_at=send_at, count=count))
    return tuple(sorted(waves, key=lambda wave: (wave.send_at, wave.zones)))
