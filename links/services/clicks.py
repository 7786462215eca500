"""Recording clicks without slowing the redirect: the redirect hands the raw event to a background thread that
appends it to a Redis stream, and a beat task writes the stream to the database in batches, sorting people
from link previews and scanners and a recipient's first click from their repeats.

Without Redis (the embedded default) the redirect writes its one event itself, through the same service.
"""

import atexit
import hashlib
import hmac
import os
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

import redis
import structlog
from django.conf import settings
from django.db import transaction

from campaigns.models import Campaign
from links import bots
from links.models import Click, ShortLink
from smscampaigns.domain_events import link_clicked_emit

log = structlog.get_logger(__name__)

STREAM = "smscampaigns:links:clicks"
# The stream is trimmed to about this many events should the flush stop: memory stays bounded, the oldest
# unwritten clicks are what is lost.
STREAM_MAX_EVENTS = 1_000_000
FLUSH_BATCH = 5000
FLUSH_LOCK_SECONDS = 60
USER_AGENT_MAX = 512

_KIND = {
    bots.PREVIEW: Click.Kind.PREVIEW,
    bots.SCANNER: Click.Kind.SCANNER,
    bots.HEAD: Click.Kind.HEAD,
}


@dataclass(frozen=True)
class ClickEvent:
    """One fetch of a short link, as the redirect saw it."""

    event_id: str
    code: str
    at: datetime
    method: str
    user_agent: str
    ip_hash: str


@lru_cache(maxsize=4)
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)


def ip_hash(address: str) -> str:
    """A keyed hash of the client's address: the same person's clicks can be told apart from a crowd's,
    but the address cannot be read back (nor found by hashing every address without SECRET_KEY)."""
    return hmac.new(settings.SECRET_KEY.encode(), address.encode(), hashlib.sha256).hexdigest()[:32]


class _ClickSender:
    """Hands clicks from the request to one background thread per process, which appends them to the stream
    in pipelined batches: the redirect waits for no round trip. A process that dies loses the few clicks it
    had not appended yet (milliseconds' worth); the redirect never waits on Redis, nor fails with it."""

    BATCH = 500

    def __init__(self):
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._queue: queue.Queue = queue.Queue()

    def put(self, fields: dict) -> None:
        if self._pid != os.getpid():  # first click in this process (gunicorn forks after loading the app)
            with self._lock:
                if self._pid != os.getpid():
                    self._queue = queue.Queue()
                    threading.Thread(target=self._run, args=(self._queue,), name="link-clicks", daemon=True).start()
                    self._pid = os.getpid()
        self._queue.put(fields)

    def wait(self, timeout: float = 5.0) -> None:
        """Until this process's clicks are in the stream (at most `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        while self._pid == os.getpid() and self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.005)

    def _run(self, clicks: queue.Queue) -> None:
        while True:
            batch = [clicks.get()]
            while len(batch) < self.BATCH:
                try:
                    batch.append(clicks.get_nowait())
                except queue.Empty:
                    break
            try:
                pipe = _redis(settings.REDIS_URL).pipeline(transaction=False)
                for fields in batch:
                    pipe.xadd(STREAM, fields, maxlen=STREAM_MAX_EVENTS, approximate=True)
                pipe.execute()
            except Exception:
                log.exception("link_clicks_not_queued", clicks=len(batch))
            finally:
                for _ in batch:
                    clicks.task_done()


_sender = _ClickSender()
atexit.register(_sender.wait, 2.0)


def click_enqueue(*, code: str, method: str, user_agent: str, address: str) -> None:
    """Note a fetch of `code` for the next flush; never raises (a lost click must not lose the redirect)."""
    fields = {
        "code": code,
        "at": f"{datetime.now(UTC).timestamp():.6f}",
        "method": method[:8],
        "ua": user_agent[:USER_AGENT_MAX],
        "ip": ip_hash(address),
    }
    try:
        if settings.REDIS_URL:
            _sender.put(fields)
            return
        clicks_apply(events=[_event(uuid.uuid4().hex, fields)])
    except Exception:
        log.exception("link_click_not_recorded", code=code)


def _event(event_id: str, fields: dict) -> ClickEvent:
    return ClickEvent(
        event_id=event_id,
        code=fields["code"],
        at=datetime.fromtimestamp(float(fields["at"]), tz=UTC),
        method=fields["method"],
        user_agent=fields["ua"],
        ip_hash=fields["ip"],
    )


def link_clicks_flush(*, batch: int = FLUSH_BATCH) -> int:
    """Write the queued clicks to the database, oldest first, in batches; returns how many events were read.
    One flush at a time (a lock in Redis); a flush that dies between writing and trimming leaves events the
    next flush writes again, which adds nothing (Click.event_id is unique)."""
    if not settings.REDIS_URL:
        return 0
    _sender.wait()  # what this process's own redirects still hold (in tests, the redirects ran here)
    client = _redis(settings.REDIS_URL)
    lock = client.lock("smscampaigns:links:clicks-flush", timeout=FLUSH_LOCK_SECONDS, blocking=False)
    if not lock.acquire(blocking=False):
        return 0
    read = 0
    try:
        while True:
            entries = client.xrange(STREAM, "-", "+", count=batch)
            if not entries:
                break
            events = [
                _event(entry_id.decode(), {key.decode(): value.decode() for key, value in fields.items()})
                for entry_id, fields in entries
            ]
            clicks_apply(events=events)
            client.xdel(STREAM, *(entry_id for entry_id, _ in entries))
            read += len(entries)
            if len(entries) < batch:
                break
    finally:
        lock.release()
    return read


def clicks_apply(*, events: list[ClickEvent]) -> int:
    """Store events as clicks, each sorted (person, preview, scanner, HEAD) and a person's first click on any
    of the campaign's links counted as the recipient's click, later ones as repeats; keeps the campaigns'
    clicked counters. Unknown codes are dropped. Returns the clicks stored."""
    codes = {event.code for event in events}
    links = {
        code: (link_id, send_id, campaign_id)
        for code, link_id, send_id, campaign_id in ShortLink.objects.filter(code__in=codes).values_list(
            "code", "link_id", "send_id", "link__campaign_id"
        )
    }
    known = [event for event in events if event.code in links]
    if not known:
        return 0
    with transaction.atomic():
        stored = set(Click.objects.filter(event_id__in=[e.event_id for e in known]).values_list("event_id", flat=True))
        fresh = sorted((e for e in known if e.event_id not in stored), key=lambda e: e.at)
        clicked = set(
            Click.objects.filter(send_id__in={links[e.code][1] for e in fresh}, kind=Click.Kind.CLICK).values_list(
                "send_id", flat=True
            )
        )
        rows = []
        for event in fresh:
            link_id, send_id, campaign_id = links[event.code]
            source = bots.click_source(method=event.method, user_agent=event.user_agent)
            if source == bots.HUMAN:
                kind = Click.Kind.REPEAT if send_id in clicked else Click.Kind.CLICK
                clicked.add(send_id)
            else:
                kind = _KIND[source]
            rows.append(
                Click(
                    event_id=event.event_id,
                    campaign_id=campaign_id,
                    link_id=link_id,
                    short_link_id=event.code,
                    send_id=send_id,
                    kind=kind,
                    clicked_at=event.at,
                    user_agent=event.user_agent,
                    ip_hash=event.ip_hash,
                )
            )
        Click.objects.bulk_create(rows, ignore_conflicts=True)
        _first_clicks_emit(event_ids=[row.event_id for row in rows if row.kind == Click.Kind.CLICK])
        for campaign_id in {links[e.code][2] for e in fresh}:
            campaign_clicked_count_refresh(campaign_id=campaign_id)
    return len(rows)


def _first_clicks_emit(*, event_ids: list[str]) -> None:
    """link.clicked for each recipient's first human click (repeats, previews and scanners are not people
    clicking again), in the transaction that stored it: integrators' webhooks and the dashboard's clicks."""
    if not event_ids:
        return
    stored = Click.objects.filter(event_id__in=event_ids).values_list(
        "id", "link_id", "link__url", "campaign_id", "send_id", "send__contact_id", "clicked_at"
    )
    for click_id, link_id, url, campaign_id, send_id, contact_id, clicked_at in stored.order_by("clicked_at", "id"):
        link_clicked_emit(
            click_id=click_id,
            link_id=link_id,
            url=url,
            campaign_id=campaign_id,
            send_id=send_id,
            contact_id=contact_id,
            clicked_at=clicked_at,
        )


def campaign_clicked_count_refresh(*, campaign_id: int) -> None:
    """Set the campaign's clicked counter from its first clicks (exact whatever was written before)."""
    clicked = Click.objects.filter(campaign_id=campaign_id, kind=Click.Kind.CLICK).count()
    Campaign.objects.filter(pk=campaign_id).update(clicked_count=clicked)
