"""Recording what the backend answered for a claimed wave: each send moves out of `sending` in one
transaction with the campaign's counters. Each outcome gets its verdict (`outcome_verdict`); the sends are
then written in one update per verdict, each returning what it changed in the counters."""

import enum
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

import structlog
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone

from contacts.bulksql import sql_row_sources
from sends.backends.base import ErrorClass, SendError, SendResult
from sends.domain_events import sends_failed_emit
from sends.models import CampaignSend
from sends.services.counters import campaign_counters_add, transition_deltas
from sends.services.delivery_reports import delivery_reports_attach_many
from sends.services.dispatch.recipients import Recipient, Request

log = structlog.get_logger(__name__)
S = CampaignSend.Status

# Transient errors after which the provider may nonetheless have taken the message (the request went out,
# the answer never came back): retrying blindly could text the person twice, and giving up could leave them
# with nothing, so such sends stay `sending` for reconciliation to look up at the provider.
AMBIGUOUS_ERROR_CODES = frozenset({"timeout"})
# How long a worker keeps trying to record what the provider answered while the database is unreachable.
RECORD_RETRY_SECONDS = 30.0


class Outcome(NamedTuple):
    """What the backend answered for one recipient of one request."""

    recipient: Recipient
    result: SendResult
    request: Request


class Fate(enum.Enum):
    SENT = "sent"
    FAILED = "failed"
    RETRY = "retry"  # back to the queue, due after a backoff
    REQUEUE = "requeue"  # back to the queue at once, the attempt given back: not the recipient's fault
    LOOKUP = "lookup"  # the provider may have it: left `sending`, for reconciliation to look it up


@dataclass(frozen=True)
class Verdict:
    """What recording does with one send; sends with equal verdicts are written in one update."""

    fate: Fate
    # SENT: (message uuid, body, segments); FAILED: (code, message); RETRY: (code, message, retry after);
    # LOOKUP: (code, message); REQUEUE: ().
    key: tuple = ()


def outcome_verdict(outcome: Outcome) -> Verdict:
    result, error = outcome.result, outcome.result.error
    if result.ok:
        return Verdict(Fate.SENT, (result.message_uuid, outcome.request.body, outcome.request.segments))
    if error is None:
        return Verdict(
            Fate.LOOKUP, ("", "the backend answered neither a message id nor an error; to be looked up at the provider")
        )
    if error.code in AMBIGUOUS_ERROR_CODES:
        return Verdict(Fate.LOOKUP, (error.code, f"{error.message}; to be looked up at the provider"))
    if error.error_class is ErrorClass.ACCOUNT:
        return Verdict(Fate.REQUEUE)
    if error.error_class is ErrorClass.TRANSIENT and outcome.recipient.attempts + 1 < settings.SEND_MAX_ATTEMPTS:
        # One delay per request and error: the jitter spreads requests, not recipients of one request.
        return Verdict(Fate.RETRY, (error.code, error.message, error.retry_after or 0.0))
    return Verdict(Fate.FAILED, (error.code, error.message))


def _merged(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {name: a.get(name, 0) + b.get(name, 0) for name in a.keys() | b.keys()}


@dataclass(frozen=True)
class CounterChanges:
    """What one recording changes in the campaign's counters."""

    deltas: dict[str, int] = field(default_factory=dict)
    failed_by_error_code: dict[str, int] = field(default_factory=dict)
    segments: int = 0

    @classmethod
    def moved(cls, to_status: str, count: int, *, error_code: str | None = None, segments: int = 0):
        """`count` sends moved from `sending` to `to_status`."""
        return cls(
            deltas=transition_deltas(from_status=S.SENDING, to_status=to_status, count=count),
            failed_by_error_code={error_code: count} if error_code is not None else {},
            segments=segments,
        )

    def __add__(self, other: "CounterChanges") -> "CounterChanges":
        return CounterChanges(
            _merged(self.deltas, other.deltas),
            _merged(self.failed_by_error_code, other.failed_by_error_code),
            self.segments + other.segments,
        )


def retry_delay(*, attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter, bounded: base * 2^(attempt-1), drawn from its upper half."""
    ceiling = min(settings.SEND_RETRY_MAX_SECONDS, settings.SEND_RETRY_BASE_SECONDS * 2 ** max(0, attempt - 1))
    delay = random.uniform(ceiling / 2, ceiling)
    return max(delay, min(retry_after or 0.0, settings.SEND_RETRY_MAX_SECONDS))


def record_results_surely(*, campaign_id: int, outcomes: list[Outcome], unsent: list[int]) -> SendError | None:
    """record_results, tried again while the database is away (a restart, a failover): the provider has
    these messages, and unrecorded they would end `unknown`. Safe to repeat: each
    update is conditional on the send still being `sending`."""
    deadline = time.monotonic() + RECORD_RETRY_SECONDS
    while True:
        try:
            return record_results(campaign_id=campaign_id, outcomes=outcomes, unsent=unsent)
        except (OperationalError, InterfaceError) as exc:
            if connection.in_atomic_block or time.monotonic() > deadline:
                raise
            log.warning("dispatch_record_retrying", campaign_id=campaign_id, error=type(exc).__name__)
            connection.close()  # a broken connection is not reopened by itself
            time.sleep(1)


def record_results(*, campaign_id: int, outcomes: list[Outcome], unsent: list[int]) -> SendError | None:
    """Record each destination's outcome in one transaction; returns the account-level error if any.
    `unsent` were claimed but not sent (the campaign halted): they go back to the queue as they were."""
    now = timezone.now()
    groups: dict[Fate, dict[tuple, list[int]]] = defaultdict(lambda: defaultdict(list))
    account_error: SendError | None = None
    for outcome in outcomes:
        verdict = outcome_verdict(outcome)
        groups[verdict.fate][verdict.key].append(outcome.recipient.send_id)
        if verdict.fate is Fate.REQUEUE:
            account_error = account_error or outcome.result.error
    attempts = {o.recipient.send_id: o.recipient.attempts + 1 for o in outcomes}
    handed_over = {send_id: key for key, ids in groups[Fate.SENT].items() for send_id in ids}
    with transaction.atomic():
        changes = _record_sent(handed_over, now=now)
        changes += _record_failed(groups[Fate.FAILED], now=now)
        _record_retries(groups[Fate.RETRY], attempts=attempts, now=now)
        _record_requeued(list(unsent) + groups[Fate.REQUEUE][()], account_error=account_error, now=now)
        _record_lookups(groups[Fate.LOOKUP])
        campaign_counters_add(
            campaign_id=campaign_id,
            deltas=changes.deltas,
            segments=changes.segments,
            failed_by_error_code=changes.failed_by_error_code,
        )
    # A provider can call back before this commit: such reports were stored unmatched, and are applied now.
    delivery_reports_attach_many(message_uuids=[uuid for uuid, _, _ in handed_over.values()])
    return account_error


def _record_sent(handed_over: dict[int, tuple[str, str, int]], *, now: datetime) -> CounterChanges:
    """sending -> sent with each message's id, body and segments."""
    if not handed_over:
        return CounterChanges()
    # Only the sends this call moves count their segments: a retry after a commit whose acknowledgement was
    # lost (record_results_surely) finds them sent already and must not add their segments again.
    if connection.vendor == "postgresql":
        moved_segments = _sent_rows_update_returning(handed_over, now=now)
        return CounterChanges.moved(S.SENT, len(moved_segments), segments=sum(moved_segments))
    moving = list(
        CampaignSend.objects.select_for_update()
        .filter(id__in=list(handed_over), status=S.SENDING)
        .order_by("id")
        .values_list("id", flat=True)
    )
    sent = {send_id: handed_over[send_id] for send_id in moving}
    if not sent:
        return CounterChanges()
    n = _sent_rows_update(sent, now=now)
    return CounterChanges.moved(S.SENT, n, segments=sum(n for _, _, n in sent.values()))


# Each send gets its own message id (and body and segments) in one statement: a join with a VALUES list.
# One `CASE WHEN id = ... THEN ...` per send, as an ORM update would write it, costs the ORM milliseconds per
# send to build and the database as much to evaluate, which a bulk request of a thousand sends cannot afford.
_SENT_UPDATE = """
UPDATE {sends} SET status = %s, sent_at = %s, status_updated_at = %s, error_code = '', error_message = '',
    next_attempt_at = NULL, provider_message_uuid = handed.column2, body = handed.column3, segments = handed.column4
FROM (VALUES {rows}) AS handed
WHERE {sends}.id = handed.column1 AND {sends}.status = %s
"""

# The same on PostgreSQL in one round trip, the rows as one JSON document (thousands of placeholders cost the
# driver more to build than the server takes to run the statement): the sends still `sending` are locked in
# id order first, as on SQLite, and the update returns the segments of those it moved.
_SENT_UPDATE_RETURNING = """
WITH moving AS MATERIALIZED (
    SELECT id FROM {sends} WHERE id = ANY(%s) AND status = %s ORDER BY id FOR UPDATE
)
UPDATE {sends} SET status = %s, sent_at = %s, status_updated_at = %s, error_code = '', error_message = '',
    next_attempt_at = NULL, provider_message_uuid = handed.uuid, body = handed.body, segments = handed.segments
FROM moving, ({rows}) AS handed
WHERE {sends}.id = moving.id AND handed.id = moving.id
RETURNING handed.segments
"""


def _sent_rows_update(sent: dict[int, tuple[str, str, int]], *, now: datetime) -> int:
    """Write each send's message id, body and segments; how many rows moved to `sent`."""
    sql = _SENT_UPDATE.format(sends=CampaignSend._meta.db_table, rows=", ".join(["(%s, %s, %s, %s)"] * len(sent)))
    moment = connection.ops.adapt_datetimefield_value(now)
    params: list = [S.SENT.value, moment, moment]
    for send_id, (message_uuid, body, segments) in sent.items():
        params += [send_id, message_uuid, body, segments]
    params.append(S.SENDING.value)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _sent_rows_update_returning(handed_over: dict[int, tuple[str, str, int]], *, now: datetime) -> list[int]:
    """_sent_rows_update of those still `sending` on PostgreSQL; the segments of each send it moved."""
    [(rows, rows_params)] = sql_row_sources(
        {"id": "bigint", "uuid": "text", "body": "text", "segments": "integer"},
        [(send_id, *handed) for send_id, handed in handed_over.items()],
    )
    sql = _SENT_UPDATE_RETURNING.format(sends=CampaignSend._meta.db_table, rows=rows)
    moment = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.execute(sql, [list(handed_over), S.SENDING.value, S.SENT.value, moment, moment, *rows_params])
        return [row[0] for row in cursor.fetchall()]


def _record_failed(groups: dict[tuple, list[int]], *, now: datetime) -> CounterChanges:
    changes = CounterChanges()
    for (code, message), send_ids in groups.items():
        n = CampaignSend.objects.filter(id__in=send_ids, status=S.SENDING).update(
            status=S.FAILED, error_code=code[:16], error_message=message, status_updated_at=now
        )
        changes += CounterChanges.moved(S.FAILED, n, error_code=code[:16])
        sends_failed_emit(send_ids)
    return changes


def _record_retries(groups: dict[tuple, list[int]], *, attempts: dict[int, int], now: datetime) -> None:
    """Back to the queue, due after a backoff (a queued send counts as it did while sending)."""
    for (code, message, retry_after), send_ids in groups.items():
        attempt = max(attempts[send_id] for send_id in send_ids)
        due = now + timedelta(seconds=retry_delay(attempt=attempt, retry_after=retry_after or None))
        CampaignSend.objects.filter(id__in=send_ids, status=S.SENDING).update(
            status=S.QUEUED, next_attempt_at=due, error_code=code[:16], error_message=message, status_updated_at=now
        )


def _record_requeued(send_ids: list[int], *, account_error: SendError | None, now: datetime) -> None:
    """Not the recipient's fault: the attempt is given back, and resume sends at once."""
    if not send_ids:
        return
    CampaignSend.objects.filter(id__in=send_ids, status=S.SENDING).update(
        status=S.QUEUED,
        attempts=F("attempts") - 1,
        next_attempt_at=None,
        error_code=account_error.code[:16] if account_error else "",
        error_message=account_error.message if account_error else "",
        status_updated_at=now,
    )


def _record_lookups(groups: dict[tuple, list[int]]) -> None:
    """Still `sending`, with why: reconciliation (sends_reconcile_stuck) settles them from the provider's own
    record once SEND_STUCK_AFTER_SECONDS have passed since the claim, which the untouched status_updated_at
    keeps, so that the provider's search window starts before the request went out."""
    for (code, message), send_ids in groups.items():
        stuck = CampaignSend.objects.filter(id__in=send_ids, status=S.SENDING)
        stuck.update(error_code=code[:16], error_message=message)
