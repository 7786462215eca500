"""Delivery reports: Plivo's status callbacks applied to CampaignSend rows and to the campaign counters.

Plivo retries a callback that was not answered in time and may deliver callbacks out of order, so every
report is stored once (unique message_uuid + status) and a send's status only ever moves forward.
"""

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

import structlog
from django.db import connection, transaction
from django.utils import timezone

from contacts.models import ConsentEvent
from sends.listeners import message_listeners
from sends.models import CampaignSend, DeliveryReport
from sends.plivo_fields import plivo_decimal, plivo_int, plivo_number_e164, plivo_required, plivo_text
from sends.services.counters import FAILURE_STATUSES, campaign_counters_add_or_rebuild, transition_deltas
from sends.services.opt_outs import number_opt_out
from sends.webhook_selectors import send_for_message_uuid_locked
from smscampaigns.plivo_errors import NO_ERROR_CODES, error_code_meaning

log = structlog.get_logger(__name__)
S = CampaignSend.Status

CARRIER_OPT_OUT_CODE = "200"

# Plivo's message states mapped onto ours; "rejected" is the legacy name of a failure before sending.
PLIVO_STATUS: dict[str, str] = {
    "queued": S.QUEUED,
    "sent": S.SENT,
    "delivered": S.DELIVERED,
    "undelivered": S.UNDELIVERED,
    "failed": S.FAILED,
    "rejected": S.FAILED,
}


class ReportOutcome(StrEnum):
    APPLIED = "applied"  # the send moved forward
    RECORDED = "recorded"  # stored; the send was already as far or further (a late or repeated state)
    DUPLICATE = "duplicate"  # this message_uuid + status was already stored: a retried callback
    UNMATCHED = "unmatched"  # stored; no send has this message_uuid (yet)


@dataclass(frozen=True)
class DeliveryReportData:
    message_uuid: str
    status: str  # Plivo's word, lower case
    error_code: str
    units: int | None
    total_amount: Decimal | None
    to_number: str  # as Plivo wrote it; only read for a carrier opt-out
    payload: dict[str, str]


# Units becomes a send's segments; both columns are small integers.
UNITS_MAX = 32_767


def delivery_report_parse(payload: Mapping[str, str]) -> DeliveryReportData:
    """Read a status callback's fields (Plivo's names); ApplicationError names a missing or malformed one,
    including one too long or too large for the column it is stored in."""
    column = DeliveryReport._meta.get_field
    amount = column("total_amount")
    return DeliveryReportData(
        message_uuid=plivo_required(payload, "MessageUUID", max_length=column("message_uuid").max_length),
        status=plivo_required(payload, "Status", max_length=column("status").max_length, lower=True),
        error_code=plivo_text(payload, "ErrorCode", max_length=column("error_code").max_length),
        units=plivo_int(payload, "Units", max_value=UNITS_MAX),
        total_amount=plivo_decimal(
            payload, "TotalAmount", max_digits=amount.max_digits, decimal_places=amount.decimal_places
        ),
        to_number=(payload.get("To") or "").strip(),
        payload=dict(payload),
    )


def delivery_report_record(*, payload: Mapping[str, str]) -> ReportOutcome:
    """Store one status callback and apply it to its send (forward only), the counters and suppressions."""
    report = delivery_report_parse(payload)
    with transaction.atomic():
        send = send_for_message_uuid_locked(message_uuid=report.message_uuid)
        if send is None:
            # Perhaps dispatch is committing this uuid right now: wait for its delivery_reports_attach, if
            # under way, then look again, so that the report is either matched here or attached there.
            _message_uuid_lock(report.message_uuid)
            send = send_for_message_uuid_locked(message_uuid=report.message_uuid)
        if not _report_insert(report=report, send_id=send.pk if send is not None else None):
            return ReportOutcome.DUPLICATE
        if report.error_code == CARRIER_OPT_OUT_CODE:
            number = send.to_number if send is not None else plivo_number_e164(report.to_number)
            if number:
                number_opt_out(
                    e164=number,
                    method=ConsentEvent.Method.CARRIER_ERROR,
                    source=f"carrier opt-out (Plivo error {CARRIER_OPT_OUT_CODE})",
                    text=f"Plivo error {CARRIER_OPT_OUT_CODE}",
                )
        if send is None:
            # Under the uuid lock: a listener recording its own message's uuid takes it too (delivery_report_lock),
            # so the report is either applied here or found by the listener there.
            if any(listener.delivery_report_unmatched(report=report) for listener in message_listeners()):
                return ReportOutcome.APPLIED
            log.info("delivery_report_unmatched", message_uuid=report.message_uuid, status=report.status)
            return ReportOutcome.UNMATCHED
        return _send_apply_report(send=send, report=report)


def _report_insert(*, report: DeliveryReportData, send_id: int | None) -> bool:
    """Store the report unless this message_uuid + status is stored already; True when it was new.

    One INSERT ... ON CONFLICT DO NOTHING RETURNING (PostgreSQL, SQLite >= 3.35): the ORM would need a
    savepoint and a caught IntegrityError, three round trips on the busiest path of the webhooks.
    """
    values = {
        "message_uuid": report.message_uuid,
        "send": send_id,
        "status": report.status,
        "error_code": report.error_code,
        "units": report.units,
        "total_amount": report.total_amount,
        "payload": report.payload,
        "received_at": timezone.now(),
    }
    fields = [DeliveryReport._meta.get_field(name) for name in values]
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(DeliveryReport._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) "
        f"ON CONFLICT ({quote('message_uuid')}, {quote('status')}) DO NOTHING RETURNING {quote('id')}"
    )
    params = [field.get_db_prep_save(values[field.name], connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() is not None


def _send_apply_report(*, send: CampaignSend, report: DeliveryReportData) -> ReportOutcome:
    """Move a (locked) send forward to the report's status, with cost, segments and error; update counters."""
    new_status = PLIVO_STATUS.get(report.status)
    if new_status is None:
        log.warning("delivery_report_unknown_status", message_uuid=report.message_uuid, status=report.status)
        return ReportOutcome.RECORDED
    old_status = send.status
    if not CampaignSend.status_moves_forward(old_status, new_status):
        return ReportOutcome.RECORDED

    now = timezone.now()
    old_cost = send.cost or Decimal("0")
    # Segments count towards the campaign once a message was handed over (as campaign_counters_rebuild does).
    old_counted_segments = send.segments if send.sent_at else 0
    report_apply_to(send, report=report, new_status=new_status, now=now)
    CampaignSend.objects.filter(pk=send.pk).update(
        status=send.status,
        status_updated_at=send.status_updated_at,
        sent_at=send.sent_at,
        segments=send.segments,
        cost=send.cost,
        error_code=send.error_code,
        error_message=send.error_message,
    )
    campaign_counters_add_or_rebuild(
        campaign_id=send.campaign_id,
        deltas=transition_deltas(from_status=old_status, to_status=new_status),
        segments=(send.segments if send.sent_at else 0) - old_counted_segments,
        cost=(send.cost or Decimal("0")) - old_cost,
        failed_by_error_code={send.error_code: 1} if new_status in FAILURE_STATUSES else None,
    )
    return ReportOutcome.APPLIED


def delivery_report_lock(message_uuid: str) -> None:
    """For a listener about to record the uuid of a message of its own: taken in the same transaction, it makes
    a report for that uuid wait for the commit, or be committed (unmatched, to be looked up) before it."""
    _message_uuid_lock(message_uuid)


def report_apply_to(message, *, report: DeliveryReportData, new_status: str, now) -> None:
    """Set a report's status (already known to move forward), segments, cost and error on a message row of
    CampaignSend's shape (a campaign send, or an app's own message), in memory; the caller saves it."""
    message.status = new_status
    message.status_updated_at = now
    if CampaignSend.STATUS_ORDER[new_status] >= CampaignSend.STATUS_ORDER[S.SENT] and message.sent_at is None:
        message.sent_at = now
    if report.units:
        message.segments = report.units
    if report.total_amount is not None and report.total_amount > 0:
        message.cost = report.total_amount
    if report.error_code not in NO_ERROR_CODES:
        message.error_code = report.error_code
        message.error_message = error_code_meaning(report.error_code)


def _message_uuid_lock(message_uuid: str) -> None:
    """A transaction-scoped lock on one message uuid (PostgreSQL advisory lock; SQLite runs one writer anyway)."""
    _message_uuid_locks([message_uuid])


def _message_uuid_locks(message_uuids: list[str]) -> None:
    """Transaction-scoped locks on several message uuids in one round trip, taken in a fixed order."""
    if connection.vendor != "postgresql" or not message_uuids:
        return
    keys = sorted({int.from_bytes(hashlib.sha256(u.encode()).digest()[:8], "big", signed=True) for u in message_uuids})
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS k", [keys])


def delivery_reports_attach_many(*, message_uuids: Iterable[str]) -> int:
    """delivery_reports_attach for every send whose uuid the dispatcher has just committed; one query when, as
    usual, no report came early. Under the uuid locks, a report that missed its send is already committed."""
    uuids = sorted({u for u in message_uuids if u})
    if not uuids:
        return 0
    with transaction.atomic():
        _message_uuid_locks(uuids)
        early = set(
            DeliveryReport.objects.filter(message_uuid__in=uuids, send__isnull=True).values_list(
                "message_uuid", flat=True
            )
        )
    send_ids = CampaignSend.objects.filter(provider_message_uuid__in=early).values_list("id", flat=True)
    return sum(delivery_reports_attach(send_id=send_id) for send_id in send_ids)


def delivery_reports_attach(*, send_id: int) -> int:
    """Apply reports that arrived before the send's message_uuid was committed (Plivo can be that fast).

    For the dispatcher to call right after it stores a send's provider_message_uuid; returns how many.
    """
    message_uuid = CampaignSend.objects.filter(pk=send_id).values_list("provider_message_uuid", flat=True).first()
    if not message_uuid:
        return 0
    with transaction.atomic():
        # The uuid lock before the row lock, in the same order as an unmatched report takes them.
        _message_uuid_lock(message_uuid)
        send = CampaignSend.objects.select_for_update().filter(pk=send_id, provider_message_uuid=message_uuid).first()
        if send is None:
            return 0
        orphans = list(DeliveryReport.objects.filter(message_uuid=message_uuid, send__isnull=True).order_by("id"))
        for orphan in orphans:
            # Report rows are stored whole; re-reading the payload keeps one parser for both paths.
            _send_apply_report(send=send, report=delivery_report_parse(orphan.payload))
        DeliveryReport.objects.filter(pk__in=[orphan.pk for orphan in orphans]).update(send=send)
        return len(orphans)
