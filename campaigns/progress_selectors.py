"""The progress of a launched campaign, read from its counters only (never from its sends), so that the
campaign page and its live panel cost the same with ten sends or a million.

The counters are kept current by the send engine (sends/services/counters.py). Failures by error code come
from `Campaign.failed_by_error_code`, a counter like `skipped_by_reason`: grouping a campaign's failed sends
on every page view would be a scan whose cost grows with the campaign, and the page is polled every few
seconds while it sends."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache

from campaigns.models import Campaign
from campaigns.tracked_links import campaign_tracks_links
from smscampaigns.plivo_errors import PLIVO_ERROR_CODES

Status = Campaign.Status

# The rate is measured over this much recent time: long enough to smooth the engine's bursts (a chunk of
# sends is recorded in one transaction), short enough to show a slowdown within a minute.
RATE_WINDOW_SECONDS = 60
# Two samples closer than this give no rate worth showing.
RATE_MIN_SPAN_SECONDS = 2
LIVE_STATUSES = frozenset({Status.SCHEDULED, Status.SENDING})


@dataclass(frozen=True)
class StatusCount:
    """Sends of one status (or two: "queued" counts those in flight too), for the table and the bar."""

    key: str  # the counter's name without "_count": a CSS class and the JSON key
    label: str
    send_statuses: tuple[str, ...]  # CampaignSend statuses this count covers, for the sends filter
    count: int
    percent: float  # of the recipients


@dataclass(frozen=True)
class FailureCount:
    code: str  # "" when the failure came without an error code
    label: str
    count: int


@dataclass(frozen=True)
class SkipCount:
    reason: str  # the send's skip reason, e.g. "opted_out"
    label: str
    count: int


@dataclass(frozen=True)
class SendRate:
    """Messages that left the queue (sent or failed trying) per second."""

    per_second: float
    over_seconds: int
    recent: bool  # True: over the last `over_seconds`; False: the average over the whole run so far

    @property
    def per_minute(self) -> float:
        return self.per_second * 60


@dataclass(frozen=True)
class FunnelStage:
    label: str
    count: int
    percent: float  # of the recipients


@dataclass(frozen=True)
class CampaignProgress:
    campaign_id: int
    status: str
    status_display: str
    started_at: datetime | None
    completed_at: datetime | None
    sampled_at: datetime
    recipients: int
    statuses: list[StatusCount]
    funnel: list[FunnelStage]
    failures: list[FailureCount]
    cost: Decimal
    segments: int
    opt_outs: int
    rate: SendRate | None
    unfinished: int  # queued or in flight
    skips: tuple[SkipCount, ...] = ()  # never sent, by reason, most first
    clicked: int | None = None  # recipients who clicked a short link; None when the campaign tracks no link
    # Sent, its short links not expired yet: clicks still arrive, so the panel keeps following them.
    collecting_clicks: bool = False

    @property
    def click_rate(self) -> float:
        """Clicked, as a share of the delivered (a text not delivered cannot be clicked)."""
        delivered = next((s.count for s in self.statuses if s.key == "delivered"), 0)
        return _percent(self.clicked or 0, delivered)

    @property
    def live(self) -> bool:
        """Whether the numbers may still change by themselves (the page keeps polling)."""
        return self.status in LIVE_STATUSES or self.collecting_clicks

    @property
    def done(self) -> int:
        return self.recipients - self.unfinished

    @property
    def percent_done(self) -> float:
        return _percent(self.done, self.recipients)

    @property
    def failed_total(self) -> int:
        return sum(failure.count for failure in self.failures)

    def as_json(self) -> dict:
        return {
            "campaign": self.campaign_id,
            "status": self.status,
            "live": self.live,
            "sampled_at": self.sampled_at.isoformat(),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
            "recipients": self.recipients,
            "done": self.done,
            "percent_done": self.percent_done,
            "counts": {s.key: s.count for s in self.statuses},
            "funnel": {stage.label: stage.count for stage in self.funnel},
            "failed_by_error_code": {failure.code: failure.count for failure in self.failures},
            "skipped_by_reason": {skip.reason: skip.count for skip in self.skips},
            "cost": str(self.cost),
            "segments": self.segments,
            "opt_outs": self.opt_outs,
            "clicked": self.clicked,
            "click_rate": self.click_rate if self.clicked is not None else None,
            "rate": None
            if self.rate is None
            else {
                "per_second": round(self.rate.per_second, 3),
                "over_seconds": self.rate.over_seconds,
                "recent": self.rate.recent,
            },
        }


# The order of the progress bar: outcomes first, what is still to come last.
_STATUS_ROWS = [
    ("delivered", "Delivered", ("delivered",)),
    ("sent", "Sent, awaiting delivery report", ("sent",)),
    ("undelivered", "Undelivered", ("undelivered",)),
    ("failed", "Failed", ("failed",)),
    ("unknown", "Unknown (to be reconciled)", ("unknown",)),
    ("skipped", "Skipped (never sent)", ("skipped",)),
    ("queued", "Queued or sending", ("queued", "sending")),
]


def _percent(part: int, whole: int) -> float:
    return round(100 * part / whole, 1) if whole else 0.0


def failure_label(code: str) -> str:
    """A failure's error code in words: Plivo's meaning, or our own code (e.g. "invalid_number") as it is."""
    if not code:
        return "no error code"
    if code in PLIVO_ERROR_CODES:
        return f"{code}: {PLIVO_ERROR_CODES[code]}"
    return f"Plivo error {code}" if code.isdigit() else code.replace("_", " ")


# Skip reasons whose name alone would not say enough; the others read well as they are ("opted out").
_SKIP_LABELS = {
    "no_common_quiet_window": "No common quiet-hours window: no zone given, and the number's zones share none",
    "line_type": "Line cannot receive SMS: a carrier lookup found a landline (or another excluded line type)",
    "frequency_cap": "Frequency cap reached: enough marketing messages in the cap's window",
    "recently_texted": "Texted recently: within the campaign's skip-recent hours",
}


def skip_label(reason: str) -> str:
    return _SKIP_LABELS.get(reason) or (reason.replace("_", " ").capitalize() if reason else "no reason recorded")


def campaign_progress(*, campaign: Campaign, now: datetime) -> CampaignProgress:
    """Where a campaign's sending stands at `now`, from its counters; samples the send rate (see send_rate)."""
    recipients = campaign.recipients_count
    statuses = [
        StatusCount(
            key=key,
            label=label,
            send_statuses=send_statuses,
            count=getattr(campaign, f"{key}_count"),
            percent=_percent(getattr(campaign, f"{key}_count"), recipients),
        )
        for key, label, send_statuses in _STATUS_ROWS
    ]
    count = {s.key: s.count for s in statuses}
    tracks_links = campaign_tracks_links(campaign) or campaign.clicked_count > 0
    accepted = count["sent"] + count["delivered"] + count["undelivered"]
    funnel = [
        FunnelStage(label, n, _percent(n, recipients))
        for label, n in [
            ("Recipients", recipients),
            ("Queued to send", recipients - count["skipped"]),  # Plivo's "queued": handed to the engine
            ("Sent", accepted),  # accepted by Plivo: sent, delivered or undelivered
            ("Delivered", count["delivered"]),
            # People who clicked one of its short links: previews and scanners are not counted.
            *([("Clicked", campaign.clicked_count)] if tracks_links else []),
        ]
    ]
    failures = sorted(
        (FailureCount(code, failure_label(code), n) for code, n in campaign.failed_by_error_code.items() if n),
        key=lambda failure: (-failure.count, failure.code),
    )
    left_queue = accepted + count["failed"] + count["unknown"]
    return CampaignProgress(
        campaign_id=campaign.pk,
        status=campaign.status,
        status_display=campaign.get_status_display(),
        started_at=campaign.started_at,
        completed_at=campaign.completed_at,
        sampled_at=now,
        recipients=recipients,
        statuses=statuses,
        funnel=funnel,
        failures=failures,
        cost=campaign.cost,
        segments=campaign.segments_count,
        opt_outs=campaign.opt_out_count,
        rate=send_rate(campaign=campaign, left_queue=left_queue, now=now),
        unfinished=count["queued"],
        clicked=campaign.clicked_count if tracks_links else None,
        collecting_clicks=tracks_links
        and campaign.completed_at is not None
        and now - campaign.completed_at < timedelta(days=settings.SHORT_LINK_EXPIRY_DAYS),
        skips=tuple(
            sorted(
                (SkipCount(reason, skip_label(reason), n) for reason, n in campaign.skipped_by_reason.items() if n),
                key=lambda skip: (-skip.count, skip.reason),
            )
        ),
    )


def send_rate(*, campaign: Campaign, left_queue: int, now: datetime) -> SendRate | None:
    """How fast the campaign's messages leave the queue (sent, or failed trying; skips are not sending).

    While it sends: the change of `left_queue` between this reading and the oldest one of the last
    RATE_WINDOW_SECONDS, divided by the time between them. Every reading of the page (and every poll of its
    panel) is a sample, kept in the cache and shared by everyone watching. Until two samples are
    RATE_MIN_SPAN_SECONDS apart, and once the campaign stopped, the average over its run instead: everything
    that left the queue divided by the time from its start to its end (or to now)."""
    if campaign.started_at is None:
        return None
    if campaign.status == Status.SENDING:
        # The start time is in the key: a relaunch, or an id reused by a test database, starts afresh.
        key = f"campaign-rate-samples:{campaign.pk}:{campaign.started_at.timestamp():.0f}"
        t = now.timestamp()
        samples = [(ts, n) for ts, n in cache.get(key, []) if t - RATE_WINDOW_SECONDS <= ts <= t]
        if not samples or t - samples[-1][0] >= 1:  # one sample a second at most, however many watch
            samples.append((t, left_queue))
            cache.set(key, samples, timeout=RATE_WINDOW_SECONDS * 2)
        oldest_t, oldest_n = samples[0]
        span = t - oldest_t
        if span >= RATE_MIN_SPAN_SECONDS:
            return SendRate(per_second=max(0, left_queue - oldest_n) / span, over_seconds=round(span), recent=True)
    end = campaign.completed_at or now
    seconds = (end - campaign.started_at).total_seconds()
    if seconds <= 0:
        return None
    return SendRate(per_second=left_queue / seconds, over_seconds=round(seconds), recent=False)
