"""Reconciliation: a send left in `sending` means the process died between the claim and recording the
result. It is never sent again blindly: the provider is asked where a message id was recorded, else the
send is flagged `unknown` for staff."""

from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from sends.backends import get_connection
from sends.backends.base import BackendError, BaseSmsBackend
from sends.models import CampaignSend
from sends.services.counters import FAILURE_STATUSES, campaign_counters_add, transition_deltas

log = structlog.get_logger(__name__)
S = CampaignSend.Status

# What a provider status means for a send found stuck in `sending` (fetch_message_status).
PROVIDER_STATUS = {
    "delivered": S.DELIVERED,
    "undelivered": S.UNDELIVERED,
    "failed": S.FAILED,
    "rejected": S.FAILED,
}


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
                log.warning("dispatch_reconcile_postponed", send_id=send_id, error=str(exc))
                continue
            _stuck_send_settle(
                send_id=send_id,
                campaign_id=campaign_id,
                error_code=error_code,
                provider_status=provider_status,
                now=now,
            )
    return len(stuck)


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
