"""One chunk of a campaign's sends (a range of send ids, one Celery message): screened, grouped by text,
packed into waves of requests, each wave sent in turn."""

from collections import defaultdict

from django.conf import settings
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.segments import segment_info
from sends.backends import get_connection
from sends.services.dispatch.housekeeping import campaign_complete_if_done, sends_cancel_queued
from sends.services.dispatch.recipients import Recipient, Request, due_recipients
from sends.services.dispatch.screening import screen
from sends.services.dispatch.sending import waves_send
from sends.services.dispatch.window import dispatch_top_up, window_release
from sends.services.rate_limit import batch_size_for_rate
from sends.services.sender_pools import PoolRecipient, Sender, campaign_senders


def sends_dispatch_chunk(*, campaign_id: int, first_id: int, last_id: int) -> None:
    """Send every due queued send of the campaign with an id in [first_id, last_id]; safe to run twice."""
    try:
        chunk_dispatch(campaign_id=campaign_id, first_id=first_id, last_id=last_id)
    finally:
        window_release(campaign_id)
    campaign_complete_if_done(campaign_id=campaign_id)
    dispatch_top_up(campaign_id=campaign_id)


def chunk_dispatch(*, campaign_id: int, first_id: int, last_id: int) -> None:
    """The chunk's sending alone, without the window's bookkeeping around it."""
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        return
    if campaign.status == Campaign.Status.CANCELLED:
        sends_cancel_queued(campaign_id=campaign_id)
        return
    if campaign.status != Campaign.Status.SENDING:
        return  # paused: the sends stay queued and resume picks them up
    now = timezone.now()
    recipients = due_recipients(campaign_id=campaign_id, first_id=first_id, last_id=last_id, now=now)
    if not recipients:
        return
    ready = screen(campaign=campaign, recipients=recipients, now=now)
    senders = campaign_senders(
        campaign=campaign,
        recipients=[PoolRecipient(r.send_id, r.contact_id, r.to_number, r.variant_id) for r, _ in ready],
    )
    by_body: dict[tuple[str, Sender], list[Recipient]] = defaultdict(list)
    for recipient, body in ready:
        by_body[body, senders.by_send[recipient.send_id]].append(recipient)
    with get_connection() as backend:
        waves_send(
            campaign=campaign,
            backend=backend,
            waves=waves(
                by_body=by_body, per_second=senders.per_second, backend_limit=backend.max_destinations_per_request
            ),
        )


def waves(
    *, by_body: dict[tuple[str, Sender], list[Recipient]], per_second: int | None, backend_limit: int
) -> list[list[Request]]:
    """Requests (one body from one sender, bulk where recipients share both: as many recipients per request
    as the backend takes and the sender's rate allows) packed into waves of at most DISPATCH_WAVE_SIZE
    recipients, or a fifth of a second of `per_second` (the campaign's rate, a pool's: the sum of its
    numbers'), whichever is less; a bulk request bigger than that is a wave of its own.

    A wave is claimed before its first request and paced by the rate after it; the shorter it lasts, the
    fewer claimed sends a killed worker leaves `unknown` unsent, and the sooner an opt-out reaches them. A
    bulk request is not split to fit a wave: it is one call, over as quickly as one personalised text, and
    its recipients are claimed, sent and recorded together in any case."""
    wave_size = settings.DISPATCH_WAVE_SIZE
    if per_second and per_second > 0:
        wave_size = max(1, min(wave_size, per_second // 5))
    packed: list[list[Request]] = [[]]
    filled = 0
    for (body, sender), group in by_body.items():
        segments = segment_info(body).segments
        size = batch_size_for_rate(
            per_second=sender.per_second, segments_per_message=segments, backend_limit=backend_limit
        )
        for start in range(0, len(group), size):
            request = Request(body=body, segments=segments, recipients=group[start : start + size], sender=sender)
            if filled and filled + len(request.recipients) > wave_size:
                packed.append([])
                filled = 0
            packed[-1].append(request)
            filled += len(request.recipients)
    return [wave for wave in packed if wave]
