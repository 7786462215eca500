"""Recording clicks without slowing the redirect: the redirect notes the raw event where it costs no round
trip, and a beat task writes the events to the database in batches, sorting people from link previews and
scanners and a recipient's first click from their repeats.

With Redis the redirect hands the event to a background thread that appends it to a Redis stream. Without
Redis (the embedded default) the redirect appends it as one line to a spool file under VAR_DIR, which the
worker's flush drains: the database (SQLite, whose writers take turns) is never written by the redirect.

Each event carries an id made by the redirect, so an event written twice (an append retried after a timeout
that had in fact succeeded, a flush that died before removing what it wrote) is stored once.
"""

import atexit
import fcntl
import hashlib
import hmac
import json
import os
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

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
    in pipelined batches: the redirect waits for no round trip. A batch Redis did not take (down, slow past
    its timeout) is tried again until it is taken; one that Redis took although the reply timed out is then
    in the stream twice, under the same event id, and stored once. Clicks wait in memory meanwhile, at most
    PENDING_MAX of them (beyond that the newest are dropped and logged, so that an outage cannot exhaust the
    process's memory); a process that dies loses those it had not appended yet."""

    BATCH = 500
    PENDING_MAX = 100_000
    RETRY_FIRST_SECONDS = 0.05
    RETRY_MAX_SECONDS = 2.0
    LINGER_SECONDS = 0.005

    def __init__(self):
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._queue: queue.Queue = queue.Queue(self.PENDING_MAX)

    def put(self, fields: dict) -> None:
        if self._pid != os.getpid():  # first click in this process (gunicorn forks after loading the app)
            with self._lock:
                if self._pid != os.getpid():
                    self._queue = queue.Queue(self.PENDING_MAX)
                    threading.Thread(target=self._run, args=(self._queue,), name="link-clicks", daemon=True).start()
                    self._pid = os.getpid()
        try:
            self._queue.put_nowait(fields)
        except queue.Full:
            log.error("link_click_dropped", reason="click queue full", pending=self.PENDING_MAX)

    def wait(self, timeout: float = 5.0) -> bool:
        """Until this process's clicks are in the stream (at most `timeout` seconds); True when they are."""
        deadline = time.monotonic() + timeout
        while self._pid == os.getpid() and self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.005)
        return not (self._pid == os.getpid() and self._queue.unfinished_tasks)

    def _run(self, clicks: queue.Queue) -> None:
        while True:
            batch = [clicks.get()]
            # A few milliseconds for more clicks to join: one round trip for several instead of one each,
            # which under load is most of what recording a click costs the web process.
            time.sleep(self.LINGER_SECONDS)
            while len(batch) < self.BATCH:
                try:
                    batch.append(clicks.get_nowait())
                except queue.Empty:
                    break
            self._append(batch)
            for _ in batch:
                clicks.task_done()

    def _append(self, batch: list[dict]) -> None:
        pause = self.RETRY_FIRST_SECONDS
        while True:
            try:
                pipe = _redis(settings.REDIS_URL).pipeline(transaction=False)
                for fields in batch:
                    pipe.xadd(STREAM, fields, maxlen=STREAM_MAX_EVENTS, approximate=True)
                pipe.execute()
                return
            except Exception as exc:
                log.warning("link_clicks_not_queued_yet", clicks=len(batch), error=exc.__class__.__name__)
                time.sleep(pause)
                pause = min(pause * 2, self.RETRY_MAX_SECONDS)


_sender = _ClickSender()
atexit.register(_sender.wait, 2.0)


class ClickSpool:
    """The embedded default's click queue: one JSON line per click appended to a file, drained by the flush.

    A line is written by one write() on a file opened for appending, so concurrent redirects (threads and
    processes) never interleave, and a click is on disk before its redirect answers: a web process that dies
    loses none. The flush renames the file before reading it, so new clicks start a new file; a redirect still
    holding the renamed one (it opened the file just before) writes under a shared lock that the flush waits
    for, and one that locks after the flush finds its file renamed and opens the new one. A flush that dies
    leaves the renamed file, which the next flush reads first (the event ids make a second write harmless)."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.queue_path = self.directory / "clicks.jsonl"
        self.draining_path = self.directory / "clicks.draining.jsonl"
        self.lock_path = self.directory / "flush.lock"

    def append(self, event: dict) -> None:
        line = (json.dumps(event, separators=(",", ":")) + "\n").encode()
        while True:
            try:
                fd = os.open(self.queue_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            except FileNotFoundError:
                self.directory.mkdir(parents=True, exist_ok=True)
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_SH)
                try:
                    current = os.stat(self.queue_path).st_ino
                except FileNotFoundError:
                    current = None
                if current == os.fstat(fd).st_ino:
                    os.write(fd, line)
                    return
            finally:
                os.close(fd)  # releases the lock too

    def drain(self, apply, *, batch: int) -> int | None:
        """Apply every spooled event, oldest first, `batch` at a time; the number read, or None when another
        flush holds the spool."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return None
            read = 0
            if self.draining_path.exists():  # what a flush that died left
                read += self._drain_file(apply, batch=batch)
            try:
                os.rename(self.queue_path, self.draining_path)
            except FileNotFoundError:
                return read
            return read + self._drain_file(apply, batch=batch)

    def _drain_file(self, apply, *, batch: int) -> int:
        read = 0
        with open(self.draining_path, "rb") as spooled:
            fcntl.flock(spooled, fcntl.LOCK_EX)  # redirects that opened it before the rename have written
            events = []
            for line in spooled:
                try:
                    events.append(json.loads(line))
                except ValueError:  # a line cut short by a full disk or a crash mid-write
                    log.error("link_click_unreadable", line=line[:200].decode(errors="replace"))
                    continue
                if len(events) >= batch:
                    apply(events)
                    read += len(events)
                    events = []
            if events:
                apply(events)
                read += len(events)
        os.unlink(self.draining_path)
        return read


def _spool() -> ClickSpool:
    return _spool_in(str(settings.LINK_CLICKS_SPOOL_DIR))


@lru_cache(maxsize=4)
def _spool_in(directory: str) -> ClickSpool:
    return ClickSpool(Path(directory))  # made once: building its paths per click cost as much as writing it


def click_enqueue(*, code: str, method: str, user_agent: str, address: str) -> None:
    """Note a fetch of `code` for the next flush; never raises (a lost click must not lose the redirect)."""
    fields = {
        "id": uuid.uuid4().hex,
        "code": code,
        "at": f"{datetime.now(UTC).timestamp():.6f}",
        "method": method[:8],
        "ua": user_agent[:USER_AGENT_MAX],
        "ip": ip_hash(address),
    }
    try:
        if settings.REDIS_URL:
            _sender.put(fields)
        else:
            _spool().append(fields)
    except Exception:
        log.exception("link_click_not_recorded", code=code)


def _event(fallback_id: str, fields: dict) -> ClickEvent:
    return ClickEvent(
        # Events queued before they carried their own id are known by their stream entry's.
        event_id=fields.get("id") or fallback_id,
        code=fields["code"],
        at=datetime.fromtimestamp(float(fields["at"]), tz=UTC),
        method=fields["method"],
        user_agent=fields["ua"],
        ip_hash=fields["ip"],
    )


def link_clicks_flush(*, batch: int = FLUSH_BATCH) -> int:
    """Write the queued clicks to the database, oldest first, in batches; returns how many events were read.
    One flush at a time (a lock in Redis, or on the spool); a flush that dies between writing and removing
    leaves events the next flush writes again, which adds nothing (Click.event_id is unique)."""
    if not settings.REDIS_URL:
        read = _spool().drain(lambda lines: clicks_apply(events=[_event("", fields) for fields in lines]), batch=batch)
        return read or 0
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
            # A long backlog outlasts the lock's timeout: held for as long as batches keep being written.
            lock.extend(FLUSH_LOCK_SECONDS, replace_ttl=True)
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:  # expired during one batch slower than its timeout
            log.warning("link_clicks_flush_lock_expired", read=read)
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
        # An event appended twice (a retried append that had succeeded) may be in one batch twice.
        unique = {e.event_id: e for e in known if e.event_id not in stored}
        fresh = sorted(unique.values(), key=lambda e: e.at)
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
