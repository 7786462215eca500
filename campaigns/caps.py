"""Frequency caps as campaigns state them: the global cap in force and a campaign's own rule. Who is over them
is counted from the sends, which campaigns cannot see: `sends` decides it at claim time and fills the hook
below so that the preview counts it too."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

from campaigns.models import Campaign, FrequencyCap


@dataclass(frozen=True)
class CapsInForce:
    """The caps a campaign's sends are held to; `any` is False for a transactional campaign."""

    max_messages: int  # 0: no global cap
    window: timedelta
    recent: timedelta | None  # the campaign's "skip anyone texted in the last H hours"

    @property
    def any(self) -> bool:
        return bool(self.max_messages) or self.recent is not None


def frequency_cap_in_force() -> tuple[int, int]:
    """(max messages, window days) of the global cap: the admin's values over the settings' defaults."""
    row = FrequencyCap.objects.filter(pk=FrequencyCap.SINGLETON_ID).values("max_messages", "window_days").first()
    row = row or {}
    max_messages = row.get("max_messages")
    window_days = row.get("window_days")
    return (
        settings.FREQUENCY_CAP_MAX_MESSAGES if max_messages is None else max_messages,
        settings.FREQUENCY_CAP_WINDOW_DAYS if window_days is None else window_days,
    )


def campaign_caps(*, transactional: bool, skip_recent_hours: int | None) -> CapsInForce:
    """The caps for a campaign with these settings (a transactional one is held to none)."""
    if transactional:
        return CapsInForce(max_messages=0, window=timedelta(0), recent=None)
    max_messages, window_days = frequency_cap_in_force()
    recent = timedelta(hours=skip_recent_hours) if skip_recent_hours else None
    return CapsInForce(max_messages=max_messages, window=timedelta(days=window_days), recent=recent)


# (campaign, contact queryset of eligible recipients, now) -> {reason: contacts}; filled by `sends`.
CapCounter = Callable[[Campaign, object, datetime], dict[str, int]]
_cap_counter: list[CapCounter] = []


def cap_counter_register(counter: CapCounter) -> None:
    _cap_counter[:] = [counter]


def capped_counts(*, campaign: Campaign, eligible, now: datetime) -> dict[str, int]:
    """How many of `eligible` the caps would skip if sent at `now`, per reason (none without the hook)."""
    if not _cap_counter:
        return {}
    return _cap_counter[0](campaign, eligible, now)
