"""Carrier lookups of contacts' numbers: one contact now, or a list's or a segment's in a background run.

A lookup costs money (NUMBER_LOOKUP_PRICE each), so one younger than NUMBER_LOOKUP_MAX_AGE_DAYS is never
repeated: `contacts_lookup_due` decides, here and in the estimate shown before a bulk run starts.
Bulk runs take any contact queryset: a scope ("list", and whatever an app registers with
`lookup_scope_register`, e.g. segments) names how to get it from an id, so a run stores ids only.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from audit.services import audit_record
from contacts.models import Contact, ContactList, Segment
from contacts.selectors import contacts_lookup_due, segment_contacts
from contacts.services.lookups import contact_lookup_record
from sends.backends import get_connection
from sends.backends.base import BackendError, BaseSmsBackend, ErrorClass, LineType
from sends.models import LookupRun
from sends.tasks import lookup_run_execute_task
from smscampaigns.errors import ApplicationError

log = structlog.get_logger(__name__)

# A transient failure (429, 5xx, timeout) of one lookup is retried this many times, this far apart.
TRANSIENT_RETRIES = 3
TRANSIENT_BACKOFF_SECONDS = 0.5
# How often a run writes its progress (contacts, seconds): often enough for the page, rarely enough to be cheap.
PROGRESS_EVERY = 25
PROGRESS_SECONDS = 1.0
BATCH = 500


@dataclass(frozen=True)
class LookupScope:
    contacts: Callable[[int], QuerySet[Contact]]
    label: Callable[[int], str | None]  # None: no such thing


LOOKUP_SCOPES: dict[str, LookupScope] = {}


def lookup_scope_register(*, name: str, contacts: Callable[[int], QuerySet[Contact]], label) -> None:
    """Let staff look up the contacts of `name` objects (a segment, say): `contacts(id)` gives them,
    `label(id)` names one for the run's page (None when there is no such object)."""
    LOOKUP_SCOPES[name] = LookupScope(contacts=contacts, label=label)


def _list_label(pk: int) -> str | None:
    name = ContactList.objects.filter(pk=pk).values_list("name", flat=True).first()
    return None if name is None else f"list {name}"


lookup_scope_register(name="list", contacts=lambda pk: Contact.objects.filter(lists__id=pk), label=_list_label)


def _segment_contacts(pk: int) -> QuerySet[Contact]:
    rules = Segment.objects.filter(pk=pk).values_list("rules", flat=True).first()
    return Contact.objects.none() if rules is None else segment_contacts(rules=rules)


def _segment_label(pk: int) -> str | None:
    name = Segment.objects.filter(pk=pk).values_list("name", flat=True).first()
    return None if name is None else f"segment {name}"


# A segment's contacts are whoever its rules match when the run starts (and again when the task reads them).
lookup_scope_register(name="segment", contacts=_segment_contacts, label=_segment_label)


@dataclass(frozen=True)
class LookupEstimate:
    due: int  # contacts that would be looked up
    fresh: int  # contacts whose lookup is recent enough to be reused
    cost: Decimal


def lookup_estimate(*, contacts: QuerySet[Contact]) -> LookupEstimate:
    """What looking up `contacts` would do now: how many need a lookup and what they would cost."""
    total = contacts.order_by().distinct().count()
    due = contacts_lookup_due(contacts, now=timezone.now()).order_by().distinct().count()
    return LookupEstimate(due=due, fresh=total - due, cost=due * settings.NUMBER_LOOKUP_PRICE)


def _lookup_one(backend: BaseSmsBackend, *, contact_id: int, number: str) -> None:
    """Look one number up and store the answer; BackendError when it could not be had."""
    for attempt in range(TRANSIENT_RETRIES + 1):
        try:
            result = backend.lookup(number)
            break
        except BackendError as exc:
            if exc.error.error_class is ErrorClass.PERMANENT and exc.error.code == "invalid_number":
                # Plivo knows no such number: stored as unknown, so it is not paid for again before its age.
                contact_lookup_record(
                    contact_id=contact_id, line_type=LineType.UNKNOWN, carrier="", ported=None, country=""
                )
                return
            if exc.error.error_class is not ErrorClass.TRANSIENT or attempt == TRANSIENT_RETRIES:
                raise
            time.sleep(exc.error.retry_after or TRANSIENT_BACKOFF_SECONDS * (attempt + 1))
    contact_lookup_record(
        contact_id=contact_id,
        line_type=result.line_type.value,
        carrier=result.carrier,
        ported=result.ported,
        country=result.country,
    )


def contact_lookup(*, contact: Contact, force: bool = False) -> bool:
    """Look up one contact's number unless its last lookup is recent enough (or `force`); True when a
    lookup was made. ApplicationError when the provider could not answer."""
    if not force and not contacts_lookup_due(Contact.objects.filter(pk=contact.pk), now=timezone.now()).exists():
        return False
    try:
        with get_connection() as backend:
            _lookup_one(backend, contact_id=contact.pk, number=str(contact.phone_number))
    except BackendError as exc:
        raise ApplicationError(f"The lookup of {contact.phone_number} failed: {exc.error.message}") from None
    contact.refresh_from_db()
    return True


@dataclass
class LookupTotals:
    looked_up: int = 0
    failed: int = 0

    @property
    def cost(self) -> Decimal:
        return self.looked_up * settings.NUMBER_LOOKUP_PRICE


def contacts_lookup(
    *, contacts: QuerySet[Contact], on_progress: Callable[[LookupTotals], None] | None = None
) -> LookupTotals:
    """Look up every one of `contacts` whose lookup is due, in id order. A number the provider could not
    answer for is counted failed and the rest go on; an account error (credentials, credit) stops the
    run with ApplicationError, since every further lookup would fail the same way."""
    totals = LookupTotals()
    due = contacts_lookup_due(contacts, now=timezone.now()).order_by("id").values_list("id", "phone_number")
    last_id, last_report, since_report = 0, time.monotonic(), 0
    with get_connection() as backend:
        while batch := list(due.filter(id__gt=last_id).distinct()[:BATCH]):
            for contact_id, number in batch:
                last_id = contact_id
                try:
                    _lookup_one(backend, contact_id=contact_id, number=str(number))
                    totals.looked_up += 1
                except BackendError as exc:
                    if exc.error.error_class is ErrorClass.ACCOUNT:
                        raise ApplicationError(f"Lookups stopped: {exc.error.message}") from None
                    totals.failed += 1
                    log.warning("number_lookup_failed", contact_id=contact_id, code=exc.error.code)
                since_report += 1
                if on_progress and (
                    since_report >= PROGRESS_EVERY or time.monotonic() - last_report >= PROGRESS_SECONDS
                ):
                    on_progress(totals)
                    last_report, since_report = time.monotonic(), 0
    if on_progress:
        on_progress(totals)
    return totals


def lookup_run_start(*, scope: str, scope_id: int, actor) -> LookupRun:
    """Start a background lookup of a scope's contacts (a list, a segment), with the estimate it had."""
    if scope not in LOOKUP_SCOPES:
        raise ApplicationError(f"Cannot look up a {scope!r}: known are {', '.join(sorted(LOOKUP_SCOPES))}")
    label = LOOKUP_SCOPES[scope].label(scope_id)
    if label is None:
        raise ApplicationError(f"There is no {scope} #{scope_id} to look up")
    estimate = lookup_estimate(contacts=LOOKUP_SCOPES[scope].contacts(scope_id))
    with transaction.atomic():
        run = LookupRun.objects.create(
            scope=scope,
            scope_id=scope_id,
            scope_label=label[:255],
            total=estimate.due,
            estimated_cost=estimate.cost,
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        audit_record(
            actor=actor,
            action="lookup_run_start",
            target=run,
            data={"scope": scope, "scope_id": scope_id, "due": estimate.due, "estimated_cost": str(estimate.cost)},
        )
        transaction.on_commit(lambda: lookup_run_execute_task.delay(run.pk))
    return run


def lookup_run_execute(*, run_id: int) -> None:
    """Run a started lookup to its end, writing its progress; safe to run twice (a finished run is left)."""
    updated = LookupRun.objects.filter(pk=run_id, status__in=[LookupRun.Status.PENDING, LookupRun.Status.RUNNING])
    if not updated.update(status=LookupRun.Status.RUNNING):
        return
    run = LookupRun.objects.get(pk=run_id)
    scope = LOOKUP_SCOPES.get(run.scope)

    def progress(totals: LookupTotals) -> None:
        LookupRun.objects.filter(pk=run_id).update(looked_up=totals.looked_up, failed=totals.failed, cost=totals.cost)

    try:
        if scope is None:
            raise ApplicationError(f"Lookups of a {run.scope!r} are no longer known")
        contacts_lookup(contacts=scope.contacts(run.scope_id), on_progress=progress)
    except ApplicationError as exc:
        LookupRun.objects.filter(pk=run_id).update(
            status=LookupRun.Status.FAILED, error=exc.message, finished_at=timezone.now()
        )
        return
    LookupRun.objects.filter(pk=run_id).update(status=LookupRun.Status.DONE, finished_at=timezone.now())
