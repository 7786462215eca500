"""Reconciliation: a send left in `sending` means the process died between the claim and recording the
result, or the provider did not answer in time (recording leaves such sends `sending`). It is never sent
again blindly: the provider is asked. With a message id recorded, its status is fetched. Without one (the
process died before it could record the answer, or no answer came), the provider's list of messages to that
number around the claim is searched: a message there that no send of ours accounts for is this send's,
which is then recorded as sent; none there means the provider never had it, and the send goes back to the
queue. Only a provider that cannot be searched leaves the send `unknown` for staff."""

from collections import defaultdict
from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from sends.backends import get_connection
from sends.backends.base import BackendError, BaseSmsBackend, ProviderMessage
from sends.domain_events import sends_failed_emit
from sends.models import CampaignSend
from sends.services.counters import FAILURE_STATUSES, campaign_counters_add, transition_deltas
from sends.services.delivery_reports import delivery_reports_attach_many
from sends.services.dispatch.recording import AMBIGUOUS_ERROR_CODES

log = structlog.get_logger(__name__)
S = CampaignSend.Status

# What a provider status means for a send found stuck in `sending`.
PROVIDER_STATUS = {
    "delivered": S.DELIVERED,
    "undelivered": S.UNDELIVERED,
    "failed": S.FAILED,
    "rejected": S.FAILED,
}
# The provider stamps a message with its own clock: a message accepted just after our claim may carry a
# time a little before it.
PROVIDER_CLOCK_MARGIN = timedelta(seconds=30)


def sends_reconcile_stuck(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Settle sends left in `sending` by a process that died mid-call (see the module docstring); returns
    how many were looked at. Never sends one again unless the provider provably never had it."""
    now = now or timezone.now()
    stuck_after = timedelta(seconds=settings.SEND_STUCK_AFTER_SECONDS)
    stuck = list(
        CampaignSend.objects.filter(status=S.SENDING, status_updated_at__lt=now - stuck_after)
        .order_by("status_updated_at", "id")
        .values_list("id", "campaign_id", "provider_message_uuid", "error_code", "to_number", "status_updated_at")[
            :limit
        ]
    )
    if not stuck:
        return 0
    unrecorded: dict[str, list[tuple]] = defaultdict(list)
    with get_connection() as backend:
        for send_id, campaign_id, message_uuid, error_code, to_number, claimed_at in stuck:
            if not message_uuid:
                unrecorded[to_number].append((send_id, campaign_id, claimed_at, error_code))
                continue
            try:
                provider_status = _provider_status(backend, message_uuid)
            except BackendError as exc:
                log.warning("dispatch_reconcile_postponed", send_id=send_id, error=str(exc))
                continue
            _stuck_send_settle(
                send_id=send_id,
                campaign_id=campaign_id,
                error_code=error_code,
                provider_status=provider_status,
                now=now,
            )
        for to_number, sends in unrecorded.items():
            _unrecorded_sends_settle(backend, to_number=to_number, sends=sends, stuck_after=stuck_after, now=now)
    return len(stuck)


def _unrecorded_sends_settle(
    backend: BaseSmsBackend, *, to_number: str, sends: list[tuple], stuck_after: timedelta, now: datetime
) -> None:
    """The sends to one number that died before recording any message id, settled from the provider's list
    of messages to that number: each takes the earliest message in its own window that no send of ours
    accounts for; a send with no such message is queued again."""
    since = min(claimed_at for _, _, claimed_at, _ in sends) - PROVIDER_CLOCK_MARGIN
    until = max(claimed_at for _, _, claimed_at, _ in sends) + stuck_after
    try:
        listed = backend.find_messages(to_number=to_number, since=since, until=until)
    except NotImplementedError:
        for send_id, campaign_id, _, error_code in sends:
            _stuck_send_settle(
                send_id=send_id, campaign_id=campaign_id, error_code=error_code, provider_status=None, now=now
            )
        return
    except BackendError as exc:
        log.warning("dispatch_reconcile_postponed", to_number_sends=[s[0] for s in sends], error=str(exc))
        return
    accounted = set(
        CampaignSend.objects.filter(provider_message_uuid__in=[m.message_uuid for m in listed]).values_list(
            "provider_message_uuid", flat=True
        )
    )
    unclaimed = sorted((m for m in listed if m.message_uuid not in accounted), key=lambda m: m.time)
    for send_id, campaign_id, claimed_at, error_code in sends:
        window_start, window_end = claimed_at - PROVIDER_CLOCK_MARGIN, claimed_at + stuck_after
        match = next((m for m in unclaimed if window_start <= m.time <= window_end), None)
        if match is None:
            _never_sent_requeue(send_id=send_id, campaign_id=campaign_id, error_code=error_code, now=now)
            continue
        unclaimed.remove(match)
        _found_send_record(send_id=send_id, campaign_id=campaign_id, message=match, now=now)


def _found_send_record(*, send_id: int, campaign_id: int, message: ProviderMessage, now: datetime) -> None:
    """The provider has the message: the send is recorded as sent, as it would have been, with the provider's
    id; its delivery report (already stored, or still to come) moves it on from there."""
    to_status = S.SENT
    with transaction.atomic():
        n = CampaignSend.objects.filter(id=send_id, status=S.SENDING).update(
            status=to_status,
            provider_message_uuid=message.message_uuid,
            sent_at=message.time,
            segments=message.units,
            error_code="",
            error_message=f"reconciled: found at the provider ({message.state})",
            next_attempt_at=None,
            status_updated_at=now,
        )
        campaign_counters_add(
            campaign_id=campaign_id,
            deltas=transition_deltas(from_status=S.SENDING, to_status=to_status, count=n),
            segments=message.units * n,
        )
        delivery_reports_attach_many(message_uuids=[message.message_uuid] if n else [])
    log.info("dispatch_reconcile_found", send_id=send_id, message_uuid=message.message_uuid)


def _never_sent_requeue(*, send_id: int, campaign_id: int, error_code: str, now: datetime) -> None:
    """The provider never had it: back to the queue at once. A worker killed mid-call may never have made the
    request, so its attempt is given back; a request that timed out did reach out, so that attempt counts,
    and a provider that keeps timing out ends the send failed after SEND_MAX_ATTEMPTS, not retried forever."""
    timed_out = error_code in AMBIGUOUS_ERROR_CODES
    stuck = CampaignSend.objects.filter(id=send_id, status=S.SENDING)
    if timed_out and stuck.filter(attempts__gte=settings.SEND_MAX_ATTEMPTS).exists():
        with transaction.atomic():
            n = stuck.update(
                status=S.FAILED,
                error_message="the provider timed out on every attempt and never received it",
                status_updated_at=now,
            )
            campaign_counters_add(
                campaign_id=campaign_id,
                deltas=transition_deltas(from_status=S.SENDING, to_status=S.FAILED, count=n),
                failed_by_error_code={error_code: n},
            )
        if n:
            sends_failed_emit([send_id])
        return
    n = stuck.update(
        status=S.QUEUED,
        attempts=F("attempts") if timed_out else Greatest(F("attempts") - 1, 0),
        next_attempt_at=None,
        error_message="reconciled: the provider never received it, queued again",
        status_updated_at=now,
    )
    if n:
        log.info("dispatch_reconcile_requeued", send_id=send_id)


def _stuck_send_settle(
    *, send_id: int, campaign_id: int, error_code: str, provider_status: str | None, now: datetime
) -> None:
    if provider_status is None:
        to_status, note = S.UNKNOWN, "the worker stopped between the provider call and the commit"
    else:
        to_status, note = PROVIDER_STATUS.get(provider_status, S.SENT), f"reconciled: {provider_status}"
    with transaction.atomic():
        n = CampaignSend.objects.filter(id=send_id, status=S.SENDING).update(
            status=to_status, error_message=note, status_updated_at=now
        )
        campaign_counters_add(
            campaign_id=campaign_id,
            deltas=transition_deltas(from_status=S.SENDING, to_status=to_status, count=n),
            failed_by_error_code={error_code: n} if to_status in FAILURE_STATUSES else None,
        )


def _provider_status(backend: BaseSmsBackend, message_uuid: str | None) -> str | None:
    """The provider's status of the message; None if it does not know it (or no id was recorded).
    Raises BackendError when the provider could not be asked just now."""
    if not message_uuid:
        return None
    try:
        return backend.fetch_message_status(message_uuid)
    except NotImplementedError:
        return None
