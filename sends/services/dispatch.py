"""Dispatch: queued sends go out through the SMS backend, each exactly once, within the law.

Celery messages carry a campaign id and a range of send ids (DISPATCH_CHUNK_SIZE sends); each send in it
is its own job with its own status and attempts. For one chunk:

1. re-check consent, opt-out and suppression (campaigns.selectors, the audience rules) and skip those who
   may no longer be texted; defer those outside quiet hours to the start of their next window;
2. render each body, skip those whose text is too long (campaigns.segments.message_length_problem), and
   group recipients who share one text, to use the provider's bulk form;
3. per request: wait for the sender's rate (segments), then claim the sends, queued -> sending, in one
   short transaction that also re-checks the campaign is still sending and the recipients still
   eligible, then call the backend, then record each result. The claim is what makes a redelivered or
   duplicated chunk harmless: it can only take sends that are still queued.

A send left in `sending` means the process died between the claim and recording the result: it is never
sent again blindly but reconciled (`sends_reconcile_stuck`).

Each campaign keeps at most DISPATCH_WINDOW_CHUNKS chunk messages in the broker (a counter in the cache,
refreshed as chunks progress); each finished chunk tops the window up, and the beat tick does too, which
is also how retries and quiet-hours deferrals that became due, and chunks lost with a killed worker, are
picked up.
"""

import contextlib
import logging
import random
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.quiet_hours import PLIVO_MIN_EXPIRY_SECONDS, message_expiry_seconds, quiet_hours_verdict
from campaigns.segments import message_length_problem, segment_info
from campaigns.selectors import ELIGIBLE, ExclusionReason, contacts_with_exclusion_reason
from campaigns.services.lifecycle import campaign_complete, campaign_pause
from campaigns.templating import body_render
from contacts.models import Contact
from sends.backends import get_connection
from sends.backends.base import BackendError, BaseSmsBackend, ErrorClass, OutboundMessage, SendError, SendResult
from sends.models import CampaignSend
from sends.selectors import campaign_has_unfinished_sends, send_ranges_due
from sends.services.counters import FAILURE_STATUSES, campaign_counters_add, transition_deltas
from sends.services.delivery_reports import delivery_reports_attach_many
from sends.services.rate_limit import batch_size_for_rate, rate_limit_wait
from sends.webhook_paths import status_callback_url
from smscampaigns.errors import ApplicationError

logger = logging.getLogger(__name__)
S = CampaignSend.Status

# What a provider status means for a send found stuck in `sending` (fetch_message_status).
_PROVIDER_STATUS = {
    "delivered": S.DELIVERED,
    "undelivered": S.UNDELIVERED,
    "failed": S.FAILED,
    "rejected": S.FAILED,
}


# Transient errors after which the provider may nonetheless have taken the message (the request went out,
# the answer never came back): retrying could text the person twice, so such sends become `unknown`.
AMBIGUOUS_ERROR_CODES = frozenset({"timeout"})
# How stale a sending worker's view of the campaign status may get while it works through a wave.
STATUS_CHECK_SECONDS = 0.5


@dataclass(frozen=True)
class _Recipient:
    send_id: int
    contact_id: int | None
    to_number: str
    attempts: int
    first_name: str
    last_name: str
    attributes: dict
    timezone: str
    country: str = ""
    # When the recipient's quiet-hours window closes (set by screening): the message may not arrive later.
    open_until: datetime | None = None


# --- one chunk --------------------------------------------------------------------------------------------


def sends_dispatch_chunk(*, campaign_id: int, first_id: int, last_id: int) -> None:
    """Send every due queued send of the campaign with an id in [first_id, last_id]; safe to run twice."""
    try:
        _dispatch_chunk(campaign_id=campaign_id, first_id=first_id, last_id=last_id)
    finally:
        _window_release(campaign_id)
    campaign_complete_if_done(campaign_id=campaign_id)
    dispatch_top_up(campaign_id=campaign_id)


def _dispatch_chunk(*, campaign_id: int, first_id: int, last_id: int) -> None:
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        return
    if campaign.status == Campaign.Status.CANCELLED:
        sends_cancel_queued(campaign_id=campaign_id)
        return
    if campaign.status != Campaign.Status.SENDING:
        return  # paused: the sends stay queued and resume picks them up
    now = timezone.now()
    recipients = _due_recipients(campaign_id=campaign_id, first_id=first_id, last_id=last_id, now=now)
    if not recipients:
        return
    ready = _screen(campaign=campaign, recipients=recipients, now=now)
    by_body: dict[str, list[_Recipient]] = defaultdict(list)
    for recipient, body in ready:
        by_body[body].append(recipient)
    with get_connection() as backend:
        for wave in _waves(campaign=campaign, by_body=by_body, backend_limit=backend.max_destinations_per_request):
            if not _send_wave(campaign=campaign, backend=backend, wave=wave):
                return


@dataclass(frozen=True)
class _Request:
    body: str
    segments: int
    recipients: list[_Recipient]


def _waves(*, campaign: Campaign, by_body: dict[str, list[_Recipient]], backend_limit: int) -> list[list[_Request]]:
    """Requests (one body, bulk where recipients share it) packed into waves of at most DISPATCH_WAVE_SIZE
    recipients, or a fifth of a second of the campaign's rate, whichever is less.

    A wave is claimed before its first request and paced by the rate after it; the shorter it lasts, the
    fewer claimed sends a killed worker leaves `unknown` unsent, and the sooner an opt-out reaches them."""
    per_second = campaign.effective_max_per_second
    wave_size = settings.DISPATCH_WAVE_SIZE
    if per_second and per_second > 0:
        wave_size = max(1, min(wave_size, per_second // 5))
    waves: list[list[_Request]] = [[]]
    filled = 0
    for body, group in by_body.items():
        segments = segment_info(body).segments
        size = batch_size_for_rate(per_second=per_second, segments_per_message=segments, backend_limit=backend_limit)
        size = min(size, wave_size)
        for start in range(0, len(group), size):
            request = _Request(body=body, segments=segments, recipients=group[start : start + size])
            if filled and filled + len(request.recipients) > wave_size:
                waves.append([])
                filled = 0
            waves[-1].append(request)
            filled += len(request.recipients)
    return [wave for wave in waves if wave]


def _due_recipients(*, campaign_id: int, first_id: int, last_id: int, now: datetime) -> list[_Recipient]:
    rows = (
        CampaignSend.objects.filter(campaign_id=campaign_id, id__gte=first_id, id__lte=last_id, status=S.QUEUED)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .order_by("id")
        .values_list(
            "id",
            "contact_id",
            "to_number",
            "attempts",
            "contact__first_name",
            "contact__last_name",
            "contact__attributes",
            "contact__timezone",
            "contact__country",
        )
    )
    return [
        _Recipient(
            send_id=row[0],
            contact_id=row[1],
            to_number=row[2],
            attempts=row[3],
            first_name=row[4] or "",
            last_name=row[5] or "",
            attributes=row[6] or {},
            timezone=row[7] or "",
            country=row[8] or "",
        )
        for row in rows
    ]


def _screen(*, campaign: Campaign, recipients: list[_Recipient], now: datetime) -> list[tuple[_Recipient, str]]:
    """Skip who may no longer be texted or whose text is too long, defer who is in quiet hours; the rest with
    their rendered body."""
    contact_ids = [r.contact_id for r in recipients if r.contact_id is not None]
    reasons = dict(
        contacts_with_exclusion_reason(Contact.objects.filter(pk__in=contact_ids)).values_list("pk", "exclusion_reason")
    )
    skips: dict[str, list[int]] = defaultdict(list)
    deferrals: dict[datetime, list[int]] = defaultdict(list)
    failures: dict[str, list[int]] = defaultdict(list)
    ready: list[tuple[_Recipient, str]] = []
    too_long: dict[str, bool] = {}  # by text: a plain body is one text for the whole chunk
    for recipient in recipients:
        # A contact erased since the fan-out has no consent on record any more.
        reason = reasons.get(recipient.contact_id, ExclusionReason.NO_CONSENT)
        if reason != ELIGIBLE:
            skips[reason].append(recipient.send_id)
            continue
        quiet = quiet_hours_verdict(
            now=now, timezone_name=recipient.timezone, e164=recipient.to_number, country=recipient.country
        )
        if quiet.no_common_window:
            # No zone given and the number's zones never share a moment of the window: never at a guess.
            skips[CampaignSend.SkipReason.NO_COMMON_QUIET_WINDOW].append(recipient.send_id)
            continue
        if not quiet.is_open:
            deferrals[quiet.next_window].append(recipient.send_id)
            continue
        recipient = replace(recipient, open_until=quiet.open_until)
        try:
            body = body_render(
                campaign.body,
                first_name=recipient.first_name,
                last_name=recipient.last_name,
                attributes=recipient.attributes,
            )
        except ApplicationError as exc:
            failures[exc.message].append(recipient.send_id)
            continue
        if body not in too_long:
            too_long[body] = bool(message_length_problem(segment_info(body)))
        if too_long[body]:
            # Their values made the text longer than Plivo accepts or SMS_MAX_SEGMENTS allows: never sent,
            # rather than refused by Plivo or billed for dozens of segments.
            skips[ExclusionReason.MESSAGE_TOO_LONG].append(recipient.send_id)
            continue
        ready.append((recipient, body))
    for reason, send_ids in skips.items():
        _skip(campaign_id=campaign.pk, send_ids=send_ids, reason=reason, now=now)
    for window, send_ids in deferrals.items():
        CampaignSend.objects.filter(id__in=send_ids, status=S.QUEUED).update(next_attempt_at=window)
    for message, send_ids in failures.items():
        with transaction.atomic():
            n = CampaignSend.objects.filter(id__in=send_ids, status=S.QUEUED).update(
                status=S.FAILED, error_code="template", error_message=message, status_updated_at=now
            )
            campaign_counters_add(
                campaign_id=campaign.pk,
                deltas=transition_deltas(from_status=S.QUEUED, to_status=S.FAILED, count=n),
                failed_by_error_code={"template": n},
            )
    return ready


def _skip(*, campaign_id: int, send_ids: list[int], reason: str, now: datetime) -> None:
    with transaction.atomic():
        n = CampaignSend.objects.filter(id__in=send_ids, status=S.QUEUED).update(
            status=S.SKIPPED, skip_reason=reason, status_updated_at=now
        )
        campaign_counters_add(
            campaign_id=campaign_id,
            deltas=transition_deltas(from_status=S.QUEUED, to_status=S.SKIPPED, count=n),
            skipped_by_reason={reason: n},
        )


# --- one request ------------------------------------------------------------------------------------------


def _send_wave(*, campaign: Campaign, backend: BaseSmsBackend, wave: list[_Request]) -> bool:
    """Claim a wave's recipients in one transaction, send its requests, record every result in one more.
    False when the chunk must stop: the campaign was paused (by staff or an account error) or cancelled.

    Claiming a wave rather than each request keeps the database work per message small when every
    recipient gets their own text; the price is that a process killed mid-wave leaves up to a wave of
    sends `sending`, to be reconciled (never re-sent blindly). So the wait for the first request's turn at
    the sender's rate comes before the claim: a worker mostly waits there, and holds nothing while it does."""
    # Who reached the end of their window meanwhile stays queued, unclaimed: the next pass defers them.
    wave = [
        replace(request, recipients=kept)
        for request in wave
        if (kept := [r for r in request.recipients if not _window_closing(r)])
    ]
    if not wave:
        return True
    first = wave[0]
    rate_limit_wait(
        sender=campaign.effective_sender,
        segments=first.segments * len(first.recipients),
        per_second=campaign.effective_max_per_second,
    )
    _window_touch(campaign.pk)
    claimed_ids = _claim(campaign_id=campaign.pk, recipients=[r for req in wave for r in req.recipients])
    if not claimed_ids:
        return Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.SENDING).exists()
    outcomes: list[tuple[_Recipient, SendResult, _Request]] = []
    unsent: list[int] = []
    try:
        halted, account_error = _send_claimed(
            campaign=campaign, backend=backend, wave=wave, claimed_ids=claimed_ids, outcomes=outcomes, unsent=unsent
        )
    except Exception:
        # Redis or the database failed between two requests: record what went
        # out and give back what did not, rather than leave it all `sending`, to end `unknown` and unsent.
        gone = {recipient.send_id for recipient, _, _ in outcomes}
        unsent.extend(send_id for send_id in claimed_ids if send_id not in gone and send_id not in unsent)
        _record_results_surely(campaign_id=campaign.pk, outcomes=outcomes, unsent=unsent)
        raise
    account_error = _record_results_surely(campaign_id=campaign.pk, outcomes=outcomes, unsent=unsent)
    if account_error is not None:
        # ApplicationError: another worker paused it first, or staff cancelled it meanwhile.
        with contextlib.suppress(ApplicationError):
            campaign_pause(campaign=campaign, actor=None, reason=f"{account_error.message} ({account_error.code})")
        return False
    return not halted


def _send_claimed(
    *,
    campaign: Campaign,
    backend: BaseSmsBackend,
    wave: list["_Request"],
    claimed_ids: set[int],
    outcomes: list,
    unsent: list[int],
) -> tuple[bool | None, SendError | None]:
    """Send the wave's requests to its claimed recipients, paced by the sender's rate (the first request
    already waited its turn); fills `outcomes` and `unsent`. Returns (halted, account error)."""
    first = wave[0]
    halted = account_error = None
    last_check = time.monotonic()
    for request in wave:
        recipients = [r for r in request.recipients if r.send_id in claimed_ids]
        if not recipients:
            continue
        if halted or account_error:
            unsent.extend(r.send_id for r in recipients)
            continue
        if request is not first:
            rate_limit_wait(
                sender=campaign.effective_sender,
                segments=request.segments * len(recipients),
                per_second=campaign.effective_max_per_second,
            )
        if time.monotonic() - last_check > STATUS_CHECK_SECONDS:
            # Pause and cancel reach a wave already claimed within this long.
            last_check = time.monotonic()
            if not Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.SENDING).exists():
                halted = True
                unsent.extend(r.send_id for r in recipients)
                continue
        # The wait for the sender's rate may have taken a recipient to the end of their window: such sends go
        # back to the queue, and the next pass defers them to the next window.
        late = {r.send_id for r in recipients if _window_closing(r)}
        if late:
            unsent.extend(late)
            recipients = [r for r in recipients if r.send_id not in late]
            if not recipients:
                continue
        results = _send_request(backend=backend, campaign=campaign, request=request, recipients=recipients)
        outcomes.extend((recipient, result, request) for recipient, result in zip(recipients, results, strict=True))
        account_error = next(
            (res.error for res in results if res.error and res.error.error_class is ErrorClass.ACCOUNT), None
        )
    return halted, account_error


def _window_closing(recipient: _Recipient) -> bool:
    """Too little of the recipient's quiet-hours window is left for even Plivo's shortest expiry."""
    closing = timezone.now() + timedelta(seconds=PLIVO_MIN_EXPIRY_SECONDS)
    return recipient.open_until is not None and recipient.open_until <= closing


def _send_request(
    *, backend: BaseSmsBackend, campaign: Campaign, request: _Request, recipients: list[_Recipient]
) -> list[SendResult]:
    closes = [r.open_until for r in recipients if r.open_until is not None]
    message = OutboundMessage(
        sender=campaign.effective_sender,
        destinations=[r.to_number for r in recipients],
        body=request.body,
        status_callback_url=status_callback_url(),
        # One expiry per request: the earliest end of its recipients' windows, so that none can get it later.
        expiry_seconds=message_expiry_seconds(now=timezone.now(), open_until=min(closes)) if closes else None,
    )
    try:
        results = backend.send_message(message)
    except Exception:
        # The backend broke its contract (it classifies provider errors itself): whether the provider
        # took the message cannot be known, so these sends must not be retried blindly.
        logger.exception("SMS backend raised instead of answering; %d sends flagged unknown", len(recipients))
        return [SendResult(destination=r.to_number) for r in recipients]
    if len(results) != len(recipients):
        logger.error("SMS backend answered %d results for %d destinations", len(results), len(recipients))
        return [SendResult(destination=r.to_number) for r in recipients]
    return results


def _claim(*, campaign_id: int, recipients: list[_Recipient]) -> set[int]:
    """queued -> sending for those still queued, still eligible, in a campaign still sending."""
    eligible = (
        contacts_with_exclusion_reason(Contact.objects.filter(pk__in=[r.contact_id for r in recipients]))
        .filter(exclusion_reason=ELIGIBLE)
        .values("pk")
    )
    with transaction.atomic():
        ids = set(
            CampaignSend.objects.filter(
                id__in=[r.send_id for r in recipients],
                status=S.QUEUED,
                campaign__status=Campaign.Status.SENDING,
                contact_id__in=eligible,
            )
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("id", flat=True)
        )
        if ids:
            CampaignSend.objects.filter(id__in=ids).update(
                status=S.SENDING, attempts=F("attempts") + 1, status_updated_at=timezone.now()
            )
    return ids


def retry_delay(*, attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter, bounded: base * 2^(attempt-1), drawn from its upper half."""
    ceiling = min(settings.SEND_RETRY_MAX_SECONDS, settings.SEND_RETRY_BASE_SECONDS * 2 ** max(0, attempt - 1))
    delay = random.uniform(ceiling / 2, ceiling)
    return max(delay, min(retry_after or 0.0, settings.SEND_RETRY_MAX_SECONDS))


# How long a worker keeps trying to record what the provider answered while the database is unreachable.
RECORD_RETRY_SECONDS = 30.0


def _record_results_surely(**kwargs) -> SendError | None:
    """_record_results, tried again while the database is away (a restart, a failover): the provider has
    these messages, and unrecorded they would end `unknown`. Safe to repeat: each
    update is conditional on the send still being `sending`."""
    deadline = time.monotonic() + RECORD_RETRY_SECONDS
    while True:
        try:
            return _record_results(**kwargs)
        except (OperationalError, InterfaceError):
            if connection.in_atomic_block or time.monotonic() > deadline:
                raise
            logger.warning("database unreachable while recording sends; trying again")
            connection.close()  # a broken connection is not reopened by itself
            time.sleep(1)


def _record_results(
    *, campaign_id: int, outcomes: list[tuple[_Recipient, SendResult, "_Request"]], unsent: list[int]
) -> SendError | None:
    """Record each destination's outcome in one transaction; returns the account-level error if any.
    `unsent` were claimed but not sent (the campaign halted): they go back to the queue as they were."""
    now = timezone.now()
    sent: dict[int, tuple[str, str, int]] = {}  # send id -> (message uuid, body, segments)
    failed: dict[tuple[str, str], list[int]] = defaultdict(list)
    retry: dict[tuple[str, str, float], list[int]] = defaultdict(list)
    requeue: list[int] = list(unsent)
    unknown: dict[str, list[int]] = defaultdict(list)
    account_error: SendError | None = None
    attempts = {recipient.send_id: recipient.attempts + 1 for recipient, _, _ in outcomes}
    for recipient, result, request in outcomes:
        error = result.error
        if result.ok:
            sent[recipient.send_id] = (result.message_uuid, request.body, request.segments)
        elif error is None:
            unknown["the backend answered neither a message id nor an error; not re-sent"].append(recipient.send_id)
        elif error.code in AMBIGUOUS_ERROR_CODES:
            unknown[f"{error.message} (the provider may have taken it; not re-sent)"].append(recipient.send_id)
        elif error.error_class is ErrorClass.ACCOUNT:
            account_error = account_error or error
            requeue.append(recipient.send_id)
        elif error.error_class is ErrorClass.TRANSIENT and attempts[recipient.send_id] < settings.SEND_MAX_ATTEMPTS:
            # One delay per request and error: the jitter spreads requests, not recipients of one request.
            retry[(error.code, error.message, error.retry_after or 0.0)].append(recipient.send_id)
        else:
            failed[(error.code, error.message)].append(recipient.send_id)

    deltas: dict[str, int] = defaultdict(int)
    failed_by_error_code: dict[str, int] = defaultdict(int)

    def moved(to_status: str, count: int) -> None:
        for name, delta in transition_deltas(from_status=S.SENDING, to_status=to_status, count=count).items():
            deltas[name] += delta

    with transaction.atomic():
        # Only the sends this call moves count their segments: a retry after a commit whose acknowledgement was
        # lost (_record_results_surely) finds them sent already and must not add their segments again.
        moving = list(
            CampaignSend.objects.select_for_update()
            .filter(id__in=list(sent), status=S.SENDING)
            .order_by("id")
            .values_list("id", flat=True)
        )
        handed_over, sent = sent, {send_id: sent[send_id] for send_id in moving}
        if sent:
            n = CampaignSend.objects.filter(id__in=list(sent), status=S.SENDING).update(
                status=S.SENT,
                sent_at=now,
                status_updated_at=now,
                error_code="",
                error_message="",
                next_attempt_at=None,
                provider_message_uuid=Case(*[When(id=i, then=Value(u)) for i, (u, _, _) in sent.items()]),
                body=Case(*[When(id=i, then=Value(b)) for i, (_, b, _) in sent.items()]),
                segments=Case(*[When(id=i, then=Value(n)) for i, (_, _, n) in sent.items()]),
            )
            moved(S.SENT, n)
        for (code, message), send_ids in failed.items():
            n = CampaignSend.objects.filter(id__in=send_ids, status=S.SENDING).update(
                status=S.FAILED, error_code=code[:16], error_message=message, status_updated_at=now
            )
            moved(S.FAILED, n)
            failed_by_error_code[code[:16]] += n
        for (code, message, retry_after), send_ids in retry.items():
            attempt = max(attempts[send_id] for send_id in send_ids)
            due = now + timedelta(seconds=retry_delay(attempt=attempt, retry_after=retry_after or None))
            CampaignSend.objects.filter(id__in=send_ids, status=S.SENDING).update(
                status=S.QUEUED, next_attempt_at=due, error_code=code[:16], error_message=message, status_updated_at=now
            )
        if requeue:
            # Not the recipient's fault: the attempt is given back, and resume sends at once.
            CampaignSend.objects.filter(id__in=requeue, status=S.SENDING).update(
                status=S.QUEUED,
                attempts=F("attempts") - 1,
                next_attempt_at=None,
                error_code=account_error.code[:16] if account_error else "",
                error_message=account_error.message if account_error else "",
                status_updated_at=now,
            )
        for message, send_ids in unknown.items():
            n = CampaignSend.objects.filter(id__in=send_ids, status=S.SENDING).update(
                status=S.UNKNOWN, error_message=message, status_updated_at=now
            )
            moved(S.UNKNOWN, n)
        campaign_counters_add(
            campaign_id=campaign_id,
            deltas=deltas,
            segments=sum(n for _, _, n in sent.values()),
            failed_by_error_code=failed_by_error_code,
        )
    # A provider can call back before this commit: such reports were stored unmatched, and are applied now.
    delivery_reports_attach_many(message_uuids=[uuid for uuid, _, _ in handed_over.values()])
    return account_error


# --- campaign-wide housekeeping --------------------------------------------------------------------------


def campaign_complete_if_done(*, campaign_id: int) -> bool:
    """Complete a sending campaign with nothing left queued or in flight; True if this call completed it."""
    campaign = Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.SENDING).first()
    if campaign is None or campaign_has_unfinished_sends(campaign_id=campaign_id):
        return False
    try:
        campaign_complete(campaign=campaign)  # conditional on `sending`: exactly one caller wins
    except ApplicationError:
        return False
    cache.delete_many(_window_keys(campaign_id))
    return True


def sends_cancel_queued(*, campaign_id: int) -> int:
    """Skip (reason: cancelled) every send of a cancelled campaign that has not gone out."""
    with transaction.atomic():
        n = CampaignSend.objects.filter(campaign_id=campaign_id, status=S.QUEUED).update(
            status=S.SKIPPED, skip_reason=CampaignSend.SkipReason.CANCELLED, status_updated_at=timezone.now()
        )
        campaign_counters_add(
            campaign_id=campaign_id,
            deltas=transition_deltas(from_status=S.QUEUED, to_status=S.SKIPPED, count=n),
            skipped_by_reason={CampaignSend.SkipReason.CANCELLED: n},
        )
    return n


def sends_reconcile_stuck(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Settle sends left in `sending` by a process that died mid-call: ask the provider where a message id
    was recorded, else flag them `unknown` for staff. Never sends them again."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.SEND_STUCK_AFTER_SECONDS)
    stuck = list(
        CampaignSend.objects.filter(status=S.SENDING, status_updated_at__lt=cutoff).values_list(
            "id", "campaign_id", "provider_message_uuid", "error_code"
        )[:limit]
    )
    if not stuck:
        return 0
    with get_connection() as backend:
        for send_id, campaign_id, message_uuid, error_code in stuck:
            try:
                provider_status = _provider_status(backend, message_uuid)
            except BackendError as exc:
                logger.warning("could not reconcile send %s now, next tick will: %s", send_id, exc)
                continue
            if provider_status is None:
                to_status, note = S.UNKNOWN, "the worker stopped between the provider call and the commit"
            else:
                to_status, note = _PROVIDER_STATUS.get(provider_status, S.SENT), f"reconciled: {provider_status}"
            with transaction.atomic():
                n = CampaignSend.objects.filter(id=send_id, status=S.SENDING).update(
                    status=to_status, error_message=note, status_updated_at=now
                )
                campaign_counters_add(
                    campaign_id=campaign_id,
                    deltas=transition_deltas(from_status=S.SENDING, to_status=to_status, count=n),
                    failed_by_error_code={error_code: n} if to_status in FAILURE_STATUSES else None,
                )
    return len(stuck)


def _provider_status(backend: BaseSmsBackend, message_uuid: str | None) -> str | None:
    """The provider's status of the message; None if it does not know it (or no id was recorded).
    Raises BackendError when the provider could not be asked just now."""
    if not message_uuid:
        return None
    try:
        return backend.fetch_message_status(message_uuid)
    except NotImplementedError:
        return None


def sends_dispatch_tick() -> None:
    """The beat's round: top up dispatch of every sending campaign, complete the finished ones, settle
    cancelled campaigns and stuck sends."""
    for campaign_id in Campaign.objects.filter(status=Campaign.Status.SENDING).values_list("pk", flat=True):
        if not campaign_complete_if_done(campaign_id=campaign_id):
            dispatch_top_up(campaign_id=campaign_id)
    cancelled = Campaign.objects.filter(status=Campaign.Status.CANCELLED, queued_count__gt=0)
    for campaign_id in cancelled.values_list("pk", flat=True):
        sends_cancel_queued(campaign_id=campaign_id)
    sends_reconcile_stuck()


# --- the window of chunks in the broker -----------------------------------------------------------------


def _window_keys(campaign_id: int) -> list[str]:
    prefix = f"smscampaigns:dispatch:{campaign_id}:"
    return [prefix + "outstanding", prefix + "cursor", prefix + "lock"]


def dispatch_top_up(*, campaign_id: int) -> int:
    """Queue the campaign's next chunks of due sends, up to DISPATCH_WINDOW_CHUNKS in the broker at once.

    Chunks are taken in id order from a cursor; when the cursor reaches the end and the window is empty,
    the next pass starts from the first id, which picks up retries and deferrals that have become due and
    any chunk lost with a killed worker. Returns how many chunk messages were queued.
    """
    outstanding_key, cursor_key, lock_key = _window_keys(campaign_id)
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
        cache.set(outstanding_key, outstanding + len(ranges), timeout=settings.DISPATCH_LEASE_SECONDS)
        cache.set(cursor_key, ranges[-1][1], timeout=None)
    finally:
        cache.delete(lock_key)
    from sends.tasks import sends_dispatch_chunk as chunk_task  # tasks import this module

    for first_id, last_id in ranges:
        transaction.on_commit(lambda f=first_id, la=last_id: chunk_task.delay(campaign_id, f, la))
    return len(ranges)


def _window_touch(campaign_id: int) -> None:
    cache.touch(_window_keys(campaign_id)[0], timeout=settings.DISPATCH_LEASE_SECONDS)


def _window_release(campaign_id: int) -> None:
    outstanding_key = _window_keys(campaign_id)[0]
    try:
        remaining = cache.decr(outstanding_key)
    except ValueError:
        return  # the window expired meanwhile: it is being rebuilt
    if remaining < 0:
        cache.set(outstanding_key, 0, timeout=settings.DISPATCH_LEASE_SECONDS)
    else:
        # Not every cache keeps the expiry through decr (the file-based one resets it to its default).
        cache.touch(outstanding_key, timeout=settings.DISPATCH_LEASE_SECONDS)
