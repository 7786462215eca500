"""Delivery reports: Plivo's status callbacks, stored by the webhook, applied in batches by the drainer.

The webhook stores a report and answers, nothing more (delivery_report_record): one INSERT, unique on
message_uuid + status, so that a retried callback is stored once, and the same statement remembers the
signature's nonces (webhook_nonces_record_with_row): one commit per report. Applying reports to their sends and to
the campaign counters happens off the request path (delivery_reports_drain, run by beat every
DELIVERY_REPORTS_DRAIN_SECONDS), many reports per transaction: one counter update per campaign and batch
instead of one per report, which made every report of a campaign queue on the campaign's row lock. A
report's pending flag is cleared in the transaction that applies it, so a drainer that dies mid-batch leaves
the whole batch pending for the next one, and nothing is applied twice. Plivo may deliver callbacks out of
order; a send's status only ever moves forward, within a batch and across batches.
"""

import hashlib
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

import structlog
from django.db import connection, transaction
from django.utils import timezone

from contacts.bulksql import sql_row_sources, values_in
from contacts.models import ConsentEvent
from sends.domain_events import send_events_emit
from sends.listeners import message_listeners
from sends.models import CampaignSend, DeliveryReport
from sends.plivo_fields import plivo_decimal, plivo_int, plivo_number_e164, plivo_required, plivo_text
from sends.services.counters import FAILURE_STATUSES, campaign_counters_add_or_rebuild, transition_deltas
from sends.services.opt_outs import number_opt_out
from sends.services.webhook_nonces import NonceClaim, webhook_nonces_record, webhook_nonces_record_with_row
from sends.webhook_selectors import ReportedSend, send_to_number_for_message_uuid, sends_for_message_uuids_locked
from smscampaigns.hot_queries import hot_query
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
    ACCEPTED = "accepted"  # stored, pending: the drainer applies it
    APPLIED = "applied"  # the send moved forward
    RECORDED = "recorded"  # stored; the send was already as far or further (a late or repeated state)
    DUPLICATE = "duplicate"  # this message_uuid + status was already stored: a retried callback
    UNMATCHED = "unmatched"  # stored; no send has this message_uuid (yet)
    REPLAYED = "replayed"  # not stored: its signature's nonce came on a request with other content


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


def delivery_report_record(
    *, payload: Mapping[str, str], nonces: Mapping[str, str] | None = None, fingerprint: uuid.UUID | None = None
) -> ReportOutcome:
    """Store one status callback, pending, for delivery_reports_drain to apply: ACCEPTED, or DUPLICATE when
    this message_uuid + status is stored already. A carrier opt-out is honoured at once, not in the batch.

    With the `nonces` of the callback's signature and the `fingerprint` of its request (the webhook's), they
    are remembered in the statement that stores the report (webhook_nonces_record_with_row), REPLAYED when
    one of them came on other content. A malformed payload (ApplicationError) writes nothing: the caller
    remembers its nonces. A database error propagates.
    """
    report = delivery_report_parse(payload)
    if nonces is not None and fingerprint is not None:
        if report.error_code == CARRIER_OPT_OUT_CODE:  # more than one row: the nonces first, on their own
            if not webhook_nonces_record(nonces=nonces, fingerprint=fingerprint):
                return ReportOutcome.REPLAYED
        else:
            claim = webhook_nonces_record_with_row(
                nonces=nonces,
                fingerprint=fingerprint,
                model=DeliveryReport,
                values=_report_row(report),
                unique_fields=("message_uuid", "status"),
            )
            if claim is not NonceClaim.RETRIED:
                return _CLAIM_OUTCOMES[claim]
    if report.error_code != CARRIER_OPT_OUT_CODE:
        return ReportOutcome.ACCEPTED if _report_insert(report=report) else ReportOutcome.DUPLICATE
    with transaction.atomic():
        if not _report_insert(report=report):
            return ReportOutcome.DUPLICATE
        number = send_to_number_for_message_uuid(message_uuid=report.message_uuid) or plivo_number_e164(
            report.to_number
        )
        if number:
            number_opt_out(
                e164=number,
                method=ConsentEvent.Method.CARRIER_ERROR,
                source=f"carrier opt-out (Plivo error {CARRIER_OPT_OUT_CODE})",
                text=f"Plivo error {CARRIER_OPT_OUT_CODE}",
            )
    return ReportOutcome.ACCEPTED


_CLAIM_OUTCOMES = {
    NonceClaim.WRITTEN: ReportOutcome.ACCEPTED,
    NonceClaim.CONFLICT: ReportOutcome.DUPLICATE,
    NonceClaim.REPLAYED: ReportOutcome.REPLAYED,
}


def _report_row(report: DeliveryReportData) -> dict[str, object]:
    """The columns of a report stored pending, by field name."""
    return {
        "message_uuid": report.message_uuid,
        "status": report.status,
        "error_code": report.error_code,
        "units": report.units,
        "total_amount": report.total_amount,
        "payload": report.payload,
        "received_at": timezone.now(),
        "pending": True,
    }


def _report_insert(*, report: DeliveryReportData) -> bool:
    """Store the report, pending, unless this message_uuid + status is stored already; True when it was new.

    One INSERT ... ON CONFLICT DO NOTHING RETURNING (PostgreSQL, SQLite >= 3.35): the ORM would need a
    savepoint and a caught IntegrityError, three round trips on the busiest path of the webhooks. A hot_query:
    run again after a lost connection, a first run that committed unseen makes it a duplicate, as Plivo's
    retry of it would be.
    """
    values = _report_row(report)
    fields = [DeliveryReport._meta.get_field(name) for name in values]
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(DeliveryReport._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) "
        f"ON CONFLICT ({quote('message_uuid')}, {quote('status')}) DO NOTHING RETURNING {quote('id')}"
    )
    params = [field.get_db_prep_save(values[field.name], connection) for field in fields]
    return bool(hot_query(sql, params))


# Reports applied per transaction: large enough that a flood costs one counter update per campaign every few
# hundred reports, small enough that a batch holds its locks for well under a second.
DRAIN_BATCH_SIZE = 500
# One drain stops after this long even if reports keep arriving, so that a worker returns to its other
# tasks; the next beat tick carries on.
DRAIN_MAX_SECONDS = 20.0


def delivery_reports_drain(
    *, batch_size: int = DRAIN_BATCH_SIZE, max_seconds: float = DRAIN_MAX_SECONDS
) -> dict[int, ReportOutcome]:
    """Apply pending reports, oldest first, a batch per transaction, until none is left (or `max_seconds`
    passed); returns each report's outcome by its id. Safe beside other drainers: each takes other rows."""
    outcomes: dict[int, ReportOutcome] = {}
    deadline = time.monotonic() + max_seconds
    while True:
        applied = delivery_reports_apply_batch(limit=batch_size)
        outcomes.update(applied)
        if len(applied) < batch_size or time.monotonic() > deadline:
            return outcomes


def delivery_reports_apply_batch(*, limit: int) -> dict[int, ReportOutcome]:
    """Apply up to `limit` pending reports in one transaction; returns each one's outcome by its id."""
    with transaction.atomic():
        # Tuples, not model instances: a model built per report only to read two fields cost about a sixth of
        # the drainer's CPU.
        rows = list(
            DeliveryReport.objects.select_for_update(skip_locked=True)
            .filter(pending=True)
            .order_by("id")
            .values_list("id", "payload")[:limit]
        )
        if not rows:
            return {}
        reports = [(pk, delivery_report_parse(payload)) for pk, payload in rows]
        uuids = sorted({report.message_uuid for _, report in reports})
        # The uuid locks before the sends' row locks, in the order delivery_reports_attach takes them: a send
        # whose uuid a dispatcher is committing now is either seen here, or will see this report unmatched.
        _message_uuid_locks(uuids)
        sends = sends_for_message_uuids_locked(message_uuids=uuids)
        matched = [(pk, sends[report.message_uuid], report) for pk, report in reports if report.message_uuid in sends]
        outcomes = dict(
            zip(
                [pk for pk, _, _ in matched],
                _sends_apply_reports([(send, report) for _, send, report in matched]),
                strict=True,
            )
        )
        unmatched = [pk for pk, report in reports if report.message_uuid not in sends]
        for pk, report in reports:
            if report.message_uuid not in sends:
                outcomes[pk] = _report_unmatched(report)
        _rows_update(DeliveryReport, ["send", "pending"], [(pk, [send.pk, False]) for pk, send, _ in matched])
        # Their send stays empty even if its uuid was committed since: delivery_reports_attach looks for that.
        DeliveryReport.objects.filter(pk__in=unmatched).update(pending=False)
    return {pk: outcomes[pk] for pk, _ in reports}


def _report_unmatched(report: DeliveryReportData) -> ReportOutcome:
    # Under the uuid lock: a listener recording its own message's uuid takes it too (delivery_report_lock), so
    # the report is either applied here or found by the listener there; a campaign send's dispatcher applies
    # it in delivery_reports_attach.
    for listener in message_listeners():
        try:
            # A savepoint each: a listener that fails must not fail the batch, or that one report would hold
            # back every report after it, batch after batch. The report stays stored.
            with transaction.atomic():
                if listener.delivery_report_unmatched(report=report):
                    return ReportOutcome.APPLIED
        except Exception as exc:
            log.error(
                "delivery_report_listener_failed",
                listener=type(listener).__name__,
                message_uuid=report.message_uuid,
                error=exc.__class__.__name__,
            )
    log.info("delivery_report_unmatched", message_uuid=report.message_uuid, status=report.status)
    return ReportOutcome.UNMATCHED


@dataclass(frozen=True)
class _Counted:
    """What the counters hold of a send before a batch moved it."""

    status: str
    segments: int  # counted once the message was handed over (as campaign_counters_rebuild does)
    cost: Decimal

    @classmethod
    def of(cls, send: "CampaignSend | ReportedSend") -> "_Counted":
        return cls(status=send.status, segments=send.segments if send.sent_at else 0, cost=send.cost or Decimal("0"))


def _sends_apply_reports(
    pairs: list[tuple[CampaignSend | ReportedSend, DeliveryReportData]],
) -> list[ReportOutcome]:
    """Apply reports, in order, to their locked sends (one object per send), forward only; save the sends that
    moved, update each campaign's counters once and emit the sends' events. Returns each report's outcome."""
    now = timezone.now()
    before: dict[int, _Counted] = {}
    outcomes = []
    for send, report in pairs:
        before.setdefault(send.pk, _Counted.of(send))
        new_status = PLIVO_STATUS.get(report.status)
        if new_status is None:
            log.warning("delivery_report_unknown_status", message_uuid=report.message_uuid, status=report.status)
            outcomes.append(ReportOutcome.RECORDED)
        elif not CampaignSend.status_moves_forward(send.status, new_status):
            outcomes.append(ReportOutcome.RECORDED)
        else:
            report_apply_to(send, report=report, new_status=new_status, now=now)
            outcomes.append(ReportOutcome.APPLIED)
    moved = sorted(
        {send.pk: send for send, _ in pairs if send.status != before[send.pk].status}.values(), key=lambda s: s.pk
    )
    if not moved:
        return outcomes
    _sends_save(moved)
    changes: dict[int, dict] = defaultdict(
        lambda: {"deltas": Counter(), "segments": 0, "cost": Decimal("0"), "failed_by_error_code": Counter()}
    )
    for send in moved:
        was, campaign = before[send.pk], changes[send.campaign_id]
        campaign["deltas"].update(transition_deltas(from_status=was.status, to_status=send.status))
        campaign["segments"] += (send.segments if send.sent_at else 0) - was.segments
        campaign["cost"] += (send.cost or Decimal("0")) - was.cost
        if send.status in FAILURE_STATUSES:
            campaign["failed_by_error_code"][send.error_code] += 1
    # Campaign rows in id order, as every batch takes them: two drainers never wait on each other in a circle.
    for campaign_id in sorted(changes):
        change = changes[campaign_id]
        campaign_counters_add_or_rebuild(
            campaign_id=campaign_id,
            deltas={name: delta for name, delta in change["deltas"].items() if delta},
            segments=change["segments"],
            cost=change["cost"],
            failed_by_error_code=dict(change["failed_by_error_code"]) or None,
        )
    send_events_emit(moved)
    return outcomes


# The columns a report may change on its send (report_apply_to), written for a whole batch in one UPDATE.
REPORT_SEND_FIELDS = ("status", "status_updated_at", "sent_at", "segments", "cost", "error_code", "error_message")


def _sends_save(sends: list[CampaignSend | ReportedSend]) -> None:
    fields = [CampaignSend._meta.get_field(name) for name in REPORT_SEND_FIELDS]
    _rows_update(CampaignSend, REPORT_SEND_FIELDS, [(s.pk, [getattr(s, f.attname) for f in fields]) for s in sends])


def _rows_update(model, names: Iterable[str], rows: list[tuple[int, list]]) -> None:
    """Set columns of many rows, each (pk, values) its own values, in one statement on PostgreSQL (an UPDATE
    from the rows as one JSON document, sql_row_sources: arrays quoted value by value on the client were a
    third of the drainer's CPU; CASE per column or a statement per row cost seconds a batch under load);
    elsewhere one statement per row."""
    if not rows:
        return
    fields = [model._meta.get_field(name) for name in names]
    pk = model._meta.pk
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    if connection.vendor == "postgresql":
        [(source, params)] = sql_row_sources(
            {f.column: f.db_type(connection) for f in [pk, *fields]}, [(row_pk, *values) for row_pk, values in rows]
        )
        sets = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in fields)
        key = quote(pk.column)
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {table} SET {sets} FROM ({source}) AS v WHERE {table}.{key} = v.{key}", params)
        return
    sets = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET {sets} WHERE {quote(pk.column)} = %s",
            [
                [*(f.get_db_prep_save(value, connection) for f, value in zip(fields, values, strict=True)), row_pk]
                for row_pk, values in rows
            ],
        )


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
            DeliveryReport.objects.filter(
                message_uuid__in=values_in(uuids, db_type="text"), send__isnull=True, pending=False
            ).values_list("message_uuid", flat=True)
        )
    send_ids = CampaignSend.objects.filter(provider_message_uuid__in=early).values_list("id", flat=True)
    return sum(delivery_reports_attach(send_id=send_id) for send_id in send_ids)


def delivery_reports_attach(*, send_id: int) -> int:
    """Apply reports that arrived before the send's message_uuid was committed (Plivo can be that fast) and
    that the drainer has already found unmatched; pending ones are the drainer's, which will find the send.

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
        orphans = list(
            DeliveryReport.objects.filter(message_uuid=message_uuid, send__isnull=True, pending=False).order_by("id")
        )
        # Report rows are stored whole; re-reading the payload keeps one parser for every path.
        _sends_apply_reports([(send, delivery_report_parse(orphan.payload)) for orphan in orphans])
        DeliveryReport.objects.filter(pk__in=[orphan.pk for orphan in orphans]).update(send=send)
        return len(orphans)
