"""The window of a campaign's chunk messages in the broker: at most DISPATCH_WINDOW_CHUNKS at once, counted
in the cache under a lease that progress keeps alive, so that a worker killed mid-chunk frees its place."""

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from campaigns.models import Campaign
from sends.selectors import send_ranges_due


def window_keys(campaign_id: int) -> list[str]:
    prefix = f"smscampaigns:dispatch:{campaign_id}:"
    return [prefix + "outstanding", prefix + "cursor", prefix + "lock"]


def dispatch_top_up(*, campaign_id: int) -> int:
    """Queue the campaign's next chunks of due sends, up to DISPATCH_WINDOW_CHUNKS in the broker at once.

    Chunks are taken in id order from a cursor; when the cursor reaches the end and the window is empty,
    the next pass starts from the first id, which picks up retries and deferrals that have become due and
    any chunk lost with a killed worker. Returns how many chunk messages were queued.
    """
    outstanding_key, cursor_key, lock_key = window_keys(campaign_id)
    if not cache.add(lock_key, 1, timeout=30):
        return 0  # another process is topping this campaign up right now
    try:
        if not Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.SENDING).exists():
            return 0
        outstanding = max(0, cache.get(outstanding_key) or 0)
        room = settings.DISPATCH_WINDOW_CHUNKS - outstanding
        if room <= 0:
            return 0
        cursor = cache.get(cursor_key) or 0
        now = timezone.now()
        ranges = send_ranges_due(
            campaign_id=campaign_id, after_id=cursor, now=now, chunk_size=settings.DISPATCH_CHUNK_SIZE, limit=room
        )
        if not ranges and cursor and outstanding == 0:
            ranges = send_ranges_due(
                campaign_id=campaign_id, after_id=0, now=now, chunk_size=settings.DISPATCH_CHUNK_SIZE, limit=room
            )
            cursor = 0
        if not ranges:
            cache.set(cursor_key, cursor, timeout=None)
            return 0
        window_add(outstanding_key, len(ranges))
        cache.set(cursor_key, ranges[-1][1], timeout=None)
    finally:
        cache.delete(lock_key)
    from sends.tasks import sends_dispatch_chunk as chunk_task  # the tasks import this package

    for first_id, last_id in ranges:
        transaction.on_commit(lambda f=first_id, la=last_id: chunk_task.delay(campaign_id, f, la))
    return len(ranges)


def window_add(outstanding_key: str, chunks: int) -> None:
    """Count `chunks` more in the window by adding to the count where it stands now, not to the value read
    before: chunks finish in other processes meanwhile (the lock only keeps top-ups apart), and a count left
    one too high never returns to zero, which holds back the pass that picks up retries until the lease
    lapses."""
    try:
        cache.incr(outstanding_key, chunks)
    except ValueError:  # no window yet, or its lease lapsed
        if not cache.add(outstanding_key, chunks, timeout=settings.DISPATCH_LEASE_SECONDS):
            cache.incr(outstanding_key, chunks)
    cache.touch(outstanding_key, timeout=settings.DISPATCH_LEASE_SECONDS)


def window_touch(campaign_id: int) -> None:
    cache.touch(window_keys(campaign_id)[0], timeout=settings.DISPATCH_LEASE_SECONDS)


def window_release(campaign_id: int) -> None:
    outstanding_key = window_keys(campaign_id)[0]
    try:
        remaining = cache.decr(outstanding_key)
    except ValueError:
        return  # the window expired meanwhile: it is being rebuilt
    if remaining < 0:
        cache.set(outstanding_key, 0, timeout=settings.DISPATCH_LEASE_SECONDS)
    else:
        # Not every cache keeps the expiry through decr (the file-based one resets it to its default).
        cache.touch(outstanding_key, timeout=settings.DISPATCH_LEASE_SECONDS)


def window_forget(campaign_id: int) -> None:
    """A finished campaign's window is gone for good."""
    cache.delete_many(window_keys(campaign_id))
